//! The textured-quad pipeline the compositor and the offer cards draw with: one pipeline per
//! target format, per-quad uniforms at dynamic offsets in one buffer, and a bind group per texture.

use std::collections::HashMap;

use super::geometry::{Rect, Rotation, logical_to_ndc};

/// One quad's uniform block; the layout matches `Quad` in `quad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct QuadUniform {
    positions: [[f32; 4]; 2],
    uvs: [[f32; 4]; 2],
    tint: [f32; 4],
    flags: [f32; 4],
}

impl QuadUniform {
    /// `placed` (logical pixels) showing the `uv` part of its texture, on a screen of `logical`
    /// size turned by `rotation`, multiplied by `tint` (linear, premultiplied).
    pub(crate) fn new(
        placed: Rect,
        uv: Rect,
        logical: (u32, u32),
        rotation: Rotation,
        tint: [f32; 4],
        premultiplied: bool,
    ) -> Self {
        let ndc = |x: f32, y: f32| logical_to_ndc([x, y], logical, rotation);
        let [x0, y0] = ndc(placed.x, placed.y);
        let [x1, y1] = ndc(placed.right(), placed.y);
        let [x2, y2] = ndc(placed.x, placed.bottom());
        let [x3, y3] = ndc(placed.right(), placed.bottom());
        Self {
            positions: [[x0, y0, x1, y1], [x2, y2, x3, y3]],
            uvs: [
                [uv.x, uv.y, uv.right(), uv.y],
                [uv.x, uv.bottom(), uv.right(), uv.bottom()],
            ],
            tint,
            flags: [if premultiplied { 1.0 } else { 0.0 }, 0.0, 0.0, 0.0],
        }
    }
    /// The corners in normalised device coordinates, as `quad.wgsl` reads them.
    pub(crate) fn positions(&self) -> [[f32; 4]; 2] {
        self.positions
    }
}

/// How a texture is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sampling {
    /// Photos and text: bilinear, edges clamped.
    Smooth,
    /// Tickers: bilinear, repeating sideways so the strip loops.
    Repeat,
    /// QR codes: nearest, so modules stay sharp squares.
    Nearest,
}

pub(crate) struct QuadPipeline {
    shader: wgpu::ShaderModule,
    pub(crate) uniform_layout: wgpu::BindGroupLayout,
    pub(crate) texture_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pub(crate) pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    smooth: wgpu::Sampler,
    repeat: wgpu::Sampler,
    nearest: wgpu::Sampler,
    /// Uniform slots are this many bytes apart (the device's dynamic-offset alignment).
    pub(crate) stride: u64,
    /// A 1x1 white texture: solid fills are white texels times a tint.
    pub(crate) white: wgpu::BindGroup,
    _white_texture: wgpu::Texture,
}

