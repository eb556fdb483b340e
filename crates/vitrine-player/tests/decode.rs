//! Image formats through the decoder, from files made here at test time or committed under
//! `tests/fixtures` (made with libjpeg-turbo's `cjpeg -progressive` and libvips' `jpegsave` of a
//! CMYK image, both from a 64x48 picture of four coloured quadrants).

use std::io::Cursor;
use std::time::Duration;

use vitrine_core::Sha256Hex;
use vitrine_player::decode::{DecodeTarget, DecodedImage, decode_bytes, decode_bytes_for};
use vitrine_player::render::Fit;

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 40];
const BLUE: [u8; 3] = [30, 40, 210];
const WHITE: [u8; 3] = [240, 240, 240];

fn digest() -> Sha256Hex {
    Sha256Hex::of_bytes(b"test")
}

fn decode(bytes: &[u8]) -> DecodedImage {
    decode_bytes(bytes, digest(), 4096, 4096).expect("decodes")
}

fn pixel(image: &DecodedImage, frame: usize, x: u32, y: u32) -> [u8; 4] {
    let index = ((y * image.width + x) * 4) as usize;
    image.frames[frame].rgba[index..index + 4]
        .try_into()
        .unwrap()
}

/// JPEG is lossy and CMYK goes through a colour conversion: within `tolerance` per channel.
fn assert_close(actual: [u8; 4], expected: [u8; 3], tolerance: u8, what: &str) {
    let close = actual[..3]
        .iter()
        .zip(expected)
        .all(|(actual, expected)| actual.abs_diff(expected) <= tolerance);
    assert!(close, "{what}: {actual:?}, expected about {expected:?}");
}

fn assert_quadrants(image: &DecodedImage, tolerance: u8) {
    let (width, height) = (image.width, image.height);
    assert_close(
        pixel(image, 0, width / 4, height / 4),
        RED,
        tolerance,
        "top left",
    );
    assert_close(
        pixel(image, 0, width * 3 / 4, height / 4),
        GREEN,
        tolerance,
        "top right",
    );
    assert_close(
        pixel(image, 0, width / 4, height * 3 / 4),
        BLUE,
        tolerance,
        "bottom left",
    );
    assert_close(
        pixel(image, 0, width * 3 / 4, height * 3 / 4),
        WHITE,
        tolerance,
        "bottom right",
    );
}

fn quadrants(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb(match (x < width / 2, y < height / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

#[test]
fn progressive_jpeg_decodes() {
    let image = decode(include_bytes!("fixtures/quadrants-progressive.jpg"));
    assert_eq!((image.width, image.height), (64, 48));
    assert_quadrants(&image, 24);
}

#[test]
fn cmyk_jpeg_decodes_to_the_right_colours() {
    let image = decode(include_bytes!("fixtures/quadrants-cmyk.jpg"));
    assert_eq!((image.width, image.height), (64, 48));
    // The file went to CMYK through an ICC profile and comes back by the plain formula, so hues
    // shift (the green comes back as [114, 255, 1]); what must hold is that no channel is inverted
    // (Adobe's inverted CMYK read the wrong way round turns red into cyan).
    let (width, height) = (image.width, image.height);
    let dominant = |x: u32, y: u32| {
        let [r, g, b, _] = pixel(&image, 0, x, y);
        [r, g, b]
    };
    let [r, g, b] = dominant(width / 4, height / 4);
    assert!(
        r > 200 && g < 80 && b < 80,
        "red quadrant is {:?}",
        [r, g, b]
    );
    let [r, g, b] = dominant(width * 3 / 4, height / 4);
    assert!(
        g > 200 && r < 160 && b < 80,
        "green quadrant is {:?}",
        [r, g, b]
    );
    let [r, g, b] = dominant(width / 4, height * 3 / 4);
    assert!(
        b > 150 && r < 100 && g < 120,
        "blue quadrant is {:?}",
        [r, g, b]
    );
    assert_close(
        pixel(&image, 0, width * 3 / 4, height * 3 / 4),
        WHITE,
        30,
        "white quadrant",
    );
}

/// A baseline JPEG with an EXIF APP1 segment carrying `orientation`, written by hand: the encoder
/// has no EXIF option, and the segment is a dozen fields.
fn jpeg_with_orientation(picture: &image::RgbImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(picture)
        .unwrap();
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big endian, first IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // padding of the value field
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut with_exif = jpeg[..2].to_vec(); // SOI
    with_exif.extend_from_slice(&[0xff, 0xe1]);
    with_exif.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    with_exif.extend_from_slice(&segment);
    with_exif.extend_from_slice(&jpeg[2..]);
    with_exif
}

#[test]
fn exif_orientation_turns_the_picture_upright() {
    // Orientation 6: the camera was turned; the picture must be rotated 90° clockwise to view.
    let image = decode(&jpeg_with_orientation(&quadrants(64, 48), 6));
    assert_eq!((image.width, image.height), (48, 64));
    // Turned clockwise, the old bottom-left (blue) is now top-left and red top-right.
    assert_close(
        pixel(&image, 0, 12, 16),
        BLUE,
        24,
        "top left after rotation",
    );
    assert_close(
        pixel(&image, 0, 36, 16),
        RED,
        24,
        "top right after rotation",
    );
    // Orientation 3: upside down.
    let image = decode(&jpeg_with_orientation(&quadrants(64, 48), 3));
    assert_close(pixel(&image, 0, 16, 12), WHITE, 24, "top left upside down");
}

fn png(
    color_type: png::ColorType,
    depth: png::BitDepth,
    palette: Option<&[u8]>,
    data: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 4, 2);
        encoder.set_color(color_type);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette.to_vec());
            encoder.set_trns(vec![255, 0]);
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
    }
    bytes
}

