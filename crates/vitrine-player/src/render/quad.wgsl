// Textured quads, the compositor's only primitive. Each quad's four corners come from a uniform
// (already rotated for the screen on the CPU), indexed by the vertex index, so no vertex buffer is
// needed. Output is premultiplied alpha in linear light; the sRGB target encodes it on write.

struct Quad {
    // Corner positions in normalised device coordinates: top-left and top-right in [0].xy/[0].zw,
    // bottom-left and bottom-right in [1].xy/[1].zw (corners of the upright, logical quad).
    positions: array<vec4<f32>, 2>,
    // Texture coordinates of the same corners.
    uvs: array<vec4<f32>, 2>,
    // Linear, premultiplied colour the texel is multiplied by: opacity, solid fills, tints.
    tint: vec4<f32>,
    // x: 1 when the texture holds premultiplied alpha (rendered text, cards), 0 for straight alpha.
    flags: vec4<f32>,
}

@group(0) @binding(0) var<uniform> quad: Quad;
@group(1) @binding(0) var image: texture_2d<f32>;
@group(1) @binding(1) var image_sampler: sampler;

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

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    var texel = textureSample(image, image_sampler, in.uv);
    if quad.flags.x < 0.5 {
        texel = vec4<f32>(texel.rgb * texel.a, texel.a);
    }
    return texel * quad.tint;
}
