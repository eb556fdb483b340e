// One textured quad. The rectangle is in normalised device coordinates (x0, y0) top-left to
// (x1, y1) bottom-right; the four corners come from the vertex index, so no vertex buffer is needed.

struct Quad {
    rect: vec4<f32>,
    // x: opacity; the rest is padding for uniform alignment.
    opacity: vec4<f32>,
}

@group(0) @binding(0) var<uniform> quad: Quad;
@group(0) @binding(1) var image: texture_2d<f32>;
@group(0) @binding(2) var image_sampler: sampler;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOutput {
    let corner = vec2<f32>(f32(index & 1u), f32(index >> 1u));
    var out: VertexOutput;
    out.position = vec4<f32>(
        mix(quad.rect.x, quad.rect.z, corner.x),
        mix(quad.rect.y, quad.rect.w, corner.y),
        0.0,
        1.0,
    );
    out.uv = corner;
    return out;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    let colour = textureSample(image, image_sampler, in.uv);
    return vec4<f32>(colour.rgb, colour.a * quad.opacity.x);
}
