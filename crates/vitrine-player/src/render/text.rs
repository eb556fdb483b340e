//! Text through glyphon: laid out by `vitrine-text` (the declared font chain, brand fonts, and
//! fitting that never cuts text off) and rasterised by swash. Only declared fonts are loaded, never
//! whatever else the machine has, so frames are the same on every machine and golden images hold.
//!
//! Text is drawn once into a texture (premultiplied alpha) and then composited like any picture:
//! a text item at its zone's size, a ticker as one long strip the compositor scrolls with the
//! clock. Big glyphs strain glyphon's atlas; drawing each text once keeps that cost off frames.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use glyphon::{
    Buffer, Cache, Resolution, SwashCache, TextArea, TextAtlas, TextBounds, TextRenderer, Viewport,
};
use serde::Deserialize;
use vitrine_core::Sha256Hex;
use vitrine_text::{BrandFace, Fitted, Fonts, Outcome, TextRequest};

use super::{Color, ContentKey};

/// Horizontal alignment of text in its zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextAlign {
    Left,
    #[default]
    Center,
    Right,
}

/// A text item or ticker: what to write and how.
#[derive(Clone, Debug, PartialEq)]
pub struct TextSpec {
    pub text: String,
    /// The largest letter size wanted, in pixels of the logical screen.
    pub size_px: f32,
    /// Text that does not fit even at this size is cut with an ellipsis.
    pub min_size_px: f32,
    /// A brand font from the media cache; characters it lacks come from the fallback chain.
    pub font: Option<Sha256Hex>,
    /// The store's locale (`ja-JP`): which forms of Han characters readers expect.
    pub locale: String,
    pub colour: Color,
    pub align: TextAlign,
    pub bold: bool,
    /// Scroll sideways as one line instead of wrapping in the zone.
    pub ticker: Option<TickerSpec>,
    /// Filled behind the text: the whole zone, or a ticker's band.
    pub background: Option<Color>,
}

/// How a ticker moves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickerSpec {
    /// Leftwards, in logical pixels per second.
    pub speed_px_per_s: f32,
    /// Space between the end of the text and its next repetition, in pixels.
    pub gap_px: f32,
}

impl TextSpec {
    /// `text` in white, centred, at `size_px` (and no smaller than a tenth of it), in the default
    /// fonts for `en-US`.
    pub fn plain(text: impl Into<String>, size_px: f32) -> Self {
        Self {
            text: text.into(),
            size_px,
            min_size_px: size_px / 10.0,
            font: None,
            locale: "en-US".into(),
            colour: Color::WHITE,
            align: TextAlign::Center,
            bold: false,
            ticker: None,
            background: None,
        }
    }

    /// The texture key for this text drawn in a zone of `zone_size_px`: equal text shares one
    /// texture, and any change (even the zone's size) makes a new one.
    pub fn key(&self, zone_size_px: (u32, u32)) -> ContentKey {
        let ticker = self
            .ticker
            .map(|ticker| [ticker.speed_px_per_s.to_bits(), ticker.gap_px.to_bits()])
            .unwrap_or_default();
        let shape = format!(
            "{}/{}/{:?}/{}/{:?}/{:?}/{}/{:?}/{}x{}/{:?}",
            self.size_px.to_bits(),
            self.min_size_px.to_bits(),
            self.font,
            self.locale,
            self.colour,
            self.background,
            self.bold,
            self.align,
            zone_size_px.0,
            zone_size_px.1,
            ticker
        );
        ContentKey::generated(
            if self.ticker.is_some() {
                "ticker"
            } else {
                "text"
            },
            &[self.text.as_bytes(), shape.as_bytes()],
        )
    }
}

/// The scroll state the compositor keeps with a ticker's texture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TickerScroll {
    pub(crate) speed_px_per_s: f32,
    /// The strip's width: text plus gap, after which it repeats.
    pub(crate) period_px: f32,
    /// The width of each of the strip's textures but the last: a strip longer than the GPU's
    /// largest texture is drawn in tiles, so no ticker is ever cut.
    pub(crate) tile_px: f32,
}

impl TickerScroll {
    /// How far the strip has moved after `elapsed`, in pixels within one period.
    pub(crate) fn offset_px(&self, elapsed: Duration) -> f32 {
        let travelled = elapsed.as_secs_f64() * f64::from(self.speed_px_per_s);
        // f64 keeps sub-pixel precision after days on screen; the modulo keeps it in one period.
        travelled.rem_euclid(f64::from(self.period_px.max(1.0))) as f32
    }
}

