//! Headless mode: the same renderer drawing into an offscreen texture at a fixed frame rate, for
//! machines without a display and for tests, which read the frames back as PNG files.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;

use crate::Startup;
use crate::events::PlayerEvent;
use crate::player::{Flow, Player};
use crate::render::{Gpu, OFFSCREEN_FORMAT, Offscreen};

pub fn run(startup: Startup, events: mpsc::Receiver<PlayerEvent>) -> anyhow::Result<()> {
    let config = &startup.config;
    let gpu = Gpu::headless()?;
    let offscreen = Offscreen::new(&gpu, config.width, config.height);
    let mut player = Player::new(
        &gpu,
        OFFSCREEN_FORMAT,
        offscreen.size(),
        &config.data_dir,
        startup.sink.clone(),
        startup.background,
    )?;
    let frame_writer = match &config.frames_dir {
        Some(directory) => {
            std::fs::create_dir_all(directory).with_context(|| {
                format!("cannot create the frames folder {}", directory.display())
            })?;
            println!(
                "vitrine-player: headless on {} at {}x{}, writing a frame every {:?} to {}",
                gpu.adapter_name(),
                config.width,
                config.height,
                config.frame_interval,
                directory.display()
            );
            Some(FrameWriter::start(directory.clone())?)
        }
        None => {
            println!(
                "vitrine-player: headless on {} at {}x{}; frames are not written (use --frames-dir DIR)",
                gpu.adapter_name(),
                config.width,
                config.height
            );
            None
        }
    };

    let frame_period = Duration::from_secs_f64(1.0 / f64::from(config.headless_fps));
    let stop_at = config.run_for.map(|run_for| Instant::now() + run_for);
    let mut next_frame = Instant::now();
    let mut next_capture = Instant::now();
    'frames: loop {
        // Apply everything that arrived, waiting for events until the next frame is due.
        loop {
            let wait = next_frame.saturating_duration_since(Instant::now());
            match events.recv_timeout(wait) {
                Ok(event) => {
                    if player.handle(&gpu, event) == Flow::Shutdown {
                        break 'frames;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break 'frames,
            }
        }
        if stop_at.is_some_and(|stop_at| Instant::now() >= stop_at) {
            break;
        }
        let now = Timestamp::now();
        let tick = player.prepare_frame(now);
        player.draw(&gpu, offscreen.view(), offscreen.size(), &tick.content);
        if let Some(writer) = &frame_writer
            && Instant::now() >= next_capture
        {
            writer.write(now, offscreen.read_pixels(&gpu)?);
            next_capture += config.frame_interval;
        }
        next_frame += frame_period;
        // After a stall (a slow readback), skip the missed frames rather than rushing to catch up.
        if next_frame < Instant::now() {
            next_frame = Instant::now();
        }
    }
    player.shutdown(Timestamp::now());
    if let Some(writer) = frame_writer {
        writer.finish();
    }
    Ok(())
}

/// Encodes frames to PNG on its own thread, so encoding never delays the next frame.
struct FrameWriter {
    frames: mpsc::Sender<(Timestamp, image::RgbaImage)>,
    thread: std::thread::JoinHandle<()>,
}

impl FrameWriter {
    fn start(directory: PathBuf) -> anyhow::Result<Self> {
        let (frames, receiver) = mpsc::channel::<(Timestamp, image::RgbaImage)>();
        let thread = std::thread::Builder::new()
            .name("vitrine-frames".into())
            .spawn(move || {
                for (at, frame) in receiver {
                    // Named by the instant the frame shows, in Unix milliseconds, so tests can ask
                    // the schedule engine what it should contain.
                    let path = directory.join(format!("frame-{}.png", at.as_millisecond()));
                    let temporary = path.with_extension("png.tmp");
                    let written = frame
                        .save_with_format(&temporary, image::ImageFormat::Png)
                        .map_err(anyhow::Error::from)
                        .and_then(|()| Ok(std::fs::rename(&temporary, &path)?));
                    if let Err(error) = written {
                        tracing::warn!("cannot write frame {}: {error:#}", path.display());
                    }
                }
            })?;
        Ok(Self { frames, thread })
    }

    fn write(&self, at: Timestamp, frame: image::RgbaImage) {
        let _ = self.frames.send((at, frame));
    }

    fn finish(self) {
        drop(self.frames);
        let _ = self.thread.join();
    }
}