#[test]
fn sixteen_bit_palette_and_grey_pngs_become_rgba8() {
    // 16-bit RGB: 0xffff red and 0x8000 grey.
    let mut data = Vec::new();
    for index in 0..8 {
        let pixel: [u16; 3] = if index % 2 == 0 {
            [0xffff, 0, 0]
        } else {
            [0x8000; 3]
        };
        for channel in pixel {
            data.extend_from_slice(&channel.to_be_bytes());
        }
    }
    let image = decode(&png(
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        None,
        &data,
    ));
    assert_eq!(pixel(&image, 0, 0, 0), [255, 0, 0, 255]);
    assert_eq!(pixel(&image, 0, 1, 0), [128, 128, 128, 255]);

    // Palette with a transparent second entry.
    let palette = [10, 20, 30, 200, 100, 50];
    let image = decode(&png(
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        Some(&palette),
        &[0, 1, 0, 1, 1, 0, 1, 0],
    ));
    assert_eq!(pixel(&image, 0, 0, 0), [10, 20, 30, 255]);
    assert_eq!(pixel(&image, 0, 1, 0)[3], 0, "palette transparency is kept");

    // Grey, and grey with alpha.
    let image = decode(&png(
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        None,
        &[0, 64, 128, 255, 0, 0, 0, 0],
    ));
    assert_eq!(pixel(&image, 0, 1, 0), [64, 64, 64, 255]);
    let image = decode(&png(
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        None,
        &[200, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    assert_eq!(
        pixel(&image, 0, 0, 0),
        [200, 200, 200, 100],
        "alpha stays straight"
    );
}

#[test]
fn the_format_is_sniffed_from_the_bytes_not_a_name() {
    // Cache files have no extension; a PNG and a JPEG both decode from bare bytes.
    let mut bytes = Vec::new();
    quadrants(8, 8)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(decode(&bytes).width, 8);
    assert_eq!(
        decode(include_bytes!("fixtures/quadrants-progressive.jpg")).width,
        64
    );
}

fn animated_gif() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut bytes);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .unwrap();
        for (colour, delay_ms) in [([255, 0, 0, 255], 200), ([0, 0, 255, 255], 300)] {
            let frame = image::RgbaImage::from_pixel(16, 8, image::Rgba(colour));
            encoder
                .encode_frame(image::Frame::from_parts(
                    frame,
                    0,
                    0,
                    image::Delay::from_numer_denom_ms(delay_ms, 1),
                ))
                .unwrap();
        }
    }
    bytes
}

