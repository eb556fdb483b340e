//! Screenshots for HQ: the render loop reads back the next frame it presents after a `screenshot`
//! command and hands the pixels to the network thread, which scales them to at most
//! [`MAX_WIDTH`] pixels wide (keeping the aspect ratio), encodes a JPEG and sends it to
//! `PUT /v1/screenshot`. Scaling, encoding and sending happen off the render thread, so a
//! screenshot never costs the screen more than the readback of one frame.

use std::io::Cursor;

use anyhow::Context;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// The widest screenshot sent: enough to see what a screen shows, small enough to send in a
/// fraction of a second (the scheduler refuses wider ones).
pub const MAX_WIDTH: u32 = 960;

/// The JPEG quality: text on screen stays legible, and a full-HD frame is a few dozen KiB.
pub const JPEG_QUALITY: u8 = 85;

/// The size a `width` x `height` frame is scaled to: at most [`MAX_WIDTH`] wide, the same aspect
/// ratio, never enlarged, never zero.
pub fn scaled_size(width: u32, height: u32) -> (u32, u32) {
    if width <= MAX_WIDTH {
        return (width.max(1), height.max(1));
    }
    let scaled_height =
        (u64::from(height) * u64::from(MAX_WIDTH) + u64::from(width) / 2) / u64::from(width);
    (
        MAX_WIDTH,
        u32::try_from(scaled_height).unwrap_or(u32::MAX).max(1),
    )
}

/// Scales a frame to [`scaled_size`] with a bilinear filter. The frame is opaque, so its alpha is
/// dropped first.
pub fn scale(frame: &image::RgbaImage) -> anyhow::Result<image::RgbImage> {
    let rgb = image::DynamicImage::ImageRgba8(frame.clone()).into_rgb8();
    let (width, height) = scaled_size(rgb.width(), rgb.height());
    if (width, height) == rgb.dimensions() {
        return Ok(rgb);
    }
    let (source_width, source_height) = rgb.dimensions();
    let source = Image::from_vec_u8(source_width, source_height, rgb.into_raw(), PixelType::U8x3)
        .context("the frame has the wrong size for its dimensions")?;
    let mut destination = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(
            &source,
            &mut destination,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .with_context(|| {
            format!(
                "cannot scale the frame from {source_width}x{source_height} to {width}x{height}"
            )
        })?;
    image::RgbImage::from_raw(width, height, destination.into_vec())
        .context("the scaled frame has the wrong size")
}

/// Scales `frame` and encodes it as a JPEG at [`JPEG_QUALITY`]: the body of `PUT /v1/screenshot`.
pub fn encode(frame: &image::RgbaImage) -> anyhow::Result<Vec<u8>> {
    let scaled = scale(frame)?;
    let mut bytes = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(&scaled)
        .context("cannot encode the screenshot as JPEG")?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_scaled_to_at_most_960_wide_keeping_their_shape() {
        assert_eq!(scaled_size(1920, 1080), (960, 540));
        assert_eq!(scaled_size(3840, 2160), (960, 540));
        assert_eq!(scaled_size(1080, 1920), (960, 1707));
        assert_eq!(scaled_size(640, 360), (640, 360));
        assert_eq!(scaled_size(960, 10), (960, 10));
        assert_eq!(scaled_size(100_000, 1), (960, 1));
    }

    #[test]
    fn a_frame_becomes_a_jpeg_of_its_scaled_size_and_colours() {
        let frame = image::RgbaImage::from_fn(1920, 1080, |x, _| {
            if x < 960 {
                image::Rgba([200, 30, 30, 255])
            } else {
                image::Rgba([30, 30, 200, 255])
            }
        });
        let jpeg = encode(&frame).expect("encodes");
        assert_eq!(
            image::guess_format(&jpeg).expect("a format"),
            image::ImageFormat::Jpeg
        );
        let decoded = image::load_from_memory(&jpeg).expect("decodes").into_rgb8();
        assert_eq!(decoded.dimensions(), (960, 540));
        let left = decoded.get_pixel(100, 270);
        let right = decoded.get_pixel(860, 270);
        assert!(left[0] > 170 && left[2] < 60, "{left:?}");
        assert!(right[2] > 170 && right[0] < 60, "{right:?}");
    }
}
