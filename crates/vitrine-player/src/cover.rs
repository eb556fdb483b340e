//! The full-screen pages that cover whatever the playlist would show: an emergency message from HQ
//! and the pairing code of a player waiting to be paired, and the page that says why a screen with
//! nothing to play is not playing. They must never be mistaken for each other: a shopper who sees
//! a warning has to know at a glance that it is one, and an installer's pairing code or a sync
//! problem must not look like an alarm. The emergency page is black under a red band with a
//! "⚠ ALERT ⚠" heading and a red band along the bottom; the pairing page is a calm navy with no
//! red anywhere; the not-playing page is a dark amber, the colour of "needs attention".

use crate::playback::Want;
use crate::problem::Problem;
use crate::render::{Color, ContentKey, Fit, Layer, Rotation, Scene, TextSpec, ZoneScene};

/// The red of the emergency page's bands: reads as "alarm" from across a store.
pub const ALERT_RED: Color = Color::rgb(0xd0, 0x10, 0x1d);

/// Behind the emergency message, between the bands.
pub const ALERT_BACKGROUND: Color = Color::BLACK;

/// Behind the pairing code: a calm navy, unlike both the alert's red and the splash.
pub const PAIRING_BACKGROUND: Color = Color::rgb(0x1f, 0x3a, 0x93);

/// Behind the not-playing page: a dark amber, unlike the alert's red, the pairing navy and the
/// splash, with white text on it readable from across a shop.
pub const NOT_PLAYING_BACKGROUND: Color = Color::rgb(0x8a, 0x4b, 0x08);

/// The not-playing page's heading.
pub const NOT_PLAYING_HEADING: &str = "This screen is not playing";

/// What the identify page shows for a screen whose name is not known.
pub const UNNAMED_SCREEN: &str = "unnamed screen";

/// Behind the identify page: a deep teal, unlike the alert's red, the pairing navy and the
/// not-playing amber, so a screen saying its name is never mistaken for one in trouble.
pub const IDENTIFY_BACKGROUND: Color = Color::rgb(0x0b, 0x5d, 0x5b);

/// What the not-playing page says when the screen's name is not known yet.
pub const UNKNOWN_SCREEN: &str = "not known yet";

/// The emergency page's heading, in the band at the top. Both bundled DejaVu faces have the sign.
pub const ALERT_HEADING: &str = "⚠ ALERT ⚠";

/// The top band's height, as a share of the screen's.
pub const ALERT_BAND: f32 = 0.2;

/// The bottom band's height, as a share of the screen's.
pub const ALERT_FOOTER: f32 = 0.06;

/// A page: what to draw, and the text it needs prepared first.
#[derive(Clone, Debug)]
pub struct CoverPage {
    pub scene: Scene,
    pub wanted: Vec<Want>,
}

/// The emergency page for `message` on a logical screen of `screen_px`.
pub fn emergency_page(message: &str, screen_px: (u32, u32), rotation: Rotation) -> CoverPage {
    let (width, height) = screen_px;
    let band_px = (width, ((height as f32 * ALERT_BAND) as u32).max(1));
    let message_share = 1.0 - ALERT_BAND - ALERT_FOOTER;
    let message_px = (width, ((height as f32 * message_share) as u32).max(1));
    let heading = text(ALERT_HEADING, height as f32 * 0.11, band_px);
    let body = text(message, height as f32 * 0.07, message_px);
    CoverPage {
        scene: Scene {
            background: ALERT_BACKGROUND,
            rotation,
            zones: vec![
                ZoneScene {
                    rect: [0.0, 0.0, 1.0, ALERT_BAND],
                    background: Some(ALERT_RED),
                    layers: vec![Layer::new(heading.0.clone(), Fit::Contain)],
                },
                ZoneScene {
                    rect: [0.0, ALERT_BAND, 1.0, message_share],
                    background: Some(ALERT_BACKGROUND),
                    layers: vec![Layer::new(body.0.clone(), Fit::Contain)],
                },
                ZoneScene {
                    rect: [0.0, 1.0 - ALERT_FOOTER, 1.0, ALERT_FOOTER],
                    background: Some(ALERT_RED),
                    layers: Vec::new(),
                },
            ],
            overlay: None,
        },
        wanted: vec![heading.1, body.1],
    }
}

