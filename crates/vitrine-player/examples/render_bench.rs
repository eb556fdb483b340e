//! The renderer's side of `cargo xtask bench`: each subcommand measures one thing on the real
//! renderer (offscreen, on whatever adapter `WGPU_BACKEND` picks) and prints one JSON object.
//! xtask runs it interleaved with the peers and does the statistics.
//!
//! - `frames crossfade|floor WIDTHxHEIGHT FRAMES`: frame times (submit to GPU done) of a 1080p
//!   crossfade between two images, or of the floor: one opaque textured quad per frame.
//! - `gaps SWITCHES`: item switches with crossfades, the next item decoded from a file on another
//!   thread and uploaded before its start, as the player does; counts transition gaps.
//! - `start-accuracy ITEMS`: a scripted timeline on a simulated 60 Hz display; for each item, the
//!   presented time of its first frame minus its scheduled start.
//! - `decode FILE WIDTHxHEIGHT`: file to GPU texture (decode, orient, scale to the screen, upload).
//! - `make-images DIR`: writes the 4K JPEG and PNG the decode figures use.

use std::time::{Duration, Instant};

use vitrine_core::Sha256Hex;
use vitrine_player::decode::{DecodeTarget, DecodedImage, decode_path};
use vitrine_player::render::{
    ContentKey, Fit, Gpu, Layer, OFFSCREEN_FORMAT, Offscreen, Renderer, Scene, Transition,
    transition_layers,
};
use vitrine_player::telemetry::FrameTelemetry;

const REFRESH: Duration = Duration::from_nanos(16_666_667);

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
        "gaps" => gaps(argument(1).parse()?),
        "start-accuracy" => start_accuracy(argument(1).parse()?),
        "decode" => decode(&argument(1), size(argument(2))),
        "make-images" => make_images(std::path::Path::new(&argument(1))),
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

fn gaps(switches: usize) -> anyhow::Result<()> {
    let gpu = Gpu::headless()?;
    let target = Offscreen::new(&gpu, 480, 270);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let directory = tempfile_directory()?;
    // Four files played round-robin; each item is decoded from its file before its start.
    let mut paths = Vec::new();
    for index in 0..4 {
        let path = directory.join(format!("item-{index}.png"));
        let picture = photo(&format!("item-{index}"), 480, 270, index);
        image::RgbaImage::from_raw(480, 270, picture.frames[0].rgba.clone())
            .expect("size matches")
            .save(&path)?;
        paths.push(path);
    }
    let mut telemetry = FrameTelemetry::new(REFRESH);
    let decode_next = |index: usize| {
        let path = paths[index % paths.len()].clone();
        std::thread::spawn(move || {
            decode_path(
                &path,
                Sha256Hex::of_bytes(format!("item-{index}").as_bytes()),
                DecodeTarget::new(480, 270, Fit::Cover),
            )
        })
    };
    let first = decode_next(0).join().expect("decode thread")?;
    renderer.upload(&gpu, &first);
    let mut current = ContentKey::Media(first.sha256.clone());
    const HOLD_FRAMES: usize = 2;
    const FADE_FRAMES: usize = 4;
    for switch in 1..=switches {
        let pending = decode_next(switch);
        for _ in 0..HOLD_FRAMES {
            let started = Instant::now();
            let report = renderer.render(
                &gpu,
                target.view(),
                target.size(),
                &Scene::single(current.clone(), Fit::Cover),
            );
            gpu.wait_idle()?;
            telemetry.record_frame(started, Instant::now(), &report);
        }
        let next = pending.join().expect("decode thread")?;
        renderer.upload(&gpu, &next);
        let incoming = ContentKey::Media(next.sha256.clone());
        for frame in 0..=FADE_FRAMES {
            let layers = transition_layers(
                Some(Layer::new(current.clone(), Fit::Cover)),
                Layer::new(incoming.clone(), Fit::Cover),
                Transition::Crossfade,
                frame as f32 / FADE_FRAMES as f32,
            );
            let mut scene = Scene::single(incoming.clone(), Fit::Cover);
            scene.zones[0].layers = layers;
            let started = Instant::now();
            let report = renderer.render(&gpu, target.view(), target.size(), &scene);
            gpu.wait_idle()?;
            telemetry.record_frame(started, Instant::now(), &report);
        }
        let keep = [incoming.clone()].into_iter().collect();
        renderer.retain(&keep);
        current = incoming;
    }
    let summary = telemetry.summary();
    println!(
        "{{\"switches\":{switches},\"frames\":{},\"transition_gaps\":{}}}",
        summary.frames, summary.transition_gaps
    );
    std::fs::remove_dir_all(directory)?;
    Ok(())
}

fn start_accuracy(items: usize) -> anyhow::Result<()> {
    let gpu = Gpu::headless()?;
    let target = Offscreen::new(&gpu, 1920, 1080);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let pictures: Vec<ContentKey> = (0..2)
        .map(|index| {
            let picture = photo(&format!("timeline-{index}"), 1920, 1080, index);
            renderer.upload(&gpu, &picture);
            ContentKey::Media(picture.sha256)
        })
        .collect();
    // A display refreshing every REFRESH from `origin`; items scheduled at instants that fall
    // anywhere between refreshes (every 210 ms), as a wall-clock schedule does.
    let origin = Instant::now() + Duration::from_millis(50);
    let tick = |index: u32| origin + REFRESH * index;
    let schedule: Vec<Instant> = (1..=items)
        .map(|item| origin + Duration::from_millis(210 * item as u64))
        .collect();
    let mut latencies = Vec::new();
    let mut next_item = 0;
    let mut refresh = 1u32;
    while next_item < items {
        // Render ahead for the refresh at `tick(refresh)`: the frame shows what is scheduled by
        // then, as the player asks the schedule about the instant its frame will be presented.
        let present_at = tick(refresh);
        std::thread::sleep(
            present_at
                .saturating_duration_since(Instant::now())
                .saturating_sub(REFRESH),
        );
        let showing = schedule
            .iter()
            .filter(|start| **start <= present_at)
            .count();
        let content = pictures[showing % 2].clone();
        renderer.render(
            &gpu,
            target.view(),
            target.size(),
            &Scene::single(content, Fit::Cover),
        );
        gpu.wait_idle()?;
        // The frame is presented at the first refresh after the GPU is done (vsync).
        let done = Instant::now();
        let mut presented_refresh = refresh;
        while tick(presented_refresh) < done {
            presented_refresh += 1;
        }
        let presented = tick(presented_refresh);
        while next_item < showing {
            latencies.push(milliseconds(
                presented.saturating_duration_since(schedule[next_item]),
            ));
            next_item += 1;
        }
        std::thread::sleep(presented.saturating_duration_since(Instant::now()));
        refresh = presented_refresh + 1;
    }
    println!(
        "{{\"latency_ms\":{latencies:?},\"refresh_ms\":{}}}",
        milliseconds(REFRESH)
    );
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
    println!(
        "{{\"file_to_texture_ms\":{}}}",
        milliseconds(started.elapsed())
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

fn tempfile_directory() -> anyhow::Result<std::path::PathBuf> {
    let directory = std::env::temp_dir().join(format!("vitrine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    Ok(directory)
}