/// One block of text placed in a target.
pub(crate) struct PlacedText {
    pub(crate) buffer: Buffer,
    pub(crate) left: f32,
    pub(crate) top: f32,
    pub(crate) colour: Color,
    /// Clip rectangle in target pixels.
    pub(crate) bounds: [i32; 4],
}

/// How a text came out when it was laid out, for the log and the heartbeat's alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct TextReport {
    pub outcome: Outcome,
    /// The size it was set at, and the one asked for.
    pub size_px: f32,
    pub wanted_px: f32,
    /// Characters no font has a glyph for.
    pub missing: Vec<char>,
    /// Why the brand font could not be used, when it could not.
    pub font_problem: Option<String>,
    /// How long the layout took (fonts read, shaping, fitting), before any glyph was drawn.
    pub layout_time: Duration,
}

impl TextReport {
    /// What staff should hear about, if anything: shrunk, cut, missing characters, a bad font.
    pub fn alert(&self) -> Option<String> {
        let mut parts = Vec::new();
        match self.outcome {
            Outcome::Whole => {}
            Outcome::Shrunk if !vitrine_text::noticeably_shrunk(self.wanted_px, self.size_px) => {}
            Outcome::Shrunk => parts.push(format!(
                "shrunk from {} px to {} px to fit",
                pixels(self.wanted_px),
                pixels(self.size_px)
            )),
            Outcome::Ellipsised => parts.push(format!(
                "cut with an ellipsis at the smallest size, {} px",
                pixels(self.size_px)
            )),
            Outcome::NoRoom => parts.push("has no room to show at all".into()),
        }
        if !self.missing.is_empty() {
            let characters: Vec<String> = self
                .missing
                .iter()
                .map(|c| format!("`{c}` (U+{:04X})", u32::from(*c)))
                .collect();
            parts.push(format!("no font has {}", characters.join(", ")));
        }
        if let Some(problem) = &self.font_problem {
            parts.push(problem.clone());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A size for people: whole pixels, or tenths when that is the difference.
fn pixels(size: f32) -> String {
    if (size - size.round()).abs() < 0.05 {
        format!("{:.0}", size.round())
    } else {
        format!("{size:.1}")
    }
}

/// glyphon's state: the fonts, the glyph atlas and its pipeline, for RGBA8 sRGB textures.
pub(crate) struct TextEngine {
    fonts: Fonts,
    swash_cache: SwashCache,
    atlas: TextAtlas,
    renderer: TextRenderer,
    viewport: Viewport,
    /// Where brand fonts are, by digest: the media cache.
    font_dir: Option<PathBuf>,
    /// Brand fonts that could not be read, and why: tried once.
    unreadable: HashMap<Sha256Hex, String>,
}

impl TextEngine {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let fonts = Fonts::new("en-US");
        for font in fonts.absent() {
            tracing::warn!(
                "font {} is missing: install the {} package; text in its script shows as boxes",
                font.path,
                font.package
            );
        }
        let cache = Cache::new(device);
        let mut atlas = TextAtlas::new(device, queue, &cache, wgpu::TextureFormat::Rgba8UnormSrgb);
        let renderer =
            TextRenderer::new(&mut atlas, device, wgpu::MultisampleState::default(), None);
        let viewport = Viewport::new(device, &cache);
        Self {
            fonts,
            swash_cache: SwashCache::new(),
            atlas,
            renderer,
            viewport,
            font_dir: None,
            unreadable: HashMap::new(),
        }
    }

    /// Where brand fonts are read from, by their digest.
    pub(crate) fn set_font_dir(&mut self, dir: &Path) {
        self.font_dir = Some(dir.to_owned());
    }

    /// The brand font `sha256` names, loaded once; why not, when it cannot be used.
    fn brand(&mut self, sha256: &Sha256Hex) -> Result<BrandFace, String> {
        if let Some(face) = self.fonts.brand(sha256.as_str()) {
            return Ok(face.clone());
        }
        if let Some(problem) = self.unreadable.get(sha256) {
            return Err(problem.clone());
        }
        let path = self
            .font_dir
            .as_deref()
            .map(|dir| crate::cache::media_path(dir, sha256));
        let loaded = match &path {
            None => Err("the player has no media folder to read fonts from".to_owned()),
            Some(path) => std::fs::read(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))
                .and_then(|data| {
                    self.fonts
                        .load_brand(sha256.as_str(), &data)
                        .map_err(|error| error.to_string())
                }),
        };
        loaded.map_err(|problem| {
            let problem = format!(
                "the brand font cannot be used ({problem}); the default fonts draw the text"
            );
            self.unreadable.insert(sha256.clone(), problem.clone());
            problem
        })
    }

    /// Lays `spec` out: fitted into a box of `box_px` (never cut off, see `vitrine_text::fit`),
    /// or on one line when `box_px` is `None`; `max_lines` caps a card title.
    pub(crate) fn lay_out(
        &mut self,
        spec: &TextSpec,
        box_px: Option<(f32, f32)>,
        max_lines: Option<usize>,
    ) -> (Fitted, TextReport) {
        let started = std::time::Instant::now();
        self.fonts.set_locale(&spec.locale);
        let (face, font_problem) = match &spec.font {
            Some(sha256) => match self.brand(sha256) {
                Ok(face) => (Some(face), None),
                Err(problem) => (None, Some(problem)),
            },
            None => (None, None),
        };
        let fitted = match box_px {
            Some((width, height)) => vitrine_text::fit(
                &mut self.fonts,
                &TextRequest {
                    text: &spec.text,
                    face: face.as_ref(),
                    bold: spec.bold,
                    size_px: spec.size_px,
                    min_size_px: spec.min_size_px,
                    width,
                    height,
                    align: match spec.align {
                        TextAlign::Left => vitrine_text::TextAlign::Left,
                        TextAlign::Center => vitrine_text::TextAlign::Center,
                        TextAlign::Right => vitrine_text::TextAlign::Right,
                    },
                    max_lines,
                },
            ),
            None => vitrine_text::one_line(
                &mut self.fonts,
                &spec.text,
                face.as_ref(),
                spec.bold,
                spec.size_px,
            ),
        };
        let report = TextReport {
            outcome: fitted.outcome,
            size_px: fitted.size_px,
            wanted_px: spec.size_px.max(1.0),
            missing: fitted.missing.clone(),
            font_problem,
            layout_time: started.elapsed(),
        };
        (fitted, report)
    }

    /// Prepares `texts` for a target of `size` pixels; [`TextEngine::render`] then draws them.
    pub(crate) fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        size: (u32, u32),
        texts: &[PlacedText],
    ) -> anyhow::Result<()> {
        self.viewport.update(
            queue,
            Resolution {
                width: size.0,
                height: size.1,
            },
        );
        let areas = texts.iter().map(|text| TextArea {
            buffer: &text.buffer,
            left: text.left,
            top: text.top,
            scale: 1.0,
            bounds: TextBounds {
                left: text.bounds[0],
                top: text.bounds[1],
                right: text.bounds[2],
                bottom: text.bounds[3],
            },
            default_color: glyphon::Color::rgba(
                text.colour.r,
                text.colour.g,
                text.colour.b,
                text.colour.a,
            ),
            custom_glyphs: &[],
        });
        self.renderer.prepare(
            device,
            queue,
            self.fonts.system(),
            &mut self.atlas,
            &self.viewport,
            areas,
            &mut self.swash_cache,
        )?;
        Ok(())
    }