/// The page `identify` shows over whatever plays: the screen's `name`, as large as fits, so
/// whoever stands in front of it can tell HQ which screen it is.
pub fn identify_page(name: &str, screen_px: (u32, u32), rotation: Rotation) -> CoverPage {
    let body = text(name, screen_px.1 as f32 * 0.16, screen_px);
    CoverPage {
        scene: Scene {
            background: IDENTIFY_BACKGROUND,
            rotation,
            zones: vec![ZoneScene {
                rect: [0.0, 0.0, 1.0, 1.0],
                background: Some(IDENTIFY_BACKGROUND),
                layers: vec![Layer::new(body.0.clone(), Fit::Contain)],
            }],
            overlay: None,
        },
        wanted: vec![body.1],
    }
}

/// The page that shows a pairing `code`.
pub fn pairing_page(code: &str, screen_px: (u32, u32), rotation: Rotation) -> CoverPage {
    let body = text(
        &format!("Pair this screen: {code}"),
        screen_px.1 as f32 * 0.08,
        screen_px,
    );
    CoverPage {
        scene: Scene {
            background: PAIRING_BACKGROUND,
            rotation,
            zones: vec![ZoneScene {
                rect: [0.0, 0.0, 1.0, 1.0],
                background: Some(PAIRING_BACKGROUND),
                layers: vec![Layer::new(body.0.clone(), Fit::Contain)],
            }],
            overlay: None,
        },
        wanted: vec![body.1],
    }
}

/// The page that says why a screen with nothing to play is not playing: a heading, the `problem`
/// in plain words as large as fits, what to do, and which screen and player this is, so whoever
/// phones HQ can say.
pub fn not_playing_page(
    problem: &Problem,
    screen: Option<&str>,
    screen_px: (u32, u32),
    rotation: Rotation,
) -> CoverPage {
    let (width, height) = screen_px;
    // Rows from the top: heading, problem, hint, identity (shares of the screen's height).
    let rows = [(0.03, 0.17), (0.22, 0.36), (0.60, 0.24), (0.87, 0.10)];
    let zone_px = |share: f32| -> (u32, u32) { (width, ((height as f32 * share) as u32).max(1)) };
    let identity = format!(
        "Screen: {} · vitrine-player {}",
        screen.unwrap_or(UNKNOWN_SCREEN),
        env!("CARGO_PKG_VERSION")
    );
    let texts = [
        text(
            NOT_PLAYING_HEADING,
            height as f32 * 0.09,
            zone_px(rows[0].1),
        ),
        text(
            &problem.headline(),
            height as f32 * 0.075,
            zone_px(rows[1].1),
        ),
        text(problem.hint(), height as f32 * 0.045, zone_px(rows[2].1)),
        text(&identity, height as f32 * 0.04, zone_px(rows[3].1)),
    ];
    CoverPage {
        scene: Scene {
            background: NOT_PLAYING_BACKGROUND,
            rotation,
            zones: rows
                .iter()
                .zip(&texts)
                .map(|((top, share), (key, _))| ZoneScene {
                    rect: [0.0, *top, 1.0, *share],
                    background: Some(NOT_PLAYING_BACKGROUND),
                    layers: vec![Layer::new(key.clone(), Fit::Contain)],
                })
                .collect(),
            overlay: None,
        },
        wanted: texts.into_iter().map(|(_, want)| want).collect(),
    }
}

/// White bold centred text laid out for a zone of `zone_px`.
fn text(text: &str, size_px: f32, zone_px: (u32, u32)) -> (ContentKey, Want) {
    let spec = TextSpec {
        bold: true,
        ..TextSpec::plain(text, size_px.max(1.0))
    };
    let key = spec.key(zone_px);
    (
        key.clone(),
        Want::Text {
            key,
            spec,
            zone_px,
            item: None,
        },
    )
}
