//! Setting text into a box so that it is never cut off: at the size asked when it fits, else at the
//! largest size that fits (words wrapped by Unicode's line-break rules, never split unless one word
//! alone is wider than the box), and below the smallest size allowed, cut with an ellipsis.

use cosmic_text::{
    Align, Attrs, Buffer, Ellipsize, EllipsizeHeightLimit, Family, Metrics, Shaping, Weight, Wrap,
};

use crate::fonts::{BrandFace, DEFAULT_FAMILY, Fonts};

/// What to set and where.
#[derive(Clone, Debug)]
pub struct TextRequest<'a> {
    pub text: &'a str,
    /// A brand font, as [`Fonts::load_brand`] gave it; the default chain when `None`.
    pub face: Option<&'a BrandFace>,
    /// Bold in the default chain; a brand face has its own weight.
    pub bold: bool,
    /// The largest letter size wanted, in pixels.
    pub size_px: f32,
    /// Below this the text is not shrunk further but cut with an ellipsis.
    pub min_size_px: f32,
    /// The box, in pixels.
    pub width: f32,
    pub height: f32,
    pub align: TextAlign,
    /// At most this many lines (an offer card's title), then an ellipsis.
    pub max_lines: Option<usize>,
}

/// Horizontal alignment in the box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TextAlign {
    Left,
    #[default]
    Center,
    Right,
}

/// How the text had to give way to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// At the size asked.
    Whole,
    /// Whole, at a smaller size.
    Shrunk,
    /// At the smallest size allowed, and still cut: it ends in an ellipsis.
    Ellipsised,
    /// The box is too small for even an ellipsis: nothing is drawn.
    NoRoom,
}

/// Text laid out in its box.
#[derive(Debug)]
pub struct Fitted {
    pub buffer: Buffer,
    /// The size it was set at.
    pub size_px: f32,
    /// The widest line and the height of all lines.
    pub width: f32,
    pub height: f32,
    pub outcome: Outcome,
    /// Characters no font in the chain has a glyph for, in order of first appearance.
    pub missing: Vec<char>,
}

/// Whether text set at `set_px` instead of `wanted_px` looks smaller to anyone: by a pixel or
/// more. The player's alerts and `validate`'s warnings tell only those shrinks.
pub fn noticeably_shrunk(wanted_px: f32, set_px: f32) -> bool {
    set_px <= wanted_px - 1.0
}

/// The line height for letters of `size_px`.
pub fn line_height(size_px: f32) -> f32 {
    (size_px * 1.2).ceil()
}

/// Text as it can be drawn: line breaks kept, tabs as spaces, other control characters dropped.
pub fn drawable(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn attrs<'a>(face: Option<&'a BrandFace>, bold: bool) -> Attrs<'a> {
    match face {
        Some(face) => Attrs::new()
            .family(Family::Name(&face.family))
            .weight(Weight(face.weight)),
        None => Attrs::new()
            .family(Family::Name(DEFAULT_FAMILY))
            .weight(if bold { Weight::BOLD } else { Weight::NORMAL }),
    }
}

fn cosmic_align(align: TextAlign) -> Align {
    match align {
        TextAlign::Left => Align::Left,
        TextAlign::Center => Align::Center,
        TextAlign::Right => Align::Right,
    }
}

/// Where a layout's ink is. Glyphs are measured, not lines: `line_w` counts the spaces a line
/// ends with, which draw nothing, and a bidirectional or ellipsised line can place a glyph past the
/// width its line reports.
struct Ink {
    /// The left edge of the leftmost glyph that draws: below zero when a glyph starts left of the
    /// box (a centred line wider than it).
    left: f32,
    /// The right edge of the rightmost one.
    right: f32,
    /// The bottom of the last line.
    bottom: f32,
    lines: usize,
}

impl Ink {
    fn of(buffer: &Buffer) -> Self {
        let mut ink = Ink {
            left: 0.0,
            right: 0.0,
            bottom: 0.0,
            lines: 0,
        };
        for run in buffer.layout_runs() {
            for glyph in run.glyphs {
                let blank = run
                    .text
                    .get(glyph.start..glyph.end)
                    .is_some_and(|cluster| cluster.chars().all(char::is_whitespace));
                if !blank {
                    ink.right = ink.right.max(glyph.x + glyph.w);
                    ink.left = ink.left.min(glyph.x);
                }
            }
            ink.bottom = ink.bottom.max(run.line_top + run.line_height);
            ink.lines += 1;
        }
        ink
    }

    /// The width it takes: a glyph left of the box overflows as much as one past its right edge.
    fn width(&self) -> f32 {
        self.right - self.left
    }

