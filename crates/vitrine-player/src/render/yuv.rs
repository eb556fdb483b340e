//! Video frames on the GPU: a frame's Y plane goes up as an `R8Unorm` texture, its colour as one
//! `Rg8Unorm` plane (NV12) or two `R8Unorm` planes (I420), updated in place with every frame. The
//! compositor draws a video layer with its own quad pipeline (`yuv.wgsl`), which samples the planes
//! and converts to RGB as it draws: the same quad, placement, fit, rotation and opacity as any
//! picture, so transitions apply to video unchanged, and no extra pass per frame.
//!
//! The conversion follows the stream's colorimetry: the matrix (BT.601, BT.709 or BT.2020) and the
//! range (limited 16..235 or full 0..255). A BT.709 clip converted with BT.601 numbers turns its
//! reds orange, which is why the matrix is never guessed when the stream says.

use super::Gpu;

/// The YUV to RGB matrix a stream was encoded with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum YuvMatrix {
    /// Standard definition (and most webcams, JPEG-derived streams).
    Bt601,
    /// HD: what nearly every 720p and 1080p clip uses.
    Bt709,
    /// UHD and HDR masters.
    Bt2020,
}

impl YuvMatrix {
    /// The luma weights of red and blue (Kr, Kb) that define the matrix.
    fn weights(self) -> (f32, f32) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
        }
    }
}

/// How a stream's YUV values map to colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct YuvColour {
    pub matrix: YuvMatrix,
    /// Full range (0..255) rather than the broadcast limited range (Y 16..235, UV 16..240).
    pub full_range: bool,
}

impl YuvColour {
    /// The 3x4 matrix (rows R', G', B') that maps (Y, U, V, 1), each sampled in 0..1, to
    /// gamma-encoded RGB in 0..1.
    pub fn conversion(self) -> [[f32; 4]; 3] {
        let (kr, kb) = self.matrix.weights();
        let kg = 1.0 - kr - kb;
        // Y' = luma_scale * Y + luma_offset; Cb, Cr = chroma_scale * (U or V) + chroma_offset.
        let (luma_scale, luma_offset, chroma_scale) = if self.full_range {
            (1.0, 0.0, 1.0)
        } else {
            (255.0 / 219.0, -16.0 / 219.0, 255.0 / 224.0)
        };
        let chroma_offset = -128.0 / 255.0 * chroma_scale;
        let red_from_cr = 2.0 * (1.0 - kr);
        let blue_from_cb = 2.0 * (1.0 - kb);
        let green_from_cb = -2.0 * kb * (1.0 - kb) / kg;
        let green_from_cr = -2.0 * kr * (1.0 - kr) / kg;
        let row = |from_cb: f32, from_cr: f32| {
            [
                luma_scale,
                from_cb * chroma_scale,
                from_cr * chroma_scale,
                luma_offset + (from_cb + from_cr) * chroma_offset,
            ]
        };
        [
            row(0.0, red_from_cr),
            row(green_from_cb, green_from_cr),
            row(blue_from_cb, 0.0),
        ]
    }
}

/// One plane of a decoded frame, borrowed from the decoder's buffer. Rows may be padded:
/// `stride` is the distance between rows in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: u32,
}

/// How a frame carries its colour (U and V), each at half the width and height, rounded up.
#[derive(Clone, Copy, Debug)]
pub enum Chroma<'a> {
    /// NV12: U and V interleaved in one plane.
    Interleaved(Plane<'a>),
    /// I420: U and V in planes of their own.
    Planar { u: Plane<'a>, v: Plane<'a> },
}

/// One decoded 4:2:0 frame (NV12 or I420), as the decoder left it.
#[derive(Clone, Copy, Debug)]
pub struct YuvFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub luma: Plane<'a>,
    pub chroma: Chroma<'a>,
    pub colour: YuvColour,
}

