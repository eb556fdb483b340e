//! The compositor: the [`Renderer`] keeps every texture the screen may need (media, text, tickers,
//! offer cards) under a [`ContentKey`], within a memory budget, and draws a whole [`Scene`] each
//! frame — every zone, z-ordered, its background, then its layers — into any target view.
//!
//! **Invariant: a missing texture never blanks a zone silently.** A layer whose texture is absent is
//! skipped, the zone background shows, and the frame's [`FrameReport`] names it and counts the zone
//! as a gap, so telemetry sees every frame the audience saw something incomplete.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use vitrine_core::Sha256Hex;

use super::crossfade::{CrossfadePipeline, CrossfadeSide, CrossfadeUniform};
use super::geometry::{Rect, clip_quad, fit_rect};
use super::quad::{QuadPipeline, QuadUniform, Sampling, create_render_texture, create_texture};
use super::text::{PlacedText, TextEngine, TextReport, TextSpec, TickerScroll};
use super::yuv::{VideoSurface, YuvFrame, YuvPipeline};
use super::{ContentKey, Gpu, Scene};
use crate::decode::DecodedImage;

/// How much texture memory the renderer may hold before it evicts what was drawn longest ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextureBudget {
    pub max_bytes: u64,
}

impl Default for TextureBudget {
    /// 512 MiB: a dozen 1080p items with their next ones, within what integrated GPUs of store PCs
    /// share with the system.
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// What one frame drew, for telemetry and for the playback timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameReport {
    /// Layers asked for whose texture was not there; they were not drawn.
    pub missing: Vec<ContentKey>,
    /// Zones that had layers but were not fully covered by them: a texture was missing, or the
    /// layers drawn at full opacity did not cover the whole zone. Zero is the only good value.
    pub gap_zones: u32,
    /// Whether anything moves (a transition, a ticker, an animated image): the next frame is due
    /// at the next refresh, and a late one is a missed refresh.
    pub animating: bool,
    /// Every texture drawn, once each.
    pub drawn: Vec<ContentKey>,
}

/// One quad of a frame, bottom to top, with the textures its pipeline binds.
enum Draw<'frame> {
    Image(&'frame wgpu::BindGroup),
    /// A video layer: its planes, converted to RGB by the YUV pipeline.
    Video(&'frame wgpu::BindGroup),
    /// A single-pass crossfade: the outgoing texture, then the incoming one.
    Crossfade(&'frame wgpu::BindGroup, &'frame wgpu::BindGroup),
}

impl Draw<'_> {
    /// Which pipeline draws it: quads of the same kind share one `set_pipeline`.
    fn kind(&self) -> u8 {
        match self {
            Draw::Image(_) => 0,
            Draw::Video(_) => 1,
            Draw::Crossfade(..) => 2,
        }
    }
}

/// A layer placed in its zone, before it becomes a draw: what the single-pass crossfade needs to
/// know to merge two of them.
struct PlacedLayer<'frame> {
    placed: Rect,
    uv: Rect,
    opacity: f32,
    premultiplied: bool,
    /// A video's planes, drawn by the YUV pipeline.
    video: bool,
    /// A scrolling ticker: its texture coordinates wrap, so it is never merged.
    ticker: bool,
    bind_group: &'frame wgpu::BindGroup,
}

/// One uploaded frame of a texture.
struct GpuFrame {
    _texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    delay: Duration,
}

pub(crate) struct Entry {
    frames: Vec<GpuFrame>,
    pub(crate) width: u32,
    pub(crate) height: u32,
    bytes: u64,
    /// Rendered text and cards hold premultiplied alpha; decoded media hold straight alpha.
    premultiplied: bool,
    ticker: Option<TickerScroll>,
    /// The frame number that last drew it: eviction takes the smallest first.
    last_drawn: u64,
    /// A video's planes: drawn with the YUV pipeline, its bind group holding the planes.
    yuv: bool,
}

