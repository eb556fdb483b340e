//! The compositor. It knows nothing of winit: [`Renderer::render`] draws a frame into any
//! `TextureView`, so the same code fills the window's surface and the offscreen texture that headless
//! mode and the tests read back.

use std::collections::HashMap;

use anyhow::Context;
use vitrine_core::Sha256Hex;
use wgpu::util::DeviceExt;

use crate::decode::DecodedImage;

/// Letterbox colour around media that does not fill the screen.
pub const BACKGROUND: wgpu::Color = wgpu::Color::BLACK;

/// The GPU: adapter, device and queue, shared by the renderer and its targets.
pub struct Gpu {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

impl Gpu {
    /// Opens the adapter chosen by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`, or the default one, able to
    /// present to `surface` when one is given.
    pub fn new(
        instance: wgpu::Instance,
        surface: Option<&wgpu::Surface<'_>>,
    ) -> anyhow::Result<Self> {
        let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(
            &instance, surface,
        ))
        .context(
            "no GPU adapter found; install a driver, or Mesa's software ones \
             (`cargo xtask setup` installs mesa-vulkan-drivers and libgl1-mesa-dri)",
        )?;
        let info = adapter.get_info();
        tracing::info!(adapter = %info.name, backend = ?info.backend, "GPU adapter");
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vitrine"),
            required_limits:
                wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .context("the GPU adapter refused to open a device")?;
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
        })
    }

    /// A GPU for offscreen rendering, with no display at all.
    pub fn headless() -> anyhow::Result<Self> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        Self::new(instance, None)
    }

    pub fn adapter_name(&self) -> String {
        self.adapter.get_info().name
    }
}

struct GpuImage {
    _texture: wgpu::Texture,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    width: u32,
    height: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuadUniform {
    rect: [f32; 4],
    opacity: [f32; 4],
}

pub struct Renderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    images: HashMap<Sha256Hex, GpuImage>,
}

impl Renderer {
    /// A renderer drawing into targets of `format`.
    pub fn new(gpu: &Gpu, format: wgpu::TextureFormat) -> Self {
        let device = &gpu.device;
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("quad"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("quad"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("quad"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("quad"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
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
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("media"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            pipeline,
            layout,
            sampler,
            images: HashMap::new(),
        }
    }

    pub fn has(&self, sha256: &Sha256Hex) -> bool {
        self.images.contains_key(sha256)
    }

    /// Uploads decoded pixels as a texture, replacing any earlier one of the same digest.
    pub fn upload(&mut self, gpu: &Gpu, image: &DecodedImage) {
        let size = wgpu::Extent3d {
            width: image.width,
            height: image.height,
            depth_or_array_layers: 1,
        };
        let texture = gpu.device.create_texture_with_data(
            &gpu.queue,
            &wgpu::TextureDescriptor {
                label: Some("media"),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8UnormSrgb,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            &image.rgba,
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("quad"),
            size: std::mem::size_of::<QuadUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("media"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        self.images.insert(
            image.sha256.clone(),
            GpuImage {
                _texture: texture,
                uniform,
                bind_group,
                width: image.width,
                height: image.height,
            },
        );
    }

    /// Drops every texture not in `keep`; returns the digests dropped.
    pub fn retain(&mut self, keep: &std::collections::HashSet<Sha256Hex>) -> Vec<Sha256Hex> {
        let dropped: Vec<Sha256Hex> = self
            .images
            .keys()
            .filter(|sha256| !keep.contains(*sha256))
            .cloned()
            .collect();
        for sha256 in &dropped {
            self.images.remove(sha256);
        }
        dropped
    }

    /// Draws one frame: `content` fitted inside the target (contain), letterboxed in [`BACKGROUND`].
    pub fn render(
        &self,
        gpu: &Gpu,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        content: &Sha256Hex,
    ) {
        let image = self.images.get(content);
        if let Some(image) = image {
            let uniform = QuadUniform {
                rect: contain_rect((image.width, image.height), target_size),
                opacity: [1.0, 0.0, 0.0, 0.0],
            };
            gpu.queue
                .write_buffer(&image.uniform, 0, bytemuck::bytes_of(&uniform));
        }
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("frame"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: target,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(BACKGROUND),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if let Some(image) = image {
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &image.bind_group, &[]);
                pass.draw(0..4, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
    }
}

/// The largest rectangle with the image's shape that fits the target, centred, in device coordinates
/// (x0, y0 top-left; x1, y1 bottom-right).
fn contain_rect(image: (u32, u32), target: (u32, u32)) -> [f32; 4] {
    let image_aspect = image.0 as f32 / image.1.max(1) as f32;
    let target_aspect = target.0 as f32 / target.1.max(1) as f32;
    let (half_width, half_height) = if image_aspect > target_aspect {
        (1.0, target_aspect / image_aspect)
    } else {
        (image_aspect / target_aspect, 1.0)
    };
    [-half_width, half_height, half_width, -half_height]
}

/// An offscreen target whose frames can be read back: headless mode and the tests.
pub struct Offscreen {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    readback: wgpu::Buffer,
    width: u32,
    height: u32,
    padded_bytes_per_row: u32,
}

/// The format of offscreen frames: sRGB, like a monitor, so PNGs match what a screen shows.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

impl Offscreen {
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> Self {
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: OFFSCREEN_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        // Copies to a buffer need rows padded to 256 bytes.
        let padded_bytes_per_row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
            * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(padded_bytes_per_row) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        Self {
            texture,
            view,
            readback,
            width,
            height,
            padded_bytes_per_row,
        }
    }

    pub fn view(&self) -> &wgpu::TextureView {
        &self.view
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Reads the last rendered frame back to the CPU.
    pub fn read_pixels(&self, gpu: &Gpu) -> anyhow::Result<image::RgbaImage> {
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_bytes_per_row),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
        gpu.queue.submit([encoder.finish()]);
        let slice = self.readback.slice(..);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("the GPU did not finish the frame")?;
        receiver
            .recv()
            .context("the readback was cancelled")?
            .context("cannot map the readback buffer")?;
        let mut pixels = Vec::with_capacity((self.width * self.height * 4) as usize);
        {
            let mapped = slice
                .get_mapped_range()
                .context("cannot read the mapped frame")?;
            for row in mapped.chunks(self.padded_bytes_per_row as usize) {
                pixels.extend_from_slice(&row[..(self.width * 4) as usize]);
            }
        }
        self.readback.unmap();
        image::RgbaImage::from_raw(self.width, self.height, pixels)
            .context("readback size does not match the frame")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_fits_the_long_side_and_centres_the_other() {
        assert_eq!(
            contain_rect((1920, 1080), (1920, 1080)),
            [-1.0, 1.0, 1.0, -1.0]
        );
        assert_eq!(contain_rect((100, 100), (200, 100)), [-0.5, 1.0, 0.5, -1.0]);
        assert_eq!(contain_rect((200, 100), (100, 100)), [-1.0, 0.5, 1.0, -0.5]);
    }
}