impl YuvFrame<'_> {
    fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// Checks that the planes hold what their sizes and strides promise, so a malformed buffer
    /// is refused here instead of failing inside the GPU driver.
    pub fn check(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err("the frame is empty".into());
        }
        let (chroma_width, chroma_height) = self.chroma_size();
        let fits = |plane: &Plane<'_>, row_bytes: u32, rows: u32, what: &str| {
            let needed =
                u64::from(plane.stride) * u64::from(rows.saturating_sub(1)) + u64::from(row_bytes);
            if plane.stride < row_bytes || (plane.data.len() as u64) < needed {
                Err(format!(
                    "the {what} plane (stride {}, {} bytes) is too small for a {}x{} frame",
                    plane.stride,
                    plane.data.len(),
                    self.width,
                    self.height
                ))
            } else {
                Ok(())
            }
        };
        fits(&self.luma, self.width, self.height, "Y")?;
        match &self.chroma {
            Chroma::Interleaved(plane) => fits(plane, chroma_width * 2, chroma_height, "UV"),
            Chroma::Planar { u, v } => {
                fits(u, chroma_width, chroma_height, "U")?;
                fits(v, chroma_width, chroma_height, "V")
            }
        }
    }
}

/// The conversion uniform: the 3x4 matrix.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ConversionUniform {
    rows: [[f32; 4]; 3],
}

/// The video quad pipeline (`yuv.wgsl`): the compositor's quad with the YUV planes as its
/// texture. Made with the first video frame, one pipeline per target format.
pub(crate) struct YuvPipeline {
    shader: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pub(crate) pipelines: std::collections::HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    sampler: wgpu::Sampler,
}