#[test]
fn animated_gifs_keep_every_frame_and_its_delay() {
    let image = decode(&animated_gif());
    assert!(image.is_animated());
    assert_eq!(image.frames.len(), 2);
    assert_eq!(image.frames[0].delay, Duration::from_millis(200));
    assert_eq!(image.frames[1].delay, Duration::from_millis(300));
    assert_eq!(pixel(&image, 0, 3, 3), [255, 0, 0, 255]);
    assert_eq!(pixel(&image, 1, 3, 3), [0, 0, 255, 255]);
}

/// An animated WebP assembled by hand (RIFF: VP8X, ANIM, then one ANMF per frame) around lossless
/// frames from `image`'s encoder, which writes stills only.
fn animated_webp(frames: &[([u8; 4], u32)], width: u32, height: u32) -> Vec<u8> {
    fn chunk(name: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut bytes = name.to_vec();
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            bytes.push(0);
        }
        bytes
    }
    let u24 = |value: u32| value.to_le_bytes()[..3].to_vec();
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0b0001_0010, 0, 0, 0]; // animation and alpha
    vp8x.extend(u24(width - 1));
    vp8x.extend(u24(height - 1));
    body.extend(chunk(b"VP8X", &vp8x));
    body.extend(chunk(b"ANIM", &[0, 0, 0, 0, 0, 0])); // background, loop forever
    for (colour, delay_ms) in frames {
        let mut still = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut still)
            .encode(
                &image::RgbaImage::from_pixel(width, height, image::Rgba(*colour)),
                width,
                height,
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        // The still is RIFF....WEBP then its chunks; keep the VP8L chunk.
        let position = still
            .windows(4)
            .position(|window| window == b"VP8L")
            .unwrap();
        let length =
            u32::from_le_bytes(still[position + 4..position + 8].try_into().unwrap()) as usize;
        let vp8l = &still[position..position + 8 + length + length % 2];
        let mut anmf = Vec::new();
        anmf.extend(u24(0));
        anmf.extend(u24(0));
        anmf.extend(u24(width - 1));
        anmf.extend(u24(height - 1));
        anmf.extend(u24(*delay_ms));
        anmf.push(0b10); // no blending, no disposal
        anmf.extend_from_slice(vp8l);
        body.extend(chunk(b"ANMF", &anmf));
    }
    let mut riff = b"RIFF".to_vec();
    riff.extend_from_slice(&(body.len() as u32).to_le_bytes());
    riff.extend(body);
    riff
}

#[test]
fn animated_webps_keep_every_frame_and_its_delay() {
    let bytes = animated_webp(&[([0, 255, 0, 255], 150), ([255, 255, 0, 255], 250)], 8, 6);
    let image = decode(&bytes);
    assert_eq!(image.frames.len(), 2);
    assert_eq!((image.width, image.height), (8, 6));
    assert_eq!(image.frames[0].delay, Duration::from_millis(150));
    assert_eq!(image.frames[1].delay, Duration::from_millis(250));
    assert_eq!(pixel(&image, 0, 2, 2), [0, 255, 0, 255]);
    assert_eq!(pixel(&image, 1, 2, 2), [255, 255, 0, 255]);
}

#[test]
fn animations_are_scaled_to_their_zone_frame_by_frame() {
    let image = decode_bytes_for(
        &animated_gif(),
        digest(),
        DecodeTarget::new(8, 8, Fit::Contain),
    )
    .unwrap();
    assert_eq!((image.width, image.height), (8, 4));
    assert!(
        image
            .frames
            .iter()
            .all(|frame| frame.rgba.len() == 8 * 4 * 4)
    );
}

#[test]
fn an_oversized_animation_is_refused_with_the_limit_named() {
    // A GIF whose logical screen claims 30000x30000: refused before any frame is allocated.
    let mut bytes = animated_gif();
    bytes[6..8].copy_from_slice(&30_000u16.to_le_bytes());
    bytes[8..10].copy_from_slice(&30_000u16.to_le_bytes());
    let error = decode_bytes(&bytes, digest(), 100, 100).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("refused") || message.contains("limit"),
        "{message}"
    );
}