impl Entry {
    pub(crate) fn first_bind_group(&self) -> &wgpu::BindGroup {
        &self.frames[0].bind_group
    }

    /// The frame of an animation to show `elapsed` into its item; animations loop.
    fn frame_at(&self, elapsed: Duration) -> &GpuFrame {
        if self.frames.len() == 1 {
            return &self.frames[0];
        }
        let cycle: Duration = self.frames.iter().map(|frame| frame.delay).sum();
        if cycle.is_zero() {
            return &self.frames[0];
        }
        let mut into_cycle = Duration::from_nanos((elapsed.as_nanos() % cycle.as_nanos()) as u64);
        for frame in &self.frames {
            if into_cycle < frame.delay {
                return frame;
            }
            into_cycle -= frame.delay;
        }
        &self.frames[self.frames.len() - 1]
    }
}

pub struct Renderer {
    pub(crate) quads: QuadPipeline,
    format: wgpu::TextureFormat,
    uniforms: wgpu::Buffer,
    uniforms_bind_group: wgpu::BindGroup,
    uniform_slots: usize,
    pub(crate) textures: HashMap<ContentKey, Entry>,
    pinned: HashSet<ContentKey>,
    budget: TextureBudget,
    used_bytes: u64,
    evicted: Vec<ContentKey>,
    frame_number: u64,
    pub(crate) text: Option<TextEngine>,
    /// Where brand fonts are read from by digest (the media cache).
    font_dir: Option<std::path::PathBuf>,
    overlay: Option<(String, ContentKey)>,
    /// The video quad pipeline, made with the first video frame.
    yuv: Option<YuvPipeline>,
    /// Each playing video's planes; their bind group is also its entry in `textures`.
    videos: HashMap<ContentKey, VideoSurface>,
    crossfade: CrossfadePipeline,
    /// Whether a crossfade of two pictures on the same rectangle is drawn in one pass (the
    /// default); off, it is drawn as two quads, the way it was before, for comparison.
    single_pass_crossfade: bool,
}

impl Renderer {
    /// A renderer drawing into targets of `format` (others work too, at the cost of one more
    /// pipeline each), with the default [`TextureBudget`].
    pub fn new(gpu: &Gpu, format: wgpu::TextureFormat) -> Self {
        let mut quads = QuadPipeline::new(&gpu.device, &gpu.queue);
        quads.pipeline(&gpu.device, format);
        let mut crossfade =
            CrossfadePipeline::new(&gpu.device, &quads.uniform_layout, &quads.texture_layout);
        crossfade.pipeline(&gpu.device, format);
        let uniform_slots = 64;
        let (uniforms, uniforms_bind_group) = quads.uniform_buffer(&gpu.device, uniform_slots);
        Self {
            quads,
            format,
            uniforms,
            uniforms_bind_group,
            uniform_slots,
            textures: HashMap::new(),
            pinned: HashSet::new(),
            budget: TextureBudget::default(),
            used_bytes: 0,
            evicted: Vec::new(),
            frame_number: 0,
            text: None,
            font_dir: None,
            overlay: None,
            yuv: None,
            videos: HashMap::new(),
            crossfade,
            single_pass_crossfade: true,
        }
    }

    /// Draws crossfades of two pictures on the same rectangle in one pass (`true`, the default)
    /// or as two blended quads: the tests and the bench compare the two.
    pub fn set_single_pass_crossfade(&mut self, single_pass: bool) {
        self.single_pass_crossfade = single_pass;
    }

    pub fn with_budget(mut self, budget: TextureBudget) -> Self {
        self.budget = budget;
        self
    }

    pub fn has(&self, key: &ContentKey) -> bool {
        self.textures.contains_key(key)
    }

    /// Whether the media with this digest is on the GPU.
    pub fn has_media(&self, sha256: &Sha256Hex) -> bool {
        self.has(&ContentKey::Media(sha256.clone()))
    }

    /// Texture memory in use, in bytes.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Never evict `key` for the budget (the splash, the fallback asset).
    pub fn pin(&mut self, key: ContentKey) {
        self.pinned.insert(key);
    }

