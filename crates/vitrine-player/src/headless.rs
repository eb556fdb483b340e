//! Headless mode: the same renderer drawing into an offscreen texture at a fixed frame rate, for
//! machines without a display and for tests, which read the frames back as PNG files.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;

use crate::Startup;
use crate::events::PlayerEvent;
use crate::player::{Flow, Player, ScreenSetup};
use crate::render::{Gpu, OFFSCREEN_FORMAT, Offscreen, Rotation};

pub fn run(startup: Startup, events: mpsc::Receiver<PlayerEvent>) -> anyhow::Result<()> {
    let config = &startup.config;
    let gpu = Gpu::headless()?;
    let rotation = Rotation::from_degrees(config.rotation).unwrap_or(Rotation::Deg0);
    // The offscreen target is the physical framebuffer; a rotated screen is laid out upright.
    let physical = if rotation.swaps_axes() {
        (config.height, config.width)
    } else {
        (config.width, config.height)
    };
    let offscreen = Offscreen::new(&gpu, physical.0, physical.1);
    let mut player = Player::new(
        &gpu,
        OFFSCREEN_FORMAT,
        &ScreenSetup {
            physical_px: offscreen.size(),
            rotation,
            refresh: Duration::from_secs_f64(1.0 / f64::from(config.headless_fps)),
            show_stats: config.show_stats,
            qr_key: config.qr_key(),
            video: config.video_settings(),
            audio: config.audio.clone(),
            screen_name: config.screen.clone(),
            stats_file: config.stats_file.clone(),
            drm_dir: config.display.drm_dir.clone(),
        },
        &config.data_dir,
        startup.sink.clone(),
        startup.background,
        startup.status.clone(),
    )?;
    player.set_clock(startup.clock.clone());
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
        // The watchdog pets only while this loop turns.
        crate::service::turn();
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
        let started = Instant::now();
        // Frames come every period: the one decided now is presented when its work is done,
        // and an item starts in the frame nearest its scheduled start.
        let now = Timestamp::now()
            .checked_add(player.presentation_lead(true))
            .unwrap_or_else(|_| Timestamp::now());
        let frame = player.prepare_frame(&gpu, now);
        let report = player.draw(&gpu, offscreen.view(), offscreen.size(), &frame);
        gpu.wait_idle()?;
        player.presented(started, &report);
        crate::service::drew();
        // HQ's screenshot is this frame; only the readback happens here, the rest on the network
        // thread.
        if player.wants_screenshot() {
            player.screenshot_taken(offscreen.read_pixels(&gpu));
        }
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
