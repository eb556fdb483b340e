//! Window mode: a borderless fullscreen winit window, cursor hidden, presenting with vsync.
//!
//! The window is sized to the monitor explicitly, because under a bare X server with no window
//! manager a "fullscreen" request alone leaves it at 800x600. Surface loss and resizes are routine:
//! the surface is reconfigured and the frame drawn again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::window::{Fullscreen, Window, WindowId};

use crate::Startup;
use crate::display::{MonitorChoice, select_monitor};
use crate::events::PlayerEvent;
use crate::playback::Frame;
use crate::player::{Flow, Player, ScreenSetup};
use crate::render::{ContentKey, Gpu, Offscreen, Rotation};

/// What a frame shows, zone by zone, ignoring time: two frames with the same signature look alike
/// unless something in them moves.
fn signature(frame: &Frame) -> Vec<Vec<ContentKey>> {
    let mut signature: Vec<Vec<ContentKey>> = frame
        .scene
        .zones
        .iter()
        .map(|zone| {
            zone.layers
                .iter()
                .map(|layer| layer.content.clone())
                .collect()
        })
        .collect();
    if let Some(overlay) = &frame.scene.overlay {
        signature.push(vec![ContentKey::Generated(overlay.clone())]);
    }
    signature
}

/// The longest the loop sleeps even with no deadline, so a stopped clock or lost wake-up heals.
const MAX_IDLE: Duration = Duration::from_secs(1);

pub fn run(startup: Startup, event_loop: EventLoop<PlayerEvent>) -> anyhow::Result<()> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
        Box::new(event_loop.owned_display_handle()),
    ));
    let mut app = App {
        startup: Some(startup),
        instance,
        state: None,
        error: None,
    };
    event_loop
        .run_app(&mut app)
        .context("the window event loop failed")?;
    match app.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Creates the event loop first: its proxy is the event sink the other threads post to.
pub fn event_loop() -> anyhow::Result<EventLoop<PlayerEvent>> {
    EventLoop::<PlayerEvent>::with_user_event()
        .build()
        .context("cannot open the display; set DISPLAY or WAYLAND_DISPLAY, or run with --headless")
}

struct App {
    startup: Option<Startup>,
    instance: wgpu::Instance,
    state: Option<WindowState>,
    error: Option<anyhow::Error>,
}

struct WindowState {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    surface_config: wgpu::SurfaceConfiguration,
    gpu: Gpu,
    player: Player,
    /// The frame decided last, drawn at the next redraw.
    frame: Option<Frame>,
    /// What the last drawn frame showed, to redraw only when that changes (or something moves).
    drawn: Option<Vec<Vec<ContentKey>>>,
    /// The last drawn frame moved (a transition, a ticker, an animated image): keep drawing.
    animating: bool,
}

impl App {
    fn start(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let Some(startup) = self.startup.take() else {
            return Ok(());
        };
        let choice: MonitorChoice = startup
            .config
            .monitor
            .parse()
            .unwrap_or(MonitorChoice::Primary);
        let monitor = select_monitor(event_loop, &choice);
        let mut attributes = Window::default_attributes()
            .with_title("Vitrine")
            .with_decorations(false)
            .with_fullscreen(Some(Fullscreen::Borderless(monitor.clone())));
        if let Some(monitor) = &monitor {
            attributes = attributes
                .with_inner_size(monitor.size())
                .with_position(monitor.position());
        } else {
            attributes = attributes.with_inner_size(winit::dpi::PhysicalSize::new(
                startup.config.width,
                startup.config.height,
            ));
        }
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .context("cannot create the player window")?,
        );
        window.set_cursor_visible(false);
        let surface = self
            .instance
            .create_surface(window.clone())
            .context("cannot create a drawing surface for the window")?;
        let gpu = Gpu::new(self.instance.clone(), Some(&surface))?;
        let size = window.inner_size();
        let mut surface_config = surface
            .get_default_config(&gpu.adapter, size.width.max(1), size.height.max(1))
            .context("the GPU cannot present to this window")?;
        // Media textures are sRGB; an sRGB surface keeps colours as they are in the files.
        let capabilities = surface.get_capabilities(&gpu.adapter);
        if let Some(format) = capabilities.formats.iter().find(|format| format.is_srgb()) {
            surface_config.format = *format;
        }
        surface_config.present_mode = wgpu::PresentMode::AutoVsync;
        // Where the surface allows it, a screenshot copies the presented texture itself; where it
        // does not, the frame is drawn a second time into an offscreen target (see `redraw`).
        if capabilities.usages.contains(wgpu::TextureUsages::COPY_SRC) {
            surface_config.usage |= wgpu::TextureUsages::COPY_SRC;
            tracing::info!("screenshots copy the window's surface");
        } else {
            tracing::info!(
                "screenshots draw their frame again offscreen: the surface cannot be copied"
            );
        }
        surface.configure(&gpu.device, &surface_config);
        let refresh = monitor
            .as_ref()
            .and_then(|monitor| monitor.refresh_rate_millihertz())
            .filter(|millihertz| *millihertz > 0)
            .map_or(Duration::from_micros(16_667), |millihertz| {
                Duration::from_secs_f64(1000.0 / f64::from(millihertz))
            });
        let mut player = Player::new(
            &gpu,
            surface_config.format,
            &ScreenSetup {
                physical_px: (surface_config.width, surface_config.height),
                rotation: Rotation::from_degrees(startup.config.rotation).unwrap_or(Rotation::Deg0),
                refresh,
                show_stats: startup.config.show_stats,
                qr_key: startup.config.qr_key(),
                video: startup.config.video_settings(),
                audio: startup.config.audio.clone(),
                screen_name: startup.config.screen.clone(),
                stats_file: startup.config.stats_file.clone(),
                drm_dir: startup.config.display.drm_dir.clone(),
            },
            &startup.config.data_dir,
            startup.sink.clone(),
            startup.background,
            startup.status.clone(),
        )?;
        player.set_clock(startup.clock.clone());
        println!(
            "vitrine-player: window {}x{} on {} ({})",
            surface_config.width,
            surface_config.height,
            monitor
                .and_then(|monitor| monitor.name())
                .unwrap_or_else(|| "an unnamed monitor".into()),
            gpu.adapter_name()
        );
        self.state = Some(WindowState {
            window,
            surface,
            surface_config,
            gpu,
            player,
            frame: None,
            drawn: None,
            animating: false,
        });
        Ok(())
    }

    fn fail(&mut self, event_loop: &ActiveEventLoop, error: anyhow::Error) {
        self.error = Some(error);
        event_loop.exit();
    }
}

