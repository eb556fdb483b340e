//! The single-pass crossfade: when a zone's two layers are an opaque outgoing item and a
//! fading-in incoming item drawn on the same rectangle (a crossfade of two full-zone pictures, the
//! common case), the compositor draws one quad that samples both textures (`crossfade.wgsl`)
//! instead of two quads blended one over the other, which halves the fill cost of a crossfade
//! frame. Slides, partial covers, videos and tickers keep the two-quad path.

use std::collections::HashMap;

use super::geometry::{Rect, Rotation};
use super::quad::{QuadUniform, textured_quad_pipeline};

/// One crossfade quad's uniform block; the layout matches `Crossfade` in `crossfade.wgsl`. It is
/// exactly as large as a [`QuadUniform`], so it takes one slot of the compositor's uniform buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct CrossfadeUniform {
    positions: [[f32; 4]; 2],
    lower_uv: [f32; 4],
    upper_uv: [f32; 4],
    mix: [f32; 4],
    padding: [f32; 4],
}

const _: () = assert!(
    std::mem::size_of::<CrossfadeUniform>() == std::mem::size_of::<QuadUniform>(),
    "a crossfade takes one quad's uniform slot"
);

/// One side of a crossfade: the part of its texture shown, and whether it is premultiplied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrossfadeSide {
    pub uv: Rect,
    pub premultiplied: bool,
}

impl CrossfadeUniform {
    /// `lower` under `upper` (at `opacity`), both filling `placed` (logical pixels) on a screen of
    /// `logical` size turned by `rotation`.
    pub(crate) fn new(
        placed: Rect,
        logical: (u32, u32),
        rotation: Rotation,
        lower: CrossfadeSide,
        upper: CrossfadeSide,
        opacity: f32,
    ) -> Self {
        let corners = QuadUniform::new(placed, lower.uv, logical, rotation, [1.0; 4], false);
        let rect = |uv: Rect| [uv.x, uv.y, uv.width, uv.height];
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        Self {
            positions: corners.positions(),
            lower_uv: rect(lower.uv),
            upper_uv: rect(upper.uv),
            mix: [
                opacity.clamp(0.0, 1.0),
                flag(lower.premultiplied),
                flag(upper.premultiplied),
                0.0,
            ],
            padding: [0.0; 4],
        }
    }

    /// The same bytes as a quad slot, for the compositor's uniform buffer.
    pub(crate) fn into_slot(self) -> QuadUniform {
        bytemuck::cast(self)
    }
}

/// The crossfade pipeline, one per target format: the quad's uniform layout, then the lower and
/// the upper texture, each with the quad texture layout.
pub(crate) struct CrossfadePipeline {
    shader: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    pub(crate) pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
}

impl CrossfadePipeline {
    pub(crate) fn new(
        device: &wgpu::Device,
        uniform_layout: &wgpu::BindGroupLayout,
        texture_layout: &wgpu::BindGroupLayout,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("crossfade"),
            source: wgpu::ShaderSource::Wgsl(include_str!("crossfade.wgsl").into()),
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("crossfade"),
            bind_group_layouts: &[
                Some(uniform_layout),
                Some(texture_layout),
                Some(texture_layout),
            ],
            immediate_size: 0,
        });
        Self {
            shader,
            layout,
            pipelines: HashMap::new(),
        }
    }

    /// Makes the pipeline for targets of `format` on first use.
    pub(crate) fn pipeline(&mut self, device: &wgpu::Device, format: wgpu::TextureFormat) {
        self.pipelines.entry(format).or_insert_with(|| {
            textured_quad_pipeline(device, "crossfade", &self.layout, &self.shader, format)
        });
    }
}
