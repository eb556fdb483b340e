//! The renderer: one wgpu compositor that draws every zone of every frame. It knows nothing of
//! winit: [`Renderer::render`] draws a [`Scene`] into any `TextureView`, so the same code fills the
//! window's surface and the [`Offscreen`] texture that headless mode and the tests read back.
//!
//! The parts:
//! - [`compositor`]: the [`Renderer`], its texture store (media, text, offer cards) with a memory
//!   budget, and the frame itself;
//! - [`geometry`]: fit modes and screen rotation, as pure functions;
//! - [`transitions`]: cut, crossfade and slide as layer opacities and offsets, a pure function;
//! - [`text`]: text items and tickers through glyphon, with only the bundled fonts;
//! - [`offer_card`]: the offer card template, composed once into a texture;
//! - [`price`]: prices and discounts formatted for a locale and currency;
//! - [`qr`]: QR codes as module matrices;
//! - [`yuv`]: video frames (NV12 or I420 planes) drawn as quads that convert to RGB in WGSL with
//!   the stream's colour matrix.

pub mod compositor;
mod crossfade;
pub mod geometry;
pub mod offer_card;
pub mod price;
pub mod qr;
mod quad;
pub mod text;
pub mod transitions;
pub mod yuv;

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use vitrine_core::Sha256Hex;

pub use compositor::{FrameReport, Renderer, TextureBudget};
pub use geometry::{Fit, Rotation};
pub use offer_card::{OfferCard, OfferTemplate};
pub use text::{TextAlign, TextReport, TextSpec, TickerSpec};
pub use transitions::{SlideDirection, Transition, transition_layers};
pub use yuv::{Chroma, Plane, YuvColour, YuvFrame, YuvMatrix};

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

    /// Blocks until the GPU has finished everything submitted so far: the instant a frame is done.
    pub fn wait_idle(&self) -> anyhow::Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("the GPU did not finish its work")?;
        Ok(())
    }
}

/// A colour in sRGB with straight (not premultiplied) alpha, as staff write it: `#1b2b3c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Color {
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    pub const TRANSPARENT: Color = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 0,
    };

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 255 }
    }

    /// Parses `#rrggbb` or `#rrggbbaa`.
    pub fn from_hex(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('#')?;
        if !(digits.len() == 6 || digits.len() == 8) || !digits.is_ascii() {
            return None;
        }
        let channel = |index: usize| u8::from_str_radix(&digits[index * 2..index * 2 + 2], 16).ok();
        Some(Self {
            r: channel(0)?,
            g: channel(1)?,
            b: channel(2)?,
            a: if digits.len() == 8 { channel(3)? } else { 255 },
        })
    }

    /// The colour in linear light, premultiplied: what the shaders and the clear colour work in,
    /// since the targets are sRGB formats that the GPU encodes on write.
    pub fn to_linear_premultiplied(self) -> [f32; 4] {
        let alpha = f32::from(self.a) / 255.0;
        [
            srgb_to_linear(self.r) * alpha,
            srgb_to_linear(self.g) * alpha,
            srgb_to_linear(self.b) * alpha,
            alpha,
        ]
    }

    pub(crate) fn to_wgpu(self) -> wgpu::Color {
        let [r, g, b, a] = self.to_linear_premultiplied();
        wgpu::Color {
            r: f64::from(r),
            g: f64::from(g),
            b: f64::from(b),
            a: f64::from(a),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Color {
    /// Colours in YAML are `"#rrggbb"` or `"#rrggbbaa"` strings.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Color::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a colour; write it as \"#rrggbb\" or \"#rrggbbaa\""
            ))
        })
    }
}

fn srgb_to_linear(channel: u8) -> f32 {
    let value = f32::from(channel) / 255.0;
    if value <= 0.04045 {
        value / 12.92
    } else {
        ((value + 0.055) / 1.055).powf(2.4)
    }
}

/// What a texture in the renderer is: a media file by its digest, or content the player generates
/// (text, tickers, offer cards, clocks) under a key that changes whenever its content does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentKey {
    Media(Sha256Hex),
    Generated(String),
}

impl ContentKey {
    /// A key for generated content: `kind` plus a digest of everything that shapes its pixels, so
    /// equal content shares one texture and changed content never reuses a stale one.
    pub fn generated(kind: &str, parts: &[&[u8]]) -> Self {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for part in parts {
            // Lengths first, so ("ab", "c") and ("a", "bc") differ.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        ContentKey::Generated(format!("{kind}:{}", hex::encode(&digest[..12])))
    }
}

impl From<Sha256Hex> for ContentKey {
    fn from(sha256: Sha256Hex) -> Self {
        ContentKey::Media(sha256)
    }
}

impl fmt::Display for ContentKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentKey::Media(sha256) => write!(formatter, "media:{sha256}"),
            ContentKey::Generated(key) => formatter.write_str(key),
        }
    }
}

/// One frame's content: everything on screen, bottom to top.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// Behind every zone; also the colour of the screen where no zone is.
    pub background: Color,
    /// How the physical screen is turned. Zones are laid out in the logical (upright) space.
    pub rotation: Rotation,
    /// Bottom to top: later zones draw over earlier ones.
    pub zones: Vec<ZoneScene>,
    /// The `--show-stats` text, drawn in the top-left corner above everything.
    pub overlay: Option<String>,
}

impl Scene {
    /// One full-screen zone showing `content` alone: the splash, single-zone playlists, tests.
    pub fn single(content: ContentKey, fit: Fit) -> Self {
        Self {
            background: Color::BLACK,
            rotation: Rotation::Deg0,
            zones: vec![ZoneScene {
                rect: [0.0, 0.0, 1.0, 1.0],
                background: None,
                layers: vec![Layer::new(content, fit)],
            }],
            overlay: None,
        }
    }
}

