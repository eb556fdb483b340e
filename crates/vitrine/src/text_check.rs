//! The text checks of `vitrine validate` (and `vitrine push`): each text and clock item set as a
//! screen would set it, on the screen sizes its playlist is for, with the player's own fonts.
//! Staff hear before the screen shows it that a text will be shrunk below its `size` or cut with
//! an ellipsis, that a character has no glyph in any font, or that a brand font is unusable.

use std::collections::BTreeMap;
use std::path::Path;

use vitrine_core::playlist::{Content, Item, MediaRef, Orientation, TextStyle};
use vitrine_core::{Diagnostic, Diagnostics, Playlist};
use vitrine_text::{BrandFace, Fonts, Outcome, TextAlign, TextRequest};

/// The screens a playlist is checked on: full HD in its orientation.
fn screens(orientation: Orientation) -> &'static [(u32, u32)] {
    match orientation {
        Orientation::Landscape => &[(1920, 1080)],
        Orientation::Portrait => &[(1080, 1920)],
    }
}

/// A clock's widest reading: a long weekday and month name, two-digit everything.
fn sample_reading(format: &str) -> String {
    jiff::civil::date(2026, 9, 23)
        .at(23, 58, 58, 0)
        .strftime(format)
        .to_string()
}

/// Every text problem of `playlist`, its fonts read from `folder`.
pub fn check_text(playlist: &Playlist, display_path: &str, folder: &Path) -> Diagnostics {
    let mut fonts = Fonts::new("en-US");
    let mut problems = Vec::new();
    let mut faces: BTreeMap<String, Option<BrandFace>> = BTreeMap::new();
    for zone in &playlist.zones {
        let Some(area) = zone.area else { continue };
        for item in zone.rules.iter().flat_map(|rule| rule.items.iter()) {
            let Some((text, style, ticker)) = text_of(item) else {
                continue;
            };
            let face = item.font().and_then(|font| {
                faces
                    .entry(font.file.clone())
                    .or_insert_with(|| {
                        load_font(&mut fonts, font, display_path, folder, &mut problems)
                    })
                    .clone()
            });
            for &(width, height) in screens(playlist.orientation) {
                let zone_px = (
                    area.width.fraction() * width as f32,
                    area.height.fraction() * height as f32,
                );
                let size_px = (style.size.fraction() * zone_px.1).max(1.0);
                let request = TextRequest {
                    text: &text,
                    face: face.as_ref(),
                    bold: false,
                    size_px,
                    min_size_px: (style.min_size.fraction() * zone_px.1).max(1.0),
                    width: zone_px.0,
                    height: zone_px.1,
                    align: TextAlign::Center,
                    max_lines: None,
                };
                let fitted = if ticker {
                    vitrine_text::one_line(&mut fonts, &text, face.as_ref(), false, size_px)
                } else {
                    vitrine_text::fit(&mut fonts, &request)
                };
                let screen = format!("{width}×{height}");
                let at = |message: String| {
                    Diagnostic::warning(
                        item.origin.file(display_path),
                        item.origin.line,
                        item.origin.column,
                        message,
                    )
                };
                match fitted.outcome {
                    Outcome::Whole => {}
                    Outcome::Shrunk if !vitrine_text::noticeably_shrunk(size_px, fitted.size_px) => {}
                    Outcome::Shrunk => problems.push(
                        at(format!(
                            "text item `{}` does not fit its zone at {:.0} px on a {screen} screen: it is shrunk to {:.0} px",
                            item.id, size_px, fitted.size_px
                        ))
                        .with_hint("shorten the text, lower `size`, or give the zone more room"),
                    ),
                    Outcome::Ellipsised => problems.push(
                        at(format!(
                            "text item `{}` does not fit its zone even at its `min_size`, {:.0} px, on a {screen} screen: its end is cut with an ellipsis",
                            item.id, fitted.size_px
                        ))
                        .with_hint("shorten the text, lower `min_size`, or make it a `ticker`"),
                    ),
                    Outcome::NoRoom => problems.push(at(format!(
                        "text item `{}` has no room to show in its zone on a {screen} screen",
                        item.id
                    ))),
                }
                if let Some(&first) = fitted.missing.first() {
                    let listed: Vec<String> = fitted
                        .missing
                        .iter()
                        .map(|c| format!("`{c}` (U+{:04X})", u32::from(*c)))
                        .collect();
                    problems.push(
                        at(format!(
                            "no font has a glyph for {} in text item `{}`: the screen would show a box",
                            listed.join(", "),
                            item.id
                        ))
                        .with_hint(if u32::from(first) >= 0xE000 && u32::from(first) <= 0xF8FF {
                            "this is a private-use character; only a brand font that defines it can draw it"
                        } else {
                            "remove the character, or add a `font` that has it"
                        }),
                    );
                }
                // Missing glyphs do not depend on the screen: told once.
                if !fitted.missing.is_empty() {
                    break;
                }
            }
        }
    }
    Diagnostics(problems)
}

/// The words an item shows, its style, and whether it scrolls.
fn text_of(item: &Item) -> Option<(String, &TextStyle, bool)> {
    match &item.content {
        Content::Text {
            text,
            style,
            ticker,
            ..
        } => Some((text.clone(), style, ticker.is_some())),
        Content::Clock { format, style, .. } => Some((sample_reading(format), style, false)),
        _ => None,
    }
}

/// Reads a brand font; an unreadable one is an error at the line that names it.
fn load_font(
    fonts: &mut Fonts,
    font: &MediaRef,
    display_path: &str,
    folder: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Option<BrandFace> {
    // A missing file is reported with the other media.
    let bytes = std::fs::read(folder.join(&font.file)).ok()?;
    match fonts.load_brand(&font.file, &bytes) {
        Ok(face) => Some(face),
        Err(error) => {
            problems.push(
                Diagnostic::error(
                    font.origin.file(display_path),
                    font.origin.line,
                    font.origin.column,
                    format!("font file `{}` cannot be used: {error}", font.file),
                )
                .with_hint("use a TTF, OTF, WOFF or WOFF2 font file"),
            );
            None
        }
    }
}
