// A crossfade of two items filling the same rectangle, in one pass: each fragment samples both
// textures and lays the incoming item, at its opacity, over the outgoing one. The two-quad path
// (outgoing quad, then incoming quad blended over it) fills the rectangle twice; this fills it
// once. Output is premultiplied alpha in linear light, blended over what is below (the zone
// background) exactly as the two quads would be, since "over" is associative.

struct Crossfade {
    // Corner positions in normalised device coordinates, as in `quad.wgsl`.
    positions: array<vec4<f32>, 2>,
    // The texture rectangles (x, y, width, height) of the outgoing (lower) and incoming (upper)
    // item.
    lower_uv: vec4<f32>,
    upper_uv: vec4<f32>,
    // x: the incoming item's opacity; y and z: 1 when the lower or upper texture holds
    // premultiplied alpha (rendered text, cards), 0 for straight alpha.
    mix: vec4<f32>,
    padding: vec4<f32>,
}

@group(0) @binding(0) var<uniform> fade: Crossfade;
@group(1) @binding(0) var lower: texture_2d<f32>;
@group(1) @binding(1) var lower_sampler: sampler;
@group(2) @binding(0) var upper: texture_2d<f32>;
@group(2) @binding(1) var upper_sampler: sampler;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) lower_uv: vec2<f32>,
    @location(1) upper_uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOutput {
    let both = fade.positions[index >> 1u];
    var position = both.xy;
    if (index & 1u) == 1u {
        position = both.zw;
    }
    // Corners 0..3 are top-left, top-right, bottom-left, bottom-right.
    let along = vec2<f32>(f32(index & 1u), f32(index >> 1u));
    var out: VertexOutput;
    out.position = vec4<f32>(position, 0.0, 1.0);
    out.lower_uv = fade.lower_uv.xy + fade.lower_uv.zw * along;
    out.upper_uv = fade.upper_uv.xy + fade.upper_uv.zw * along;
    return out;
}

fn premultiplied(texel: vec4<f32>, already: f32) -> vec4<f32> {
    if already < 0.5 {
        return vec4<f32>(texel.rgb * texel.a, texel.a);
    }
    return texel;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    let below = premultiplied(textureSample(lower, lower_sampler, in.lower_uv), fade.mix.y);
    let above = premultiplied(textureSample(upper, upper_sampler, in.upper_uv), fade.mix.z)
        * fade.mix.x;
    return above + below * (1.0 - above.a);
}
