//! Image decoding, off the render thread. Files are decoded with limits (a decode bomb is refused,
//! not allocated), their format sniffed from the bytes (cache files are named by digest, not
//! extension), turned upright by their EXIF orientation, and scaled down to their zone so an 8K
//! photo never costs an 8K texture. Animated GIF and WebP keep every frame with its delay.
//!
//! What `image` handles for us, and the tests check: CMYK and YCCK JPEG (converted to RGB),
//! progressive JPEG, 16-bit, palette and grey PNG (all become RGBA8), alpha (kept straight; the
//! compositor blends it over the zone background).

use std::io::{BufRead, Cursor, Seek};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use vitrine_core::Sha256Hex;

use crate::events::{PlayerEvent, SharedSink};
use crate::render::Fit;

/// The largest image side accepted; beyond this a file is refused before any pixel is allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most memory one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
/// The most memory the frames of one animation may hold once scaled to their zone.
pub const MAX_ANIMATION_BYTES: u64 = 256 * 1024 * 1024;
/// Browsers show GIF frames that ask for 10 ms or less for 100 ms; files are made to look right
/// there, so we do the same.
const SHORTEST_FRAME_DELAY: Duration = Duration::from_millis(20);
const DEFAULT_FRAME_DELAY: Duration = Duration::from_millis(100);

/// One frame of pixels: tightly packed RGBA8 in sRGB, straight alpha.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub rgba: Vec<u8>,
    /// How long this frame shows in an animation; zero for a still image.
    pub delay: Duration,
}

/// Pixels ready for the GPU: one frame for a still image, every frame of an animation (all the same
/// size), which the renderer plays by the time its item has been on screen.
pub struct DecodedImage {
    pub sha256: Sha256Hex,
    pub width: u32,
    pub height: u32,
    pub frames: Vec<Frame>,
}

impl DecodedImage {
    /// A still image.
    pub fn still(sha256: Sha256Hex, width: u32, height: u32, rgba: Vec<u8>) -> Self {
        Self {
            sha256,
            width,
            height,
            frames: vec![Frame {
                rgba,
                delay: Duration::ZERO,
            }],
        }
    }

    pub fn is_animated(&self) -> bool {
        self.frames.len() > 1
    }

    /// The first frame's pixels.
    pub fn rgba(&self) -> &[u8] {
        self.frames
            .first()
            .map(|frame| frame.rgba.as_slice())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for DecodedImage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DecodedImage")
            .field("sha256", &self.sha256)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

/// The zone an image is decoded for: it is scaled down (never up) so that, drawn with `fit`, it
/// has no more pixels than the zone shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeTarget {
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
}

impl DecodeTarget {
    pub fn new(width: u32, height: u32, fit: Fit) -> Self {
        Self { width, height, fit }
    }

    /// The size to scale an image of `source` size to: itself when it is already small enough.
    pub fn scaled_size(&self, source: (u32, u32)) -> (u32, u32) {
        let (width, height) = (self.width.max(1) as f64, self.height.max(1) as f64);
        let (source_width, source_height) = (source.0.max(1) as f64, source.1.max(1) as f64);
        match self.fit {
            Fit::Stretch => (
                source.0.min(self.width.max(1)),
                source.1.min(self.height.max(1)),
            ),
            Fit::Contain | Fit::Cover => {
                let scale_x = width / source_width;
                let scale_y = height / source_height;
                // Contain shows all of the image: the tighter side decides. Cover crops the
                // overflow: the looser side decides, so the zone is still fully covered.
                let scale = match self.fit {
                    Fit::Contain => scale_x.min(scale_y),
                    _ => scale_x.max(scale_y),
                };
                if scale >= 1.0 {
                    source
                } else {
                    (
                        ((source_width * scale).round() as u32).max(1),
                        ((source_height * scale).round() as u32).max(1),
                    )
                }
            }
        }
    }
}

struct DecodeRequest {
    sha256: Sha256Hex,
    path: PathBuf,
    target: DecodeTarget,
}

/// For benchmarks only: every decode on the worker thread takes this many milliseconds longer,
/// so `cargo xtask bench` can show what really slow decodes (huge files, a slow SoC) do to
/// playback. Never set on a screen.
pub const BENCH_DECODE_DELAY_VARIABLE: &str = "VITRINE_BENCH_DECODE_DELAY_MS";

/// A decode worker thread; results come back as [`PlayerEvent`]s.
pub struct DecodeWorker {
    requests: mpsc::Sender<DecodeRequest>,
}

impl DecodeWorker {
    pub fn start(sink: SharedSink) -> anyhow::Result<Self> {
        let (requests, receiver) = mpsc::channel::<DecodeRequest>();
        let throttle = std::env::var(BENCH_DECODE_DELAY_VARIABLE)
            .ok()
            .and_then(|value| value.parse::<u64>().ok())
            .map(Duration::from_millis);
        if let Some(throttle) = throttle {
            tracing::warn!(
                "{BENCH_DECODE_DELAY_VARIABLE} is set: every image decode takes {throttle:?} longer"
            );
        }
        std::thread::Builder::new()
            .name("vitrine-decode".into())
            .spawn(move || {
                for request in receiver {
                    if let Some(throttle) = throttle {
                        std::thread::sleep(throttle);
                    }
                    let event = match decode_file(&request) {
                        Ok(image) => PlayerEvent::MediaDecoded(image),
                        Err(error) => PlayerEvent::DecodeFailed {
                            sha256: request.sha256,
                            error: format!("{error:#}"),
                        },
                    };
                    sink.post(event);
                }
            })?;
        Ok(Self { requests })
    }