    /// Keys evicted for the budget since the last call, so playback can ask for them again.
    pub fn take_evicted(&mut self) -> Vec<ContentKey> {
        std::mem::take(&mut self.evicted)
    }

    /// Uploads a decoded image (every frame of an animation) under its digest, replacing any
    /// earlier one. Exceeding the budget evicts what was drawn longest ago; see
    /// [`Renderer::take_evicted`].
    pub fn upload(&mut self, gpu: &Gpu, image: &DecodedImage) {
        let frames = image
            .frames
            .iter()
            .map(|frame| {
                let texture = create_texture(
                    &gpu.device,
                    &gpu.queue,
                    image.width,
                    image.height,
                    &frame.rgba,
                    "media",
                );
                let bind_group =
                    self.quads
                        .texture_bind_group(&gpu.device, &texture, Sampling::Smooth);
                GpuFrame {
                    _texture: texture,
                    bind_group,
                    delay: frame.delay,
                }
            })
            .collect::<Vec<_>>();
        if frames.is_empty() {
            tracing::warn!(sha256 = %image.sha256, "an image with no frames was not uploaded");
            return;
        }
        let bytes = u64::from(image.width) * u64::from(image.height) * 4 * frames.len() as u64;
        self.insert(
            ContentKey::Media(image.sha256.clone()),
            Entry {
                frames,
                width: image.width,
                height: image.height,
                bytes,
                premultiplied: false,
                ticker: None,
                last_drawn: 0,
                yuv: false,
            },
        );
    }

