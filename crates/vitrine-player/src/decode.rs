//! Image decoding, off the render thread. Files are decoded with limits (a decode bomb is refused,
//! not allocated), turned upright by their EXIF orientation, and scaled down to the screen so an 8K
//! photo never costs an 8K texture.

use std::io::{BufRead, Cursor, Seek};
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::Context;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use vitrine_core::Sha256Hex;

use crate::events::{PlayerEvent, SharedSink};

/// The largest image side accepted; beyond this a file is refused before any pixel is allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most memory one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Pixels ready for the GPU: tightly packed RGBA8 in sRGB.
pub struct DecodedImage {
    pub sha256: Sha256Hex,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for DecodedImage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DecodedImage")
            .field("sha256", &self.sha256)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

struct DecodeRequest {
    sha256: Sha256Hex,
    path: PathBuf,
    max_width: u32,
    max_height: u32,
}

/// A decode worker thread; results come back as [`PlayerEvent`]s.
pub struct DecodeWorker {
    requests: mpsc::Sender<DecodeRequest>,
}

impl DecodeWorker {
    pub fn start(sink: SharedSink) -> anyhow::Result<Self> {
        let (requests, receiver) = mpsc::channel::<DecodeRequest>();
        std::thread::Builder::new()
            .name("vitrine-decode".into())
            .spawn(move || {
                for request in receiver {
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

    pub fn request(&self, sha256: Sha256Hex, path: PathBuf, max_width: u32, max_height: u32) {
        let _ = self.requests.send(DecodeRequest {
            sha256,
            path,
            max_width,
            max_height,
        });
    }
}

fn decode_file(request: &DecodeRequest) -> anyhow::Result<DecodedImage> {
    let reader = ImageReader::open(&request.path)
        .with_context(|| format!("cannot open {}", request.path.display()))?;
    decode_reader(
        reader,
        request.sha256.clone(),
        request.max_width,
        request.max_height,
    )
    .with_context(|| format!("cannot decode media {}", request.sha256))
}

/// Decodes an image held in memory (the built-in splash).
pub fn decode_bytes(
    bytes: &[u8],
    sha256: Sha256Hex,
    max_width: u32,
    max_height: u32,
) -> anyhow::Result<DecodedImage> {
    decode_reader(
        ImageReader::new(Cursor::new(bytes)),
        sha256,
        max_width,
        max_height,
    )
}

fn decode_reader<R: BufRead + Seek>(
    reader: ImageReader<R>,
    sha256: Sha256Hex,
    max_width: u32,
    max_height: u32,
) -> anyhow::Result<DecodedImage> {
    // The format is sniffed from the bytes: media in the cache is named by digest, not extension.
    let mut reader = reader.with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    if image.width() > max_width || image.height() > max_height {
        image = image.resize(max_width, max_height, image::imageops::FilterType::Triangle);
    }
    let rgba = image.into_rgba8();
    Ok(DecodedImage {
        sha256,
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
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
        assert_eq!(&decoded.rgba[..4], &[200, 10, 10, 255]);
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
        assert!(
            format!("{error:#}").to_lowercase().contains("limit"),
            "{error:#}"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_bytes(b"not an image", Sha256Hex::of_bytes(b"x"), 10, 10).is_err());
    }
}
