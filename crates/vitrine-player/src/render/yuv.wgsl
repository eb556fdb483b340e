// Video layers: the compositor's textured quad (see quad.wgsl, whose vertex stage this repeats),
// sampling a frame's Y, U and V planes and converting them to RGB on the fly, so a video frame
// costs one upload and no extra pass. Colour comes as one interleaved UV plane (NV12's own, or
// I420's two planes interleaved on upload), so a pixel costs two samples. The colour matrix and
// range come from the stream's colorimetry as a 3x4 matrix, so one shader serves BT.601, BT.709
// and BT.2020, limited or full range.

struct Quad {
    positions: array<vec4<f32>, 2>,
    uvs: array<vec4<f32>, 2>,
    tint: vec4<f32>,
    flags: vec4<f32>,
}

struct Conversion {
    // Rows of the matrix that maps (Y, U, V, 1), sampled in 0..1, to gamma-encoded R', G', B'.
    red: vec4<f32>,
    green: vec4<f32>,
    blue: vec4<f32>,
}

@group(0) @binding(0) var<uniform> quad: Quad;
@group(1) @binding(0) var<uniform> conversion: Conversion;
@group(1) @binding(1) var plane_y: texture_2d<f32>;
@group(1) @binding(2) var plane_uv: texture_2d<f32>;
@group(1) @binding(3) var planes_sampler: sampler;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

fn corner(pair: array<vec4<f32>, 2>, index: u32) -> vec2<f32> {
    let both = pair[index >> 1u];
    if (index & 1u) == 0u {
        return both.xy;
    }
    return both.zw;
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOutput {
    var out: VertexOutput;
    out.position = vec4<f32>(corner(quad.positions, index), 0.0, 1.0);
    out.uv = corner(quad.uvs, index);
    return out;
}

// sRGB to linear light as a cubic (exact at 0 and 1, within 0.3 % between): every pixel of a
// video passes through it, and on software rasterisers `pow` costs several times as much.
fn srgb_to_linear(encoded: vec3<f32>) -> vec3<f32> {
    return encoded * (encoded * (encoded * 0.305306011 + 0.682171111) + 0.012522878);
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    let y = textureSample(plane_y, planes_sampler, in.uv).r;
    let uv = textureSample(plane_uv, planes_sampler, in.uv).rg;
    let yuv = vec4<f32>(y, uv, 1.0);
    let encoded = clamp(
        vec3<f32>(dot(conversion.red, yuv), dot(conversion.green, yuv), dot(conversion.blue, yuv)),
        vec3<f32>(0.0),
        vec3<f32>(1.0),
    );
    // The target is sRGB and blending happens in linear light: hand the GPU linear values.
    return vec4<f32>(srgb_to_linear(encoded), 1.0) * quad.tint;
}