impl QuadPipeline {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("quad"),
            source: wgpu::ShaderSource::Wgsl(include_str!("quad.wgsl").into()),
        });
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("quad uniform"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(
                        std::mem::size_of::<QuadUniform>() as u64
                    ),
                },
                count: None,
            }],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("quad texture"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("quad"),
            bind_group_layouts: &[Some(&uniform_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let sampler = |label, address_mode_u, filter| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some(label),
                address_mode_u,
                address_mode_v: wgpu::AddressMode::ClampToEdge,
                mag_filter: filter,
                min_filter: filter,
                ..Default::default()
            })
        };
        let smooth = sampler(
            "smooth",
            wgpu::AddressMode::ClampToEdge,
            wgpu::FilterMode::Linear,
        );
        let repeat = sampler(
            "repeat",
            wgpu::AddressMode::Repeat,
            wgpu::FilterMode::Linear,
        );
        let nearest = sampler(
            "nearest",
            wgpu::AddressMode::ClampToEdge,
            wgpu::FilterMode::Nearest,
        );
        let stride = u64::from(device.limits().min_uniform_buffer_offset_alignment)
            .max(std::mem::size_of::<QuadUniform>() as u64);
        let white_texture = create_texture(device, queue, 1, 1, &[255, 255, 255, 255], "white");
        let white_view = white_texture.create_view(&wgpu::TextureViewDescriptor::default());
        let white = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("white"),
            layout: &texture_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&white_view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&nearest),
                },
            ],
        });
        Self {
            shader,
            uniform_layout,
            texture_layout,
            pipeline_layout,
            pipelines: HashMap::new(),
            smooth,
            repeat,
            nearest,
            stride,
            white,
            _white_texture: white_texture,
        }
    }

    /// The pipeline drawing into targets of `format`, made on first use.
    pub(crate) fn pipeline(
        &mut self,
        device: &wgpu::Device,
        format: wgpu::TextureFormat,
    ) -> &wgpu::RenderPipeline {
        self.pipelines.entry(format).or_insert_with(|| {
            textured_quad_pipeline(device, "quad", &self.pipeline_layout, &self.shader, format)
        })
    }

    pub(crate) fn texture_bind_group(
        &self,
        device: &wgpu::Device,
        texture: &wgpu::Texture,
        sampling: Sampling,
    ) -> wgpu::BindGroup {
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let sampler = match sampling {
            Sampling::Smooth => &self.smooth,
            Sampling::Repeat => &self.repeat,
            Sampling::Nearest => &self.nearest,
        };
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("quad texture"),
            layout: &self.texture_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(sampler),
                },
            ],
        })
    }

    /// A uniform buffer with room for `slots` quads, and its bind group.
    pub(crate) fn uniform_buffer(
        &self,
        device: &wgpu::Device,
        slots: usize,
    ) -> (wgpu::Buffer, wgpu::BindGroup) {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("quads"),
            size: self.stride * slots.max(1) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("quads"),
            layout: &self.uniform_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<QuadUniform>() as u64),
                }),
            }],
        });
        (buffer, bind_group)
    }

    /// The uniforms laid out at the device's stride, ready for one `write_buffer`.
    pub(crate) fn pack(&self, uniforms: impl Iterator<Item = QuadUniform>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for uniform in uniforms {
            let start = bytes.len();
            bytes.extend_from_slice(bytemuck::bytes_of(&uniform));
            bytes.resize(start + self.stride as usize, 0);
        }
        bytes
    }
}

/// Records the draws: quad `index` uses uniform slot `index` and its bind group.
pub(crate) fn draw_quads(
    pass: &mut wgpu::RenderPass<'_>,
    pipeline: &wgpu::RenderPipeline,
    uniforms: &wgpu::BindGroup,
    stride: u64,
    textures: &[&wgpu::BindGroup],
) {
    pass.set_pipeline(pipeline);
    for (index, texture) in textures.iter().enumerate() {
        pass.set_bind_group(0, uniforms, &[(index as u64 * stride) as u32]);
        pass.set_bind_group(1, *texture, &[]);
        pass.draw(0..4, 0..1);
    }
}

/// An RGBA8 sRGB texture holding `rgba`, tightly packed.
pub(crate) fn create_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    width: u32,
    height: u32,
    rgba: &[u8],
    label: &str,
) -> wgpu::Texture {
    use wgpu::util::DeviceExt;
    device.create_texture_with_data(
        queue,
        &wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8UnormSrgb,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        },
        wgpu::util::TextureDataOrder::LayerMajor,
        rgba,
    )
}

/// An empty RGBA8 sRGB texture that can be drawn into (text, offer cards) and then sampled.
pub(crate) fn create_render_texture(
    device: &wgpu::Device,
    width: u32,
    height: u32,
    label: &str,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8UnormSrgb,
        usage: wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::RENDER_ATTACHMENT
            | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    })
}

/// A pipeline drawing a textured quad as a four-vertex triangle strip with no vertex buffer
/// (`vs_main` makes the corners from a uniform), blending premultiplied colour over the target:
/// what the compositor's image quads and its video quads have in common.
pub(crate) fn textured_quad_pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    shader: &wgpu::ShaderModule,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleStrip,
            ..Default::default()
        },
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}