    /// Whether it lies in a box of `width` by `height`, to half a pixel.
    fn inside(&self, width: f32, height: f32) -> bool {
        self.left >= -0.5 && self.right <= width + 0.5 && self.bottom <= height + 0.5
    }
}

/// Whether every character that draws has a glyph in the layout: the shaper can lose a piece of
/// a word it splits in a right-to-left paragraph, and such a layout is not the whole text.
fn laid_out_whole(buffer: &Buffer) -> bool {
    let mut covered: Vec<(usize, Vec<bool>, &str)> = Vec::new();
    for run in buffer.layout_runs() {
        let index = match covered.iter().position(|(line, _, _)| *line == run.line_i) {
            Some(index) => index,
            None => {
                covered.push((run.line_i, vec![false; run.text.len()], run.text));
                covered.len() - 1
            }
        };
        let bytes = &mut covered[index].1;
        for glyph in run.glyphs {
            for byte in glyph.start..glyph.end.min(bytes.len()) {
                bytes[byte] = true;
            }
        }
    }
    covered.iter().all(|(_, bytes, text)| {
        text.char_indices()
            .all(|(index, c)| c.is_whitespace() || c.is_control() || bytes[index])
    })
}

/// The glyph the shaper draws an ellipsis with, in these attributes.
fn ellipsis_glyph(system: &mut cosmic_text::FontSystem, attrs: &Attrs<'_>) -> Option<u16> {
    let mut buffer = Buffer::new(system, Metrics::new(10.0, 12.0));
    buffer.set_text("\u{2026}", attrs, Shaping::Advanced, None);
    buffer.shape_until_scroll(system, false);
    buffer
        .layout_runs()
        .next()
        .and_then(|run| run.glyphs.first().map(|glyph| glyph.glyph_id))
}

/// Characters drawn as the missing-glyph box.
fn missing_glyphs(buffer: &Buffer) -> Vec<char> {
    let mut missing = Vec::new();
    for run in buffer.layout_runs() {
        for glyph in run.glyphs {
            if glyph.glyph_id != 0 {
                continue;
            }
            let Some(cluster) = run.text.get(glyph.start..glyph.end) else {
                continue;
            };
            for c in cluster.chars() {
                // Joiners and selectors have no glyph of their own in any font.
                let invisible = c.is_whitespace()
                    || c.is_control()
                    || matches!(c as u32, 0x200B..=0x200F | 0xFE00..=0xFE0F | 0x2060..=0x206F);
                if !invisible && !missing.contains(&c) {
                    missing.push(c);
                }
            }
        }
    }
    missing
}

/// At most how many characters a box can show at `size_px`: more is never drawn, so a 100,000
/// character text costs no more to lay out than a full box.
fn most_visible(width: f32, height: f32, size_px: f32) -> usize {
    let per_line = (width / (size_px * 0.15)).ceil();
    let lines = (height / line_height(size_px)).ceil();
    (per_line * lines).clamp(1.0, 1_000_000.0) as usize + 1
}