impl ApplicationHandler<PlayerEvent> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if let Err(error) = self.start(event_loop) {
            self.fail(event_loop, error);
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: PlayerEvent) {
        let Some(state) = &mut self.state else {
            if matches!(event, PlayerEvent::Shutdown) {
                event_loop.exit();
            }
            return;
        };
        if state.player.handle(&state.gpu, event) == Flow::Shutdown {
            event_loop.exit();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let Some(state) = &mut self.state else {
            return;
        };
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => {
                state.surface_config.width = size.width.max(1);
                state.surface_config.height = size.height.max(1);
                state
                    .surface
                    .configure(&state.gpu.device, &state.surface_config);
                state.drawn = None;
                state.window.request_redraw();
            }
            WindowEvent::RedrawRequested => state.redraw(),
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        let Some(state) = &mut self.state else {
            return;
        };
        // The watchdog pets only while this loop turns; it wakes at least every `MAX_IDLE`.
        crate::service::turn();
        // Decided for when it will be presented: a frame time from now, and while something moves
        // (frames due every refresh) half a refresh more, so an item starts in the frame nearest
        // its scheduled start. An idle window wakes that much before the next item instead.
        let now = Timestamp::now()
            .checked_add(state.player.presentation_lead(state.animating))
            .unwrap_or_else(|_| Timestamp::now());
        let frame = state.player.prepare_frame(&state.gpu, now);
        let moving = frame.animating || state.animating;
        // A screenshot is of the next frame presented, so there must be one.
        if moving
            || state.player.wants_screenshot()
            || state.drawn.as_ref() != Some(&signature(&frame))
        {
            state.window.request_redraw();
        }
        if moving {
            // Presenting with vsync paces the loop to the display.
            event_loop.set_control_flow(ControlFlow::Poll);
        } else {
            let wait = frame
                .next_deadline
                .map(|deadline| deadline.duration_since(now).unsigned_abs())
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE);
            event_loop.set_control_flow(ControlFlow::WaitUntil(Instant::now() + wait));
        }
        state.frame = Some(frame);
    }

    fn exiting(&mut self, _: &ActiveEventLoop) {
        if let Some(state) = self.state.take() {
            state.player.shutdown(Timestamp::now());
        } else if let Some(startup) = self.startup.take()
            && let Some(background) = startup.background
        {
            background.shutdown();
        }
    }
}

impl WindowState {
    /// The frame just drawn into `surface_texture`, read back for a screenshot: copied from the
    /// surface when it allows copies, else drawn again into an offscreen target of the surface's
    /// format and size.
    fn read_back(
        &mut self,
        surface_texture: &wgpu::Texture,
        frame: &Frame,
    ) -> anyhow::Result<image::RgbaImage> {
        if self
            .surface_config
            .usage
            .contains(wgpu::TextureUsages::COPY_SRC)
        {
            return crate::render::read_texture(&self.gpu, surface_texture);
        }
        let size = (self.surface_config.width, self.surface_config.height);
        let target = Offscreen::with_format(&self.gpu, size.0, size.1, self.surface_config.format);
        self.player.draw(&self.gpu, target.view(), size, frame);
        target.read_pixels(&self.gpu)
    }

    fn redraw(&mut self) {
        if self.frame.is_none() {
            return;
        }
        let started = Instant::now();
        let surface_texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture) => texture,
            wgpu::CurrentSurfaceTexture::Suboptimal(texture) => {
                // Draw this one; the next frame gets a surface that matches again.
                self.surface
                    .configure(&self.gpu.device, &self.surface_config);
                texture
            }
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                tracing::info!("window surface lost or outdated; reconfiguring");
                self.surface
                    .configure(&self.gpu.device, &self.surface_config);
                self.window.request_redraw();
                return;
            }
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                return;
            }
            other => {
                tracing::warn!("cannot draw this frame: {other:?}");
                self.window.request_redraw();
                return;
            }
        };
        let Some(frame) = self.frame.take() else {
            return;
        };
        let view = surface_texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let report = self.player.draw(
            &self.gpu,
            &view,
            (self.surface_config.width, self.surface_config.height),
            &frame,
        );
        if self.player.wants_screenshot() {
            let pixels = self.read_back(&surface_texture.texture, &frame);
            self.player.screenshot_taken(pixels);
        }
        self.window.pre_present_notify();
        self.gpu.queue.present(surface_texture);
        self.player.presented(started, &report);
        crate::service::drew();
        self.animating = report.animating;
        self.drawn = Some(signature(&frame));
    }
}