impl YuvPipeline {
    /// `quad_uniforms` is the compositor's per-quad uniform layout (group 0), shared with the
    /// picture quads so one uniform buffer serves both.
    pub(crate) fn new(device: &wgpu::Device, quad_uniforms: &wgpu::BindGroupLayout) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("yuv"),
            source: wgpu::ShaderSource::Wgsl(include_str!("yuv.wgsl").into()),
        });
        let plane = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("yuv planes"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<ConversionUniform>() as u64,
                        ),
                    },
                    count: None,
                },
                plane(1),
                plane(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("yuv"),
            bind_group_layouts: &[Some(quad_uniforms), Some(&layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("yuv planes"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            shader,
            layout,
            pipeline_layout,
            pipelines: std::collections::HashMap::new(),
            sampler,
        }
    }

    /// The pipeline drawing video quads into targets of `format`, made on first use.
    pub(crate) fn pipeline(&mut self, device: &wgpu::Device, format: wgpu::TextureFormat) {
        self.pipelines.entry(format).or_insert_with(|| {
            super::quad::textured_quad_pipeline(
                device,
                "yuv",
                &self.pipeline_layout,
                &self.shader,
                format,
            )
        });
    }
}

/// One video's planes on the GPU, updated in place with every frame; its bind group is the
/// video layer's texture in the compositor. Colour is always one interleaved `Rg8Unorm` plane:
/// I420's separate U and V planes are interleaved on upload, so the shader samples two textures
/// per pixel, not three (on software rasterisers every sample counts).
pub(crate) struct VideoSurface {
    pub(crate) luma: wgpu::Texture,
    chroma: wgpu::Texture,
    conversion: wgpu::Buffer,
    pub(crate) bind_group: wgpu::BindGroup,
    frame_size: (u32, u32),
    colour: Option<YuvColour>,
    /// Where I420's U and V rows are interleaved before upload, kept between frames.
    interleaved: Vec<u8>,
}

impl VideoSurface {
    /// Planes for frames of `frame`'s size.
    pub(crate) fn new(device: &wgpu::Device, pipeline: &YuvPipeline, frame: &YuvFrame<'_>) -> Self {
        let texture = |label, (width, height), format| {
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
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let frame_size = (frame.width, frame.height);
        let luma = texture("video Y", frame_size, wgpu::TextureFormat::R8Unorm);
        let chroma = texture(
            "video UV",
            frame.chroma_size(),
            wgpu::TextureFormat::Rg8Unorm,
        );
        let conversion = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("yuv conversion"),
            size: std::mem::size_of::<ConversionUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let luma_view = luma.create_view(&Default::default());
        let chroma_view = chroma.create_view(&Default::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("yuv planes"),
            layout: &pipeline.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: conversion.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&luma_view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&chroma_view),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&pipeline.sampler),
                },
            ],
        });
        Self {
            luma,
            chroma,
            conversion,
            bind_group,
            frame_size,
            colour: None,
            interleaved: Vec::new(),
        }
    }

    /// Whether `frame` fits these planes (same size).
    pub(crate) fn fits(&self, frame: &YuvFrame<'_>) -> bool {
        self.frame_size == (frame.width, frame.height)
    }

    /// GPU memory held, in bytes: a 4:2:0 frame is 1.5 bytes a pixel.
    pub(crate) fn bytes(&self) -> u64 {
        u64::from(self.frame_size.0) * u64::from(self.frame_size.1) * 3 / 2
    }

    /// Uploads `frame`'s planes; the next composite shows them.
    pub(crate) fn upload(&mut self, gpu: &Gpu, frame: &YuvFrame<'_>) {
        if self.colour != Some(frame.colour) {
            let uniform = ConversionUniform {
                rows: frame.colour.conversion(),
            };
            gpu.queue
                .write_buffer(&self.conversion, 0, bytemuck::bytes_of(&uniform));
            self.colour = Some(frame.colour);
        }
        let write = |texture: &wgpu::Texture, data: &[u8], stride: u32, size: (u32, u32)| {
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(stride),
                    rows_per_image: Some(size.1),
                },
                wgpu::Extent3d {
                    width: size.0,
                    height: size.1,
                    depth_or_array_layers: 1,
                },
            );
        };
        let chroma_size = frame.chroma_size();
        write(
            &self.luma,
            frame.luma.data,
            frame.luma.stride,
            self.frame_size,
        );
        match &frame.chroma {
            Chroma::Interleaved(plane) => {
                write(&self.chroma, plane.data, plane.stride, chroma_size)
            }
            Chroma::Planar { u, v } => {
                let (width, height) = (chroma_size.0 as usize, chroma_size.1 as usize);
                self.interleaved.clear();
                self.interleaved.reserve(width * height * 2);
                for row in 0..height {
                    let u_row = &u.data[row * u.stride as usize..][..width];
                    let v_row = &v.data[row * v.stride as usize..][..width];
                    for (u_sample, v_sample) in u_row.iter().zip(v_row) {
                        self.interleaved.extend_from_slice(&[*u_sample, *v_sample]);
                    }
                }
                write(
                    &self.chroma,
                    &self.interleaved,
                    chroma_size.0 * 2,
                    chroma_size,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard forward transform: gamma-encoded RGB to 8-bit YUV, as an encoder does it.
    fn encode(rgb: [f32; 3], colour: YuvColour) -> [f32; 3] {
        let (kr, kb) = colour.matrix.weights();
        let luma = kr * rgb[0] + (1.0 - kr - kb) * rgb[1] + kb * rgb[2];
        let cb = (rgb[2] - luma) / (2.0 * (1.0 - kb));
        let cr = (rgb[0] - luma) / (2.0 * (1.0 - kr));
        let (y, u, v) = if colour.full_range {
            (luma * 255.0, cb * 255.0 + 128.0, cr * 255.0 + 128.0)
        } else {
            (16.0 + 219.0 * luma, 128.0 + 224.0 * cb, 128.0 + 224.0 * cr)
        };
        [y.round() / 255.0, u.round() / 255.0, v.round() / 255.0]
    }

    fn decode(yuv: [f32; 3], colour: YuvColour) -> [f32; 3] {
        let rows = colour.conversion();
        let input = [yuv[0], yuv[1], yuv[2], 1.0];
        rows.map(|row| {
            row.iter()
                .zip(input)
                .map(|(weight, value)| weight * value)
                .sum::<f32>()
        })
    }

    #[test]
    fn every_matrix_and_range_turns_encoded_primaries_back_into_themselves() {
        let colours = [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0],
            [0.5, 0.25, 0.75],
        ];
        for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020] {
            for full_range in [false, true] {
                let colour = YuvColour { matrix, full_range };
                for rgb in colours {
                    let back = decode(encode(rgb, colour), colour);
                    for channel in 0..3 {
                        assert!(
                            (back[channel] - rgb[channel]).abs() < 1.5 / 255.0,
                            "{colour:?}: {rgb:?} came back as {back:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_wrong_matrix_visibly_changes_red() {
        // Why the matrix is read from the stream: BT.709 red through BT.601 numbers is not red.
        let bt709 = YuvColour {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        };
        let bt601 = YuvColour {
            matrix: YuvMatrix::Bt601,
            ..bt709
        };
        let wrong = decode(encode([1.0, 0.0, 0.0], bt709), bt601);
        assert!(
            wrong[1] > 10.0 / 255.0 || wrong[0] < 245.0 / 255.0,
            "{wrong:?}"
        );
    }
}