    /// Shows `frame` as the picture of the video under `key`: its planes are uploaded into
    /// textures that stay the video's content while it plays, each frame overwriting the last,
    /// and the compositor converts them to RGB as it draws the layer. An error says why the frame
    /// cannot be shown; the previous frame then stays.
    pub fn upload_video_frame(
        &mut self,
        gpu: &Gpu,
        key: &ContentKey,
        frame: &YuvFrame<'_>,
    ) -> Result<(), String> {
        frame.check()?;
        let max_side = gpu.device.limits().max_texture_dimension_2d;
        if frame.width > max_side || frame.height > max_side {
            return Err(format!(
                "a {}x{} video is larger than this GPU's {max_side}-pixel texture limit",
                frame.width, frame.height
            ));
        }
        let pipeline = self
            .yuv
            .get_or_insert_with(|| YuvPipeline::new(&gpu.device, &self.quads.uniform_layout));
        let mut fresh = false;
        let surface = match self.videos.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(occupied) => {
                let surface = occupied.into_mut();
                if !surface.fits(frame) {
                    *surface = VideoSurface::new(&gpu.device, pipeline, frame);
                    fresh = true;
                }
                surface
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                fresh = true;
                vacant.insert(VideoSurface::new(&gpu.device, pipeline, frame))
            }
        };
        surface.upload(gpu, frame);
        if fresh || !self.textures.contains_key(key) {
            let entry = Entry {
                frames: vec![GpuFrame {
                    _texture: surface.luma.clone(),
                    bind_group: surface.bind_group.clone(),
                    delay: Duration::ZERO,
                }],
                width: frame.width,
                height: frame.height,
                bytes: surface.bytes(),
                premultiplied: true,
                ticker: None,
                last_drawn: 0,
                yuv: true,
            };
            self.insert(key.clone(), entry);
        }
        Ok(())
    }

    /// Forgets a video that has left the screen: its planes and its picture.
    pub fn remove_video(&mut self, key: &ContentKey) {
        self.videos.remove(key);
        if let Some(entry) = self.textures.remove(key) {
            self.used_bytes -= entry.bytes;
        }
    }

    /// Draws text into a texture under `key`, at the size of its zone (`zone_size_px`, logical
    /// pixels). A ticker becomes one line that [`Renderer::render`] scrolls by the layer's elapsed
    /// time; other text is fitted into the zone (shrunk, or cut with an ellipsis below its
    /// smallest size: never cut off), aligned as asked and centred vertically. The report says
    /// how it had to give way and which characters no font has.
    pub fn prepare_text(
        &mut self,
        gpu: &Gpu,
        key: ContentKey,
        spec: &TextSpec,
        zone_size_px: (u32, u32),
    ) -> anyhow::Result<TextReport> {
        let max_side = gpu.device.limits().max_texture_dimension_2d;
        let text = self.text_engine(gpu);
        let (zone_width, zone_height) = (zone_size_px.0.max(1), zone_size_px.1.max(1));
        let (layout, report) = text.lay_out(
            spec,
            spec.ticker
                .is_none()
                .then_some((zone_width as f32, zone_height as f32)),
            None,
        );
        let (size, top, ticker) = match spec.ticker {
            Some(ticker) => {
                let period = (layout.width + ticker.gap_px.max(0.0)).ceil().max(1.0);
                let height = (layout.height.ceil() as u32).clamp(1, max_side);
                let scroll = TickerScroll {
                    speed_px_per_s: ticker.speed_px_per_s,
                    period_px: period,
                    tile_px: period.min(max_side as f32),
                };
                ((period as u32, height), 0.0, Some(scroll))
            }
            None => {
                let top = ((zone_height as f32 - layout.height) / 2.0)
                    .max(0.0)
                    .floor();
                (
                    (zone_width.min(max_side), zone_height.min(max_side)),
                    top,
                    None,
                )
            }
        };
        // One texture, or tiles of the largest texture the GPU has for a long ticker strip.
        let tile_width = size.0.min(max_side);
        let mut placed = PlacedText {
            buffer: layout.buffer,
            left: 0.0,
            top,
            colour: spec.colour,
            bounds: [0, 0, tile_width as i32, size.1 as i32],
        };
        let clear = spec
            .background
            .map_or(wgpu::Color::TRANSPARENT, |background| background.to_wgpu());
        let mut tiles = Vec::new();
        let mut start = 0u32;
        while start < size.0 {
            let width = (size.0 - start).min(tile_width);
            placed.left = -(start as f32);
            placed.bounds = [0, 0, width as i32, size.1 as i32];
            let texture = create_render_texture(&gpu.device, width, size.1, "text");
            text.prepare(
                &gpu.device,
                &gpu.queue,
                (width, size.1),
                std::slice::from_ref(&placed),
            )?;
            let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
            let mut encoder = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("text"),
                });
            {
                let mut pass = begin_pass(&mut encoder, &view, clear, "text");
                text.render(&mut pass)?;
            }
            gpu.queue.submit([encoder.finish()]);
            tiles.push(texture);
            start += width;
        }
        text.trim();
        let sampling = match ticker {
            // One strip repeats by itself; tiles are placed side by side, each clamped.
            Some(_) if tiles.len() == 1 => Sampling::Repeat,
            _ => Sampling::Smooth,
        };
        self.insert_rendered_tiles(gpu, key, tiles, size, sampling, ticker);
        Ok(report)
    }

    /// Stores a texture drawn by the renderer itself (text, cards): premultiplied alpha.
    pub(crate) fn insert_rendered(
        &mut self,
        gpu: &Gpu,
        key: ContentKey,
        texture: wgpu::Texture,
        size: (u32, u32),
        sampling: Sampling,
        ticker: Option<TickerScroll>,
    ) {
        self.insert_rendered_tiles(gpu, key, vec![texture], size, sampling, ticker);
    }

    /// [`Renderer::insert_rendered`] for a picture `size` wide drawn in tiles side by side.
    fn insert_rendered_tiles(
        &mut self,
        gpu: &Gpu,
        key: ContentKey,
        tiles: Vec<wgpu::Texture>,
        size: (u32, u32),
        sampling: Sampling,
        ticker: Option<TickerScroll>,
    ) {
        let frames = tiles
            .into_iter()
            .map(|texture| GpuFrame {
                bind_group: self
                    .quads
                    .texture_bind_group(&gpu.device, &texture, sampling),
                _texture: texture,
                delay: Duration::ZERO,
            })
            .collect();
        self.insert(
            key,
            Entry {
                frames,
                width: size.0,
                height: size.1,
                bytes: u64::from(size.0) * u64::from(size.1) * 4,
                premultiplied: true,
                ticker,
                last_drawn: 0,
                yuv: false,
            },
        );
    }

    pub(crate) fn text_engine(&mut self, gpu: &Gpu) -> &mut TextEngine {
        let font_dir = &self.font_dir;
        self.text.get_or_insert_with(|| {
            let mut engine = TextEngine::new(&gpu.device, &gpu.queue);
            if let Some(dir) = font_dir {
                engine.set_font_dir(dir);
            }
            engine
        })
    }

    /// Where brand fonts named by digest are read from: the media cache.
    pub fn set_font_dir(&mut self, dir: &std::path::Path) {
        self.font_dir = Some(dir.to_owned());
        if let Some(engine) = &mut self.text {
            engine.set_font_dir(dir);
        }
    }

    fn insert(&mut self, key: ContentKey, mut entry: Entry) {
        // A replacement keeps its predecessor's age, so re-uploading on screen content is not evicted.
        if let Some(previous) = self.textures.remove(&key) {
            self.used_bytes -= previous.bytes;
            entry.last_drawn = previous.last_drawn;
        } else {
            entry.last_drawn = self.frame_number;
        }
        self.used_bytes += entry.bytes;
        self.textures.insert(key.clone(), entry);
        self.enforce_budget(&key);
    }

    /// Evicts the least recently drawn textures until the budget holds. What the last frame drew,
    /// what is pinned and what was just uploaded stay: the budget may then be exceeded, and that is
    /// logged, because dropping what is on screen would break the never-black promise.
    fn enforce_budget(&mut self, just_uploaded: &ContentKey) {
        while self.used_bytes > self.budget.max_bytes {
            let victim = self
                .textures
                .iter()
                .filter(|(key, entry)| {
                    *key != just_uploaded
                        && !self.pinned.contains(*key)
                        && (entry.last_drawn < self.frame_number || self.frame_number == 0)
                })
                .min_by_key(|(key, entry)| (entry.last_drawn, (*key).clone()))
                .map(|(key, _)| key.clone());
            let Some(victim) = victim else {
                tracing::warn!(
                    used = self.used_bytes,
                    budget = self.budget.max_bytes,
                    "texture memory is over budget, but everything held is on screen"
                );
                return;
            };
            if let Some(entry) = self.textures.remove(&victim) {
                self.used_bytes -= entry.bytes;
            }
            tracing::debug!(key = %victim, "texture evicted for the memory budget");
            self.evicted.push(victim);
        }
    }

    /// Drops every texture not in `keep` (nor pinned); returns the keys dropped.
    pub fn retain(&mut self, keep: &HashSet<ContentKey>) -> Vec<ContentKey> {
        let dropped: Vec<ContentKey> = self
            .textures
            .keys()
            .filter(|key| !keep.contains(*key) && !self.pinned.contains(*key))
            .cloned()
            .collect();
        for key in &dropped {
            if let Some(entry) = self.textures.remove(key) {
                self.used_bytes -= entry.bytes;
            }
            self.videos.remove(key);
        }
        dropped
    }

    /// Draws one frame of `scene` into `target` (`target_size` pixels, in any format; the
    /// renderer's own is fastest), and says what it drew.
    pub fn render(
        &mut self,
        gpu: &Gpu,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        scene: &Scene,
    ) -> FrameReport {
        self.render_to(gpu, target, self.format, target_size, scene)
    }

    /// [`Renderer::render`] into a target of another `format`.
    pub fn render_to(
        &mut self,
        gpu: &Gpu,
        target: &wgpu::TextureView,
        format: wgpu::TextureFormat,
        target_size: (u32, u32),
        scene: &Scene,
    ) -> FrameReport {
        self.frame_number += 1;
        let frame_number = self.frame_number;
        if let Some(text) = &scene.overlay {
            self.prepare_overlay(gpu, text);
        }
        let slots_needed = scene
            .zones
            .iter()
            .map(|zone| zone.layers.len() + 1)
            .sum::<usize>()
            + 2;
        if slots_needed > self.uniform_slots {
            self.uniform_slots = slots_needed.next_power_of_two();
            (self.uniforms, self.uniforms_bind_group) =
                self.quads.uniform_buffer(&gpu.device, self.uniform_slots);
        }
        self.quads.pipeline(&gpu.device, format);
        self.crossfade.pipeline(&gpu.device, format);
        if let Some(yuv) = &mut self.yuv {
            yuv.pipeline(&gpu.device, format);
        }

        let logical = scene.rotation.logical_size(target_size);
        let mut report = FrameReport::default();
        let mut uniforms: Vec<QuadUniform> = Vec::new();
        let mut draws: Vec<Draw<'_>> = Vec::new();
        let mut drawn: HashSet<&ContentKey> = HashSet::new();
        let quad = |placed: Rect, uv: Rect, tint: [f32; 4], premultiplied: bool| {
            QuadUniform::new(placed, uv, logical, scene.rotation, tint, premultiplied)
        };

        for zone in &scene.zones {
            let zone_rect = Rect::from_fractions(zone.rect, logical);
            if let Some(background) = zone.background {
                uniforms.push(quad(
                    zone_rect,
                    Rect::UNIT,
                    background.to_linear_premultiplied(),
                    false,
                ));
                draws.push(Draw::Image(&self.quads.white));
            }
            let mut placed_layers: Vec<PlacedLayer<'_>> = Vec::with_capacity(zone.layers.len());
            // The share of the zone covered by layers drawn at full opacity; below 1 is a gap.
            let mut covered = 0.0f32;
            let mut complete = true;
            for layer in &zone.layers {
                let opacity = layer.opacity.clamp(0.0, 1.0);
                if opacity < 1.0 || layer.offset != [0.0, 0.0] {
                    report.animating = true;
                }
                let Some(entry) = self.textures.get(&layer.content) else {
                    report.missing.push(layer.content.clone());
                    complete = false;
                    continue;
                };
                if opacity >= 1.0 {
                    covered += (1.0 - layer.offset[0].abs()).max(0.0)
                        * (1.0 - layer.offset[1].abs()).max(0.0);
                }
                if entry.frames.len() > 1 || entry.ticker.is_some() {
                    report.animating = true;
                }
                if drawn.insert(&layer.content) {
                    report.drawn.push(layer.content.clone());
                }
                let shift = |rect: Rect| {
                    Rect::new(
                        rect.x + layer.offset[0] * zone_rect.width,
                        rect.y + layer.offset[1] * zone_rect.height,
                        rect.width,
                        rect.height,
                    )
                };
                let pieces = match entry.ticker {
                    Some(ticker) if entry.frames.len() > 1 => {
                        ticker_tiles(entry, ticker, zone_rect, layer.elapsed)
                    }
                    Some(ticker) => {
                        let (placed, uv) = ticker_quad(entry, ticker, zone_rect, layer.elapsed);
                        vec![(placed, uv, 0)]
                    }
                    None => {
                        let (placed, uv) =
                            fit_rect((entry.width, entry.height), zone_rect, layer.fit);
                        vec![(placed, uv, 0)]
                    }
                };
                for (placed, uv, tile) in pieces {
                    let Some((placed, uv)) = clip_quad(shift(placed), uv, zone_rect) else {
                        continue;
                    };
                    let frame = match entry.ticker {
                        Some(_) => &entry.frames[tile.min(entry.frames.len() - 1)],
                        None => entry.frame_at(layer.elapsed),
                    };
                    placed_layers.push(PlacedLayer {
                        placed,
                        uv,
                        opacity,
                        premultiplied: entry.premultiplied,
                        video: entry.yuv,
                        ticker: entry.ticker.is_some(),
                        bind_group: &frame.bind_group,
                    });
                }
            }
            if !zone.layers.is_empty() && (!complete || covered < 0.999) {
                report.gap_zones += 1;
            }
            match placed_layers.as_slice() {
                [lower, upper]
                    if self.single_pass_crossfade
                        && zone.layers.len() == 2
                        && !(lower.video || lower.ticker)
                        && !(upper.video || upper.ticker)
                        && lower.opacity >= 1.0
                        && same_rect(lower.placed, upper.placed) =>
                {
                    let side = |layer: &PlacedLayer<'_>| CrossfadeSide {
                        uv: layer.uv,
                        premultiplied: layer.premultiplied,
                    };
                    uniforms.push(
                        CrossfadeUniform::new(
                            lower.placed,
                            logical,
                            scene.rotation,
                            side(lower),
                            side(upper),
                            upper.opacity,
                        )
                        .into_slot(),
                    );
                    draws.push(Draw::Crossfade(lower.bind_group, upper.bind_group));
                }
                _ => {
                    for layer in placed_layers {
                        uniforms.push(quad(
                            layer.placed,
                            layer.uv,
                            [layer.opacity; 4],
                            layer.premultiplied,
                        ));
                        draws.push(if layer.video {
                            Draw::Video(layer.bind_group)
                        } else {
                            Draw::Image(layer.bind_group)
                        });
                    }
                }
            }
        }

        if scene.overlay.is_some()
            && let Some((_, key)) = &self.overlay
            && let Some(entry) = self.textures.get(key)
        {
            let panel = Rect::new(
                0.0,
                0.0,
                entry.width as f32 + 16.0,
                entry.height as f32 + 8.0,
            );
            uniforms.push(quad(panel, Rect::UNIT, [0.0, 0.0, 0.0, 0.6], true));
            draws.push(Draw::Image(&self.quads.white));
            let text = Rect::new(8.0, 4.0, entry.width as f32, entry.height as f32);
            uniforms.push(quad(text, Rect::UNIT, [1.0; 4], true));
            draws.push(Draw::Image(&entry.frames[0].bind_group));
        }

        let bytes = self.quads.pack(uniforms.into_iter());
        if !bytes.is_empty() {
            gpu.queue.write_buffer(&self.uniforms, 0, &bytes);
        }
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        {
            let mut pass = begin_pass(&mut encoder, target, scene.background.to_wgpu(), "frame");
            let video_pipeline = self.yuv.as_ref().and_then(|yuv| yuv.pipelines.get(&format));
            let pipelines = [
                self.quads.pipelines.get(&format),
                video_pipeline,
                self.crossfade.pipelines.get(&format),
            ];
            // Quads keep their order (bottom to top); the pipeline switches where the kind of
            // quad changes.
            let mut current = None;
            for (index, draw) in draws.iter().enumerate() {
                let kind = draw.kind();
                if current != Some(kind) {
                    let Some(pipeline) = pipelines[usize::from(kind)] else {
                        continue;
                    };
                    pass.set_pipeline(pipeline);
                    current = Some(kind);
                }
                pass.set_bind_group(
                    0,
                    &self.uniforms_bind_group,
                    &[(index as u64 * self.quads.stride) as u32],
                );
                match draw {
                    Draw::Image(texture) | Draw::Video(texture) => {
                        pass.set_bind_group(1, *texture, &[]);
                    }
                    Draw::Crossfade(lower, upper) => {
                        pass.set_bind_group(1, *lower, &[]);
                        pass.set_bind_group(2, *upper, &[]);
                    }
                }
                pass.draw(0..4, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        for key in &report.drawn {
            if let Some(entry) = self.textures.get_mut(key) {
                entry.last_drawn = frame_number;
            }
        }
        report
    }

    /// Keeps the `--show-stats` text in a texture, redrawn only when the text changes.
    fn prepare_overlay(&mut self, gpu: &Gpu, text: &str) {
        if self
            .overlay
            .as_ref()
            .is_some_and(|(shown, key)| shown == text && self.textures.contains_key(key))
        {
            return;
        }
        let spec = TextSpec {
            align: super::TextAlign::Left,
            min_size_px: 16.0,
            ..TextSpec::plain(text, 16.0)
        };
        let (width, height) = {
            let engine = self.text_engine(gpu);
            let (layout, _) = engine.lay_out(&spec, None, None);
            (
                layout.width.ceil() as u32 + 1,
                layout.height.ceil() as u32 + 1,
            )
        };
        let key = ContentKey::Generated("overlay".into());
        self.pin(key.clone());
        match self.prepare_text(gpu, key.clone(), &spec, (width, height)) {
            Ok(_) => self.overlay = Some((text.to_owned(), key)),
            Err(error) => tracing::warn!("cannot draw the stats overlay: {error:#}"),
        }
    }
}

/// Whether two placed rectangles are the same to within a hundredth of a pixel.
fn same_rect(first: Rect, second: Rect) -> bool {
    (first.x - second.x).abs() < 0.01
        && (first.y - second.y).abs() < 0.01
        && (first.width - second.width).abs() < 0.01
        && (first.height - second.height).abs() < 0.01
}

/// A ticker strip drawn in tiles: the pieces of the tiles that show in the zone, left to right,
/// each with its place, its texture coordinates in its tile, and the tile's index. The zone is at
/// most a screen wide and a tile the GPU's largest texture, so there are a few pieces at most.
fn ticker_tiles(
    entry: &Entry,
    ticker: TickerScroll,
    zone: Rect,
    elapsed: Duration,
) -> Vec<(Rect, Rect, usize)> {
    let scale = (zone.height / entry.height as f32).min(1.0);
    let height = entry.height as f32 * scale;
    let top = zone.y + (zone.height - height) / 2.0;
    let period = ticker.period_px.max(1.0);
    let tile_px = ticker.tile_px.max(1.0);
    let mut position = ticker.offset_px(elapsed);
    let mut left = zone.x;
    let mut remaining = zone.width / scale;
    let mut pieces = Vec::new();
    while remaining > 0.01 && pieces.len() < 16 {
        let tile = ((position / tile_px).floor() as usize).min(entry.frames.len() - 1);
        let tile_start = tile as f32 * tile_px;
        let tile_end = (tile_start + tile_px).min(period);
        let tile_width = (tile_end - tile_start).max(1.0);
        let take = (tile_end - position).min(remaining).max(0.01);
        pieces.push((
            Rect::new(left, top, take * scale, height),
            Rect::new(
                (position - tile_start) / tile_width,
                0.0,
                take / tile_width,
                1.0,
            ),
            tile,
        ));
        left += take * scale;
        remaining -= take;
        position += take;
        if position >= period - 0.01 {
            position = 0.0;
        }
    }
    pieces
}

/// A ticker strip in its zone: as tall as its text (shrunk if the zone is lower), centred
/// vertically, scrolled left by the time its item has been on screen.
fn ticker_quad(entry: &Entry, ticker: TickerScroll, zone: Rect, elapsed: Duration) -> (Rect, Rect) {
    let scale = (zone.height / entry.height as f32).min(1.0);
    let height = entry.height as f32 * scale;
    let placed = Rect::new(
        zone.x,
        zone.y + (zone.height - height) / 2.0,
        zone.width,
        height,
    );
    // Texture coordinates beyond 1 wrap around (the ticker's sampler repeats sideways).
    let start = ticker.offset_px(elapsed) / ticker.period_px;
    let span = zone.width / (ticker.period_px * scale);
    (placed, Rect::new(start, 0.0, span, 1.0))
}

pub(crate) fn begin_pass<'encoder>(
    encoder: &'encoder mut wgpu::CommandEncoder,
    target: &wgpu::TextureView,
    clear: wgpu::Color,
    label: &str,
) -> wgpu::RenderPass<'encoder> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: target,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(clear),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}