/// Sets `request.text` in its box; see the module's description.
pub fn fit(fonts: &mut Fonts, request: &TextRequest<'_>) -> Fitted {
    let width = request.width.max(1.0);
    let height = request.height.max(1.0);
    let size = request.size_px.max(1.0);
    // One line always fits the box's height: a low zone lowers the smallest size with it.
    let min = request
        .min_size_px
        .min((height.floor() - 0.01) / 1.2)
        .min(size)
        .max(1.0);
    let mut text = drawable(request.text);
    if text.trim().is_empty() {
        text.clear();
    }
    let empty = text.is_empty();
    let limit = most_visible(width, height, min);
    let mut cut = false;
    if let Some((index, _)) = text.char_indices().nth(limit) {
        text.truncate(index);
        cut = true;
    }
    fonts.prepare_for(&text);
    let system = fonts.system();
    let attrs = attrs(request.face, request.bold);
    let mut buffer = Buffer::new(system, Metrics::new(size, line_height(size)));
    buffer.set_wrap(Wrap::Word);
    buffer.set_size(Some(width), None);
    buffer.set_text(
        &text,
        &attrs,
        Shaping::Advanced,
        Some(cosmic_align(request.align)),
    );
    let max_lines = request.max_lines.unwrap_or(usize::MAX).max(1);
    let mut fits = |buffer: &mut Buffer, size: f32| {
        buffer.set_metrics(Metrics::new(size, line_height(size)));
        buffer.shape_until_scroll(system, false);
        let ink = Ink::of(buffer);
        ink.inside(width, height) && ink.lines <= max_lines && laid_out_whole(buffer)
    };
    let (size_px, outcome) = if empty || (!cut && fits(&mut buffer, size)) {
        (size, Outcome::Whole)
    } else if !cut && fits(&mut buffer, min) {
        // The largest size that fits, to a tenth of a pixel.
        let (mut low, mut high) = (min, size);
        while high - low > 0.1 {
            let middle = (low + high) / 2.0;
            if fits(&mut buffer, middle) {
                low = middle;
            } else {
                high = middle;
            }
        }
        fits(&mut buffer, low);
        (low, Outcome::Shrunk)
    } else {
        // At the smallest size: split a word wider than the box, and cut what is left over.
        buffer.set_wrap(Wrap::WordOrGlyph);
        buffer.set_metrics(Metrics::new(min, line_height(min)));
        buffer.shape_until_scroll(system, false);
        let ink = Ink::of(&buffer);
        if !cut && ink.inside(width, height) && ink.lines <= max_lines && laid_out_whole(&buffer) {
            (min, Outcome::Shrunk)
        } else {
            if cut {
                // The truncated text ends where the box does not reach: say so at its end.
                text.push('\u{2026}');
                buffer.set_text(
                    &text,
                    &attrs,
                    Shaping::Advanced,
                    Some(cosmic_align(request.align)),
                );
            }
            let dots = ellipsis_glyph(system, &attrs);
            // In a box narrower than a letter and an ellipsis at the smallest size, smaller
            // still: a box that small shows something rather than nothing. A layout that lost
            // letters without saying so by an ellipsis (the shaper splitting a word in a
            // right-to-left paragraph) is not taken: words are then kept whole.
            let mut size = min;
            'sizes: loop {
                for wrap in [Wrap::WordOrGlyph, Wrap::Word] {
                    buffer.set_wrap(wrap);
                    buffer.set_metrics(Metrics::new(size, line_height(size)));
                    buffer.set_ellipsize(Ellipsize::End(EllipsizeHeightLimit::Lines(
                        ((height / line_height(size)).floor() as usize).clamp(1, max_lines),
                    )));
                    buffer.shape_until_scroll(system, false);
                    if !Ink::of(&buffer).inside(width, height) {
                        continue;
                    }
                    let ellipsised = buffer
                        .layout_runs()
                        .any(|run| run.glyphs.iter().any(|glyph| Some(glyph.glyph_id) == dots));
                    if ellipsised || cut {
                        break 'sizes (size, Outcome::Ellipsised);
                    }
                    if laid_out_whole(&buffer) {
                        break 'sizes (size, Outcome::Shrunk);
                    }
                }
                if size <= 1.0 {
                    // No layout of the text fits, whole or ellipsised: the ellipsis alone says
                    // that something is cut, if even that fits.
                    buffer.set_ellipsize(Ellipsize::None);
                    buffer.set_wrap(Wrap::None);
                    buffer.set_text(
                        "\u{2026}",
                        &attrs,
                        Shaping::Advanced,
                        Some(cosmic_align(request.align)),
                    );
                    let mut size = min;
                    loop {
                        buffer.set_metrics(Metrics::new(size, line_height(size)));
                        buffer.shape_until_scroll(system, false);
                        if Ink::of(&buffer).inside(width, height) {
                            break 'sizes (size, Outcome::Ellipsised);
                        }
                        if size <= 1.0 {
                            buffer.set_text("", &attrs, Shaping::Advanced, None);
                            buffer.shape_until_scroll(system, false);
                            break 'sizes (size, Outcome::NoRoom);
                        }
                        size = (size * 0.8).max(1.0);
                    }
                }
                size = (size * 0.8).max(1.0);
            }
        }
    };
    let ink = Ink::of(&buffer);
    Fitted {
        missing: missing_glyphs(&buffer),
        buffer,
        size_px,
        width: ink.width(),
        height: ink.bottom,
        outcome,
    }
}

/// Sets `text` on one line that does not wrap (a ticker's strip, or a measurement).
pub fn one_line(
    fonts: &mut Fonts,
    text: &str,
    face: Option<&BrandFace>,
    bold: bool,
    size_px: f32,
) -> Fitted {
    let size = size_px.max(1.0);
    let text: String = drawable(text)
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    fonts.prepare_for(&text);
    let system = fonts.system();
    let mut buffer = Buffer::new(system, Metrics::new(size, line_height(size)));
    buffer.set_wrap(Wrap::None);
    buffer.set_size(None, None);
    buffer.set_text(
        &text,
        &attrs(face, bold),
        Shaping::Advanced,
        Some(Align::Left),
    );
    buffer.shape_until_scroll(system, false);
    let ink = Ink::of(&buffer);
    Fitted {
        missing: missing_glyphs(&buffer),
        buffer,
        size_px: size,
        width: ink.width(),
        height: ink.bottom,
        outcome: Outcome::Whole,
    }
}