    pub(crate) fn render(&self, pass: &mut wgpu::RenderPass<'_>) -> anyhow::Result<()> {
        self.renderer.render(&self.atlas, &self.viewport, pass)?;
        Ok(())
    }

    /// Frees atlas space held by glyphs no longer drawn.
    pub(crate) fn trim(&mut self) {
        self.atlas.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticker_loops_after_one_period() {
        let scroll = TickerScroll {
            speed_px_per_s: 100.0,
            period_px: 250.0,
            tile_px: 250.0,
        };
        assert_eq!(scroll.offset_px(Duration::from_millis(500)), 50.0);
        assert_eq!(scroll.offset_px(Duration::from_millis(2600)), 10.0);
        // After a week on screen the offset is still exact to the pixel.
        let week = Duration::from_secs(7 * 24 * 3600) + Duration::from_millis(100);
        assert!((scroll.offset_px(week) - 10.0).abs() < 0.01);
    }

    #[test]
    fn text_keys_follow_every_setting() {
        let spec = TextSpec::plain("Soldes", 48.0);
        let key = spec.key((800, 100));
        assert_eq!(key, spec.clone().key((800, 100)));
        assert_ne!(key, spec.key((801, 100)));
        let bold = TextSpec {
            bold: true,
            ..spec.clone()
        };
        assert_ne!(key, bold.key((800, 100)));
        let backed = TextSpec {
            background: Some(Color::BLACK),
            ..spec.clone()
        };
        assert_ne!(key, backed.key((800, 100)));
        let japanese = TextSpec {
            locale: "ja-JP".into(),
            ..spec.clone()
        };
        assert_ne!(key, japanese.key((800, 100)));
        let smallest = TextSpec {
            min_size_px: 20.0,
            ..spec.clone()
        };
        assert_ne!(key, smallest.key((800, 100)));
    }
}
