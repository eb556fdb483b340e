//! Transitions between two items in a zone, as plain layer opacities and offsets. The playback
//! timeline decides *when* a transition runs and how far along it is; this module only says what
//! that progress looks like, so it is tested without a GPU.
//!
//! **Invariant: no transition shows less than one whole item.** A crossfade keeps the outgoing
//! item fully opaque underneath while the incoming one fades in over it, so the mix of two opaque
//! pictures never dips towards the background (fading both would show 25 % background at the
//! midpoint: the "black flash" of other players). A slide moves both items together, so between
//! them they always cover the zone.

use serde::Deserialize;

use super::Layer;

/// How one item gives way to the next in a zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The incoming item replaces the outgoing one on a single frame.
    #[default]
    Cut,
    /// The incoming item fades in over the outgoing one.
    Crossfade,
    /// The incoming item pushes the outgoing one out, moving in `direction`.
    Slide(SlideDirection),
}

/// The direction a slide moves content in: `Left` brings the incoming item in from the right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlideDirection {
    #[default]
    Left,
    Right,
    Up,
    Down,
}

impl SlideDirection {
    /// Where the incoming item starts, as a fraction of the zone.
    fn entry_offset(self) -> [f32; 2] {
        match self {
            SlideDirection::Left => [1.0, 0.0],
            SlideDirection::Right => [-1.0, 0.0],
            SlideDirection::Up => [0.0, 1.0],
            SlideDirection::Down => [0.0, -1.0],
        }
    }
}

/// The layers of a zone `progress` (0 to 1) of the way through `transition` from `outgoing` to
/// `incoming`, bottom to top. Opacity and offset of the given layers are replaced; their content,
/// fit and elapsed time are kept, so animations and tickers go on moving during the transition.
/// With no outgoing item (the first item of a zone) every transition is a cut.
pub fn transition_layers(
    outgoing: Option<Layer>,
    incoming: Layer,
    transition: Transition,
    progress: f32,
) -> Vec<Layer> {
    let progress = if progress.is_nan() {
        1.0
    } else {
        progress.clamp(0.0, 1.0)
    };
    let in_place = |mut layer: Layer, opacity: f32, offset: [f32; 2]| {
        layer.opacity = opacity;
        layer.offset = offset;
        layer
    };
    let Some(outgoing) = outgoing else {
        return vec![in_place(incoming, 1.0, [0.0, 0.0])];
    };
    if progress >= 1.0 {
        return vec![in_place(incoming, 1.0, [0.0, 0.0])];
    }
    match transition {
        Transition::Cut => vec![in_place(incoming, 1.0, [0.0, 0.0])],
        Transition::Crossfade => vec![
            in_place(outgoing, 1.0, [0.0, 0.0]),
            in_place(incoming, progress, [0.0, 0.0]),
        ],
        Transition::Slide(direction) => {
            // Eased in and out, so the motion starts and stops without a jolt; 0.5 stays the middle.
            let eased = progress * progress * (3.0 - 2.0 * progress);
            let [dx, dy] = direction.entry_offset();
            vec![
                in_place(outgoing, 1.0, [-dx * eased, -dy * eased]),
                in_place(incoming, 1.0, [dx * (1.0 - eased), dy * (1.0 - eased)]),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{ContentKey, Fit};

    fn layer(name: &str) -> Layer {
        Layer::new(ContentKey::Generated(name.into()), Fit::Cover)
    }

    #[test]
    fn a_crossfade_keeps_the_outgoing_item_opaque_under_the_incoming_one() {
        let layers = transition_layers(
            Some(layer("old")),
            layer("new"),
            Transition::Crossfade,
            0.25,
        );
        assert_eq!(layers.len(), 2);
        assert_eq!(
            (layers[0].content.to_string(), layers[0].opacity),
            ("old".into(), 1.0)
        );
        assert_eq!(
            (layers[1].content.to_string(), layers[1].opacity),
            ("new".into(), 0.25)
        );
    }

    #[test]
    fn a_slide_moves_both_items_together_so_the_zone_stays_covered() {
        for step in 0..=20 {
            let progress = step as f32 / 20.0;
            let layers = transition_layers(
                Some(layer("old")),
                layer("new"),
                Transition::Slide(SlideDirection::Left),
                progress,
            );
            if progress >= 1.0 {
                assert_eq!(layers.len(), 1);
                continue;
            }
            let gap = layers[1].offset[0] - (layers[0].offset[0] + 1.0);
            assert!(gap.abs() < 1e-6, "a gap of {gap} at {progress}");
        }
        let middle = transition_layers(
            Some(layer("old")),
            layer("new"),
            Transition::Slide(SlideDirection::Down),
            0.5,
        );
        assert_eq!(middle[0].offset, [0.0, 0.5]);
        assert_eq!(middle[1].offset, [0.0, -0.5]);
    }

    #[test]
    fn cuts_first_items_and_finished_transitions_show_the_incoming_item_alone() {
        let alone = |layers: Vec<Layer>| {
            layers.len() == 1 && layers[0].opacity == 1.0 && layers[0].offset == [0.0, 0.0]
        };
        assert!(alone(transition_layers(
            Some(layer("old")),
            layer("new"),
            Transition::Cut,
            0.0
        )));
        assert!(alone(transition_layers(
            None,
            layer("new"),
            Transition::Crossfade,
            0.1
        )));
        assert!(alone(transition_layers(
            Some(layer("old")),
            layer("new"),
            Transition::Crossfade,
            1.0
        )));
        assert!(alone(transition_layers(
            Some(layer("old")),
            layer("new"),
            Transition::Crossfade,
            f32::NAN
        )));
    }
}
