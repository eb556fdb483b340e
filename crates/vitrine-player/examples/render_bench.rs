//! The renderer's side of `cargo xtask bench`: helpers for what the real player cannot measure on
//! itself, each printing one JSON object. xtask runs them interleaved with the peers and does the
//! statistics; the player's own figures (frame times, item starts, transition gaps) come from
//! `vitrine-player --stats-file`.
//!
//! - `frames floor|crossfade|crossfade-two-pass WIDTHxHEIGHT FRAMES`: frame times (submit to GPU
//!   done) of the renderer library drawing one opaque textured quad per frame (the floor every
//!   figure is compared with), or a crossfade between two pictures in one pass or in two.
//! - `decode FILE WIDTHxHEIGHT`: file to GPU texture (decode, orient, scale to the screen,
//!   upload) and exit; xtask times the whole process, as it times the peers'.
//! - `make-images DIR`: writes the 4K JPEG and PNG the decode figures use.
//! - `make-photos DIR COUNT WIDTHxHEIGHT`: COUNT distinct PNG pictures `photo-NNN.png`.
//! - `make-solid FILE WIDTHxHEIGHT R,G,B`: a PNG of one colour (the cold-start picture).

use std::time::{Duration, Instant};

use vitrine_core::Sha256Hex;
use vitrine_player::decode::{DecodeTarget, DecodedImage, decode_path};
use vitrine_player::render::{
    ContentKey, Fit, Gpu, Layer, OFFSCREEN_FORMAT, Offscreen, Renderer, Scene, Transition,
    transition_layers,
};

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let argument = |index: usize| arguments.get(index).cloned().unwrap_or_default();
    let size = |text: String| -> (u32, u32) {
        let (width, height) = text.split_once('x').unwrap_or(("1920", "1080"));
        (
            width.parse().unwrap_or(1920),
            height.parse().unwrap_or(1080),
        )
    };
    match argument(0).as_str() {
        "frames" => frames(&argument(1), size(argument(2)), argument(3).parse()?),
        "decode" => decode(&argument(1), size(argument(2))),
        "make-images" => make_images(std::path::Path::new(&argument(1))),
        "make-photos" => make_photos(
            std::path::Path::new(&argument(1)),
            argument(2).parse()?,
            size(argument(3)),
        ),
        "make-solid" => make_solid(
            std::path::Path::new(&argument(1)),
            size(argument(2)),
            &argument(3),
        ),
        other => anyhow::bail!("unknown benchmark `{other}`"),
    }
}

/// A photo-like picture: smooth gradients with fine detail, so codecs do real work.
fn photo(name: &str, width: u32, height: u32, seed: u32) -> DecodedImage {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let noise = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed)
                .wrapping_mul(2_654_435_761)
                >> 27;
            rgba.extend_from_slice(&[
                ((x * 255 / width.max(1)) as u8).wrapping_add(noise as u8),
                ((y * 255 / height.max(1)) as u8).wrapping_add(seed as u8),
                (((x + y) * 128 / (width + height).max(1)) as u8).wrapping_add(noise as u8),
                255,
            ]);
        }
    }
    DecodedImage::still(Sha256Hex::of_bytes(name.as_bytes()), width, height, rgba)
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn frames(mode: &str, size: (u32, u32), count: usize) -> anyhow::Result<()> {
    let gpu = Gpu::headless()?;
    let target = Offscreen::new(&gpu, size.0, size.1);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    renderer.set_single_pass_crossfade(mode != "crossfade-two-pass");
    let first = photo("first", size.0, size.1, 1);
    let second = photo("second", size.0, size.1, 2);
    renderer.upload(&gpu, &first);
    renderer.upload(&gpu, &second);
    let first = ContentKey::Media(first.sha256.clone());
    let second = ContentKey::Media(second.sha256.clone());
    let mut times = Vec::with_capacity(count);
    for index in 0..count + 5 {
        let layers = match mode {
            "floor" => vec![Layer::new(first.clone(), Fit::Stretch)],
            _ => transition_layers(
                Some(Layer::new(first.clone(), Fit::Cover)),
                Layer::new(second.clone(), Fit::Cover),
                Transition::Crossfade,
                (index % 60) as f32 / 60.0,
            ),
        };
        let mut scene = Scene::single(first.clone(), Fit::Cover);
        scene.zones[0].layers = layers;
        let started = Instant::now();
        renderer.render(&gpu, target.view(), target.size(), &scene);
        gpu.wait_idle()?;
        // The first frames warm caches and compile shaders; they are not what a screen sees.
        if index >= 5 {
            times.push(milliseconds(started.elapsed()));
        }
    }
    println!("{{\"frame_ms\":{times:?}}}");
    Ok(())
}

fn decode(path: &str, size: (u32, u32)) -> anyhow::Result<()> {
    let gpu = Gpu::headless()?;
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let started = Instant::now();
    let image = decode_path(
        std::path::Path::new(path),
        Sha256Hex::of_bytes(path.as_bytes()),
        DecodeTarget::new(size.0, size.1, Fit::Contain),
    )?;
    renderer.upload(&gpu, &image);
    gpu.wait_idle()?;
    // The texture's size, so xtask can check the work was done.
    println!(
        "{{\"file_to_texture_ms\":{},\"texture\":[{},{}]}}",
        milliseconds(started.elapsed()),
        image.width,
        image.height
    );
    Ok(())
}

fn make_images(directory: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory)?;
    let picture = photo("4k", 3840, 2160, 7);
    let rgb = image::DynamicImage::ImageRgba8(
        image::RgbaImage::from_raw(3840, 2160, picture.frames[0].rgba.clone())
            .expect("size matches"),
    )
    .into_rgb8();
    rgb.save(directory.join("4k.png"))?;
    let mut jpeg = std::fs::File::create(directory.join("4k.jpg"))?;
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&rgb)?;
    println!("{{\"written\":\"{}\"}}", directory.display());
    Ok(())
}

/// Pictures that differ from one another (so each is a file of its own in the cache) and
/// compress about as well as photos with large calm areas do.
fn make_photos(directory: &std::path::Path, count: u32, size: (u32, u32)) -> anyhow::Result<()> {
    use image::ImageEncoder;
    std::fs::create_dir_all(directory)?;
    for index in 0..count {
        let path = directory.join(format!("photo-{index:03}.png"));
        if path.is_file() {
            continue;
        }
        let (width, height) = size;
        let rgb = image::RgbImage::from_fn(width, height, |x, y| {
            let block = ((x / 64) ^ (y / 64)).wrapping_mul(2_654_435_761) ^ index;
            image::Rgb([
                (x * 255 / width) as u8 ^ (block as u8 & 0x1f),
                (y * 255 / height) as u8,
                (index as u8).wrapping_mul(37) ^ ((block >> 8) as u8 & 0x3f),
            ])
        });
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        image::codecs::png::PngEncoder::new_with_quality(
            file,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Sub,
        )
        .write_image(&rgb, width, height, image::ExtendedColorType::Rgb8)?;
    }
    println!("{{\"written\":{count}}}");
    Ok(())
}

fn make_solid(path: &std::path::Path, size: (u32, u32), colour: &str) -> anyhow::Result<()> {
    let channels: Vec<u8> = colour
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [red, green, blue] = channels[..] else {
        anyhow::bail!("a colour is R,G,B");
    };
    image::RgbImage::from_pixel(size.0, size.1, image::Rgb([red, green, blue])).save(path)?;
    println!("{{\"written\":\"{}\"}}", path.display());
    Ok(())
}