    /// Decodes to fit inside `max_width` x `max_height` (contain).
    pub fn request(&self, sha256: Sha256Hex, path: PathBuf, max_width: u32, max_height: u32) {
        self.request_for(
            sha256,
            path,
            DecodeTarget::new(max_width, max_height, Fit::Contain),
        );
    }

    /// Decodes for a zone of `target` size drawn with its fit.
    pub fn request_for(&self, sha256: Sha256Hex, path: PathBuf, target: DecodeTarget) {
        let _ = self.requests.send(DecodeRequest {
            sha256,
            path,
            target,
        });
    }
}

fn decode_file(request: &DecodeRequest) -> anyhow::Result<DecodedImage> {
    let reader = ImageReader::open(&request.path)
        .with_context(|| format!("cannot open {}", request.path.display()))?;
    decode_reader(reader, request.sha256.clone(), request.target)
        .with_context(|| format!("cannot decode media {}", request.sha256))
}

/// Decodes an image file for `target`, on the calling thread (benchmarks, tools).
pub fn decode_path(
    path: &std::path::Path,
    sha256: Sha256Hex,
    target: DecodeTarget,
) -> anyhow::Result<DecodedImage> {
    decode_file(&DecodeRequest {
        sha256,
        path: path.to_owned(),
        target,
    })
}

/// Decodes an image held in memory (the built-in splash) to fit inside the given size.
pub fn decode_bytes(
    bytes: &[u8],
    sha256: Sha256Hex,
    max_width: u32,
    max_height: u32,
) -> anyhow::Result<DecodedImage> {
    decode_bytes_for(
        bytes,
        sha256,
        DecodeTarget::new(max_width, max_height, Fit::Contain),
    )
}

/// Decodes an image held in memory for a zone.
pub fn decode_bytes_for(
    bytes: &[u8],
    sha256: Sha256Hex,
    target: DecodeTarget,
) -> anyhow::Result<DecodedImage> {
    decode_reader(ImageReader::new(Cursor::new(bytes)), sha256, target)
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Turns `image`'s limit errors into one that names the limits, so a refused file says why.
fn explain(error: image::ImageError) -> anyhow::Error {
    match error {
        image::ImageError::Limits(limit) => anyhow::anyhow!(
            "refused: the image exceeds the decoding limits ({MAX_IMAGE_SIDE} px a side, \
             {} MiB of memory): {limit}",
            MAX_DECODE_BYTES / (1024 * 1024)
        ),
        other => other.into(),
    }
}

fn decode_reader<R: BufRead + Seek>(
    reader: ImageReader<R>,
    sha256: Sha256Hex,
    target: DecodeTarget,
) -> anyhow::Result<DecodedImage> {
    let mut reader = reader.with_guessed_format()?;
    match reader.format() {
        Some(ImageFormat::Gif) => {
            let mut decoder =
                image::codecs::gif::GifDecoder::new(reader.into_inner()).map_err(explain)?;
            decoder.set_limits(limits()).map_err(explain)?;
            return decode_animation(decoder.into_frames(), sha256, target);
        }
        Some(ImageFormat::WebP) => {
            let mut decoder =
                image::codecs::webp::WebPDecoder::new(reader.into_inner()).map_err(explain)?;
            decoder.set_limits(limits()).map_err(explain)?;
            if decoder.has_animation() {
                return decode_animation(decoder.into_frames(), sha256, target);
            }
            let image = DynamicImage::from_decoder(decoder).map_err(explain)?;
            return still(image, sha256, target);
        }
        Some(_) => {}
        None => anyhow::bail!("not an image in a format the player knows"),
    }
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(explain)?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(explain)?;
    image.apply_orientation(orientation);
    still(image, sha256, target)
}

fn still(
    image: DynamicImage,
    sha256: Sha256Hex,
    target: DecodeTarget,
) -> anyhow::Result<DecodedImage> {
    let image = scale(image, target)?;
    let rgba = image.into_rgba8();
    Ok(DecodedImage::still(
        sha256,
        rgba.width(),
        rgba.height(),
        rgba.into_raw(),
    ))
}

/// Scales to the size the zone needs with a SIMD bilinear filter (fast_image_resize): on a 4K
/// photo it is several times faster than `image`'s own resize, which used to cost more than the
/// decode. RGB stays three bytes a pixel through the resize; RGBA is resized with its alpha
/// premultiplied, so transparent edges don't darken.
fn scale(image: DynamicImage, target: DecodeTarget) -> anyhow::Result<DynamicImage> {
    let (width, height) = target.scaled_size((image.width(), image.height()));
    if (width, height) == (image.width(), image.height()) || width == 0 || height == 0 {
        return Ok(image);
    }
    let (source_width, source_height) = (image.width(), image.height());
    let (pixel_type, bytes) = match image {
        DynamicImage::ImageRgb8(rgb) => (PixelType::U8x3, rgb.into_raw()),
        other => (PixelType::U8x4, other.into_rgba8().into_raw()),
    };
    let source = Image::from_vec_u8(source_width, source_height, bytes, pixel_type)
        .context("the decoded picture has the wrong size for its dimensions")?;
    let mut destination = Image::new(width, height, pixel_type);
    Resizer::new()
        .resize(
            &source,
            &mut destination,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .with_context(|| {
            format!("cannot scale {source_width}x{source_height} to {width}x{height}")
        })?;
    let pixels = destination.into_vec();
    let scaled = if pixel_type == PixelType::U8x3 {
        image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    } else {
        image::RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
    };
    scaled.context("the scaled picture has the wrong size")
}

/// Decodes every frame, scaling each as it comes so the full-size frames never pile up.
fn decode_animation(
    frames: image::Frames<'_>,
    sha256: Sha256Hex,
    target: DecodeTarget,
) -> anyhow::Result<DecodedImage> {
    let mut decoded = Vec::new();
    let mut size = (0, 0);
    let mut bytes = 0u64;
    for frame in frames {
        let frame = frame.map_err(explain)?;
        let (numerator, denominator) = frame.delay().numer_denom_ms();
        let delay =
            Duration::from_secs_f64(f64::from(numerator) / f64::from(denominator.max(1)) / 1000.0);
        let delay = if delay < SHORTEST_FRAME_DELAY {
            DEFAULT_FRAME_DELAY
        } else {
            delay
        };
        let image = scale(DynamicImage::ImageRgba8(frame.into_buffer()), target)?.into_rgba8();
        size = image.dimensions();
        bytes += u64::from(size.0) * u64::from(size.1) * 4;
        if bytes > MAX_ANIMATION_BYTES {
            anyhow::bail!(
                "refused: the animation needs more than {} MiB once scaled to its zone",
                MAX_ANIMATION_BYTES / (1024 * 1024)
            );
        }
        decoded.push(Frame {
            rgba: image.into_raw(),
            delay,
        });
    }
    if decoded.is_empty() {
        anyhow::bail!("the animation has no frames");
    }
    if decoded.len() == 1 {
        decoded[0].delay = Duration::ZERO;
    }
    Ok(DecodedImage {
        sha256,
        width: size.0,
        height: size.1,
        frames: decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbaImage::from_pixel(width, height, image::Rgba([200, 10, 10, 255]))
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn large_images_are_scaled_to_the_screen_keeping_their_shape() {
        let decoded = decode_bytes(&png(400, 100), Sha256Hex::of_bytes(b"x"), 200, 200).unwrap();
        assert_eq!((decoded.width, decoded.height), (200, 50));
        assert_eq!(&decoded.rgba()[..4], &[200, 10, 10, 255]);
    }

    #[test]
    fn the_zone_and_fit_decide_the_decoded_size() {
        let zone = |fit| DecodeTarget::new(200, 100, fit);
        assert_eq!(zone(Fit::Contain).scaled_size((800, 800)), (100, 100));
        assert_eq!(zone(Fit::Cover).scaled_size((800, 800)), (200, 200));
        assert_eq!(zone(Fit::Stretch).scaled_size((800, 800)), (200, 100));
        // Small images are never scaled up: the GPU does that for free when drawing.
        assert_eq!(zone(Fit::Cover).scaled_size((50, 40)), (50, 40));
        assert_eq!(zone(Fit::Stretch).scaled_size((300, 40)), (200, 40));
    }

    #[test]
    fn a_decode_bomb_is_refused_before_allocation() {
        // A valid PNG header that claims 40000x40000 pixels.
        let mut header = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut header);
        let row = vec![0u8; 40_000 * 3];
        let _ = image::ImageEncoder::write_image(
            encoder,
            &row,
            40_000,
            1,
            image::ExtendedColorType::Rgb8,
        );
        // Patch the height in the IHDR chunk (bytes 20..24) to 40000 and fix the chunk's CRC.
        header[20..24].copy_from_slice(&40_000u32.to_be_bytes());
        let crc = crc32fast::hash(&header[12..29]);
        header[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = decode_bytes(&header, Sha256Hex::of_bytes(b"x"), 100, 100).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("refused"), "{message}");
        assert!(message.contains("16384 px"), "{message}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_bytes(b"not an image", Sha256Hex::of_bytes(b"x"), 10, 10).is_err());
    }
}
