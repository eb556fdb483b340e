//! Text through glyphon (cosmic-text shaping, swash rasterisation), with only the fonts bundled in
//! `assets/fonts` loaded: the system's fonts never leak in, so frames are the same on every
//! machine and golden images hold.
//!
//! Text is drawn once into a texture (premultiplied alpha) and then composited like any picture:
//! a text item at its zone's size, a ticker as one long strip the compositor scrolls with the
//! clock. Big glyphs strain glyphon's atlas; drawing each text once keeps that cost off frames.

use std::time::Duration;

use glyphon::{
    Attrs, Buffer, Cache, Family, FontSystem, Metrics, Resolution, Shaping, SwashCache, TextArea,
    TextAtlas, TextBounds, TextRenderer, Viewport, Weight, Wrap,
};
use serde::Deserialize;

use super::{Color, ContentKey};

/// The bundled fonts: DejaVu Sans, regular and bold (Bitstream Vera licence, assets/fonts).
const FONTS: &[&[u8]] = &[
    include_bytes!("../../../../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../../../../assets/fonts/DejaVuSans-Bold.ttf"),
];
const FAMILY: &str = "DejaVu Sans";

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
    /// Font size in pixels of the logical screen.
    pub size_px: f32,
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
    /// The texture key for this text drawn in a zone of `zone_size_px`: equal text shares one
    /// texture, and any change (even the zone's size) makes a new one.
    pub fn key(&self, zone_size_px: (u32, u32)) -> ContentKey {
        let ticker = self
            .ticker
            .map(|ticker| [ticker.speed_px_per_s.to_bits(), ticker.gap_px.to_bits()])
            .unwrap_or_default();
        let shape = format!(
            "{}/{:?}/{:?}/{}/{:?}/{}x{}/{:?}",
            self.size_px.to_bits(),
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

/// Laid-out text and its size.
pub(crate) struct Layout {
    pub(crate) buffer: Buffer,
    pub(crate) width: f32,
    pub(crate) height: f32,
}

/// glyphon's state: the fonts, the glyph atlas and its pipeline, for RGBA8 sRGB textures.
pub(crate) struct TextEngine {
    font_system: FontSystem,
    swash_cache: SwashCache,
    atlas: TextAtlas,
    renderer: TextRenderer,
    viewport: Viewport,
}

impl TextEngine {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let mut database = glyphon::fontdb::Database::new();
        for font in FONTS {
            database.load_font_data(font.to_vec());
        }
        database.set_sans_serif_family(FAMILY);
        // The locale only steers fallback order among the loaded fonts; fixing it keeps frames
        // independent of the machine's LANG.
        let font_system = FontSystem::new_with_locale_and_db("en-US".into(), database);
        let cache = Cache::new(device);
        let mut atlas = TextAtlas::new(device, queue, &cache, wgpu::TextureFormat::Rgba8UnormSrgb);
        let renderer =
            TextRenderer::new(&mut atlas, device, wgpu::MultisampleState::default(), None);
        let viewport = Viewport::new(device, &cache);
        Self {
            font_system,
            swash_cache: SwashCache::new(),
            atlas,
            renderer,
            viewport,
        }
    }

    /// Lays out `text` at `size_px`, wrapped at `max_width` when given, and measures it.
    pub(crate) fn layout(
        &mut self,
        text: &str,
        size_px: f32,
        bold: bool,
        max_width: Option<f32>,
        align: TextAlign,
    ) -> Layout {
        let size_px = size_px.max(1.0);
        let metrics = Metrics::new(size_px, (size_px * 1.2).ceil());
        let mut buffer = Buffer::new(&mut self.font_system, metrics);
        buffer.set_wrap(if max_width.is_some() {
            Wrap::WordOrGlyph
        } else {
            Wrap::None
        });
        buffer.set_size(max_width, None);
        let attrs = Attrs::new().family(Family::SansSerif).weight(if bold {
            Weight::BOLD
        } else {
            Weight::NORMAL
        });
        let align = match align {
            TextAlign::Left => glyphon::cosmic_text::Align::Left,
            TextAlign::Center => glyphon::cosmic_text::Align::Center,
            TextAlign::Right => glyphon::cosmic_text::Align::Right,
        };
        buffer.set_text(text, &attrs, Shaping::Advanced, Some(align));
        buffer.shape_until_scroll(&mut self.font_system, false);
        let (mut width, mut height) = (0.0f32, 0.0f32);
        for run in buffer.layout_runs() {
            width = width.max(run.line_w);
            height = height.max(run.line_top + run.line_height);
        }
        Layout {
            buffer,
            width,
            height,
        }
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
            &mut self.font_system,
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
        };
        assert_eq!(scroll.offset_px(Duration::from_millis(500)), 50.0);
        assert_eq!(scroll.offset_px(Duration::from_millis(2600)), 10.0);
        // After a week on screen the offset is still exact to the pixel.
        let week = Duration::from_secs(7 * 24 * 3600) + Duration::from_millis(100);
        assert!((scroll.offset_px(week) - 10.0).abs() < 0.01);
    }

    #[test]
    fn text_keys_follow_every_setting() {
        let spec = TextSpec {
            text: "Soldes".into(),
            size_px: 48.0,
            colour: Color::WHITE,
            align: TextAlign::Center,
            bold: false,
            ticker: None,
            background: None,
        };
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
    }
}