/// A rectangle of the logical screen and what it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneScene {
    /// x, y, width, height as fractions of the logical screen, origin top-left.
    pub rect: [f32; 4],
    /// Filled before the layers; shows through letterboxes and transparent pixels.
    pub background: Option<Color>,
    /// Bottom to top. During a transition: the outgoing item, then the incoming one.
    pub layers: Vec<Layer>,
}

/// One texture drawn in a zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub content: ContentKey,
    pub fit: Fit,
    /// 0 (invisible) to 1 (opaque), multiplied with the texture's own alpha.
    pub opacity: f32,
    /// Shift as fractions of the zone's size (slides); what leaves the zone is clipped.
    pub offset: [f32; 2],
    /// How long this layer's item has been on screen. It drives the frames of animated images and
    /// the scroll of tickers, so both move with the clock, not with the frame count.
    pub elapsed: Duration,
}

impl Layer {
    /// Fully opaque, in place, at the start of its item.
    pub fn new(content: ContentKey, fit: Fit) -> Self {
        Self {
            content,
            fit,
            opacity: 1.0,
            offset: [0.0, 0.0],
            elapsed: Duration::ZERO,
        }
    }

    pub fn with_elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self
    }
}

/// Letterbox colour around media that does not fill the screen.
pub const BACKGROUND: Color = Color::BLACK;

/// An offscreen target whose frames can be read back: headless mode and the tests.
pub struct Offscreen {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    readback: wgpu::Buffer,
    width: u32,
    height: u32,
    padded_bytes_per_row: u32,
    format: wgpu::TextureFormat,
}

/// The format of offscreen frames: sRGB, like a monitor, so PNGs match what a screen shows.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

impl Offscreen {
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> Self {
        Self::with_format(gpu, width, height, OFFSCREEN_FORMAT)
    }

    /// An offscreen target of another format: a window's surface format, to draw a frame for a
    /// screenshot with the pipelines made for the window. RGBA and BGRA 8-bit formats read back.
    pub fn with_format(gpu: &Gpu, width: u32, height: u32, format: wgpu::TextureFormat) -> Self {
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
            format,
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
            format,
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
        let swap_red_blue = swaps_red_and_blue(self.format)?;
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
        gpu.wait_idle()?;
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
        if swap_red_blue {
            for pixel in pixels.chunks_exact_mut(4) {
                pixel.swap(0, 2);
            }
        }
        image::RgbaImage::from_raw(self.width, self.height, pixels)
            .context("readback size does not match the frame")
    }
}

/// Whether pixels of `format` read back as BGRA (true) or RGBA (false); an error for formats whose
/// texels are not four 8-bit channels, which a screenshot cannot read back as they are.
fn swaps_red_and_blue(format: wgpu::TextureFormat) -> anyhow::Result<bool> {
    use wgpu::TextureFormat as F;
    match format {
        F::Rgba8Unorm | F::Rgba8UnormSrgb => Ok(false),
        F::Bgra8Unorm | F::Bgra8UnormSrgb => Ok(true),
        other => anyhow::bail!("frames of format {other:?} cannot be read back as 8-bit RGBA"),
    }
}

/// Reads a texture (a window's surface texture with `COPY_SRC`, say) back to the CPU as 8-bit
/// RGBA. Waits for the GPU: for one-off readbacks like a screenshot, not for every frame.
pub fn read_texture(gpu: &Gpu, texture: &wgpu::Texture) -> anyhow::Result<image::RgbaImage> {
    let swap_red_blue = swaps_red_and_blue(texture.format())?;
    let (width, height) = (texture.width(), texture.height());
    let padded_bytes_per_row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("texture readback"),
        size: u64::from(padded_bytes_per_row) * u64::from(height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("texture readback"),
        });
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_bytes_per_row),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    let slice = buffer.slice(..);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    gpu.wait_idle()?;
    receiver
        .recv()
        .context("the readback was cancelled")?
        .context("cannot map the readback buffer")?;
    let mut pixels = Vec::with_capacity((width * height * 4) as usize);
    {
        let mapped = slice
            .get_mapped_range()
            .context("cannot read the mapped frame")?;
        for row in mapped.chunks(padded_bytes_per_row as usize) {
            pixels.extend_from_slice(&row[..(width * 4) as usize]);
        }
    }
    buffer.unmap();
    if swap_red_blue {
        for pixel in pixels.chunks_exact_mut(4) {
            pixel.swap(0, 2);
        }
    }
    image::RgbaImage::from_raw(width, height, pixels)
        .context("readback size does not match the frame")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_parse_with_and_without_alpha() {
        assert_eq!(
            Color::from_hex("#233a5d"),
            Some(Color::rgb(0x23, 0x3a, 0x5d))
        );
        assert_eq!(
            Color::from_hex("#ffffff80"),
            Some(Color {
                r: 255,
                g: 255,
                b: 255,
                a: 128
            })
        );
        assert_eq!(Color::from_hex("233a5d"), None);
        assert_eq!(Color::from_hex("#23"), None);
    }

    #[test]
    fn generated_keys_change_with_their_content_and_only_then() {
        let a = ContentKey::generated("text", &[b"ab", b"c"]);
        assert_eq!(a, ContentKey::generated("text", &[b"ab", b"c"]));
        assert_ne!(a, ContentKey::generated("text", &[b"a", b"bc"]));
        assert_ne!(a, ContentKey::generated("card", &[b"ab", b"c"]));
    }
}
