//! Fit modes and screen rotation as pure functions over rectangles, so the compositor's placement
//! of every quad is tested without a GPU.
//!
//! Everything is laid out in the *logical* screen: upright as the audience sees it, in pixels,
//! origin top-left. Only the last step, [`logical_to_ndc`], turns a logical point into the
//! framebuffer's normalised device coordinates for the physical rotation.

use serde::Deserialize;

/// How media fills its zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// All of the media, as large as fits, centred; the zone background shows around it.
    #[default]
    Contain,
    /// The whole zone, media cropped evenly on the overflowing sides.
    Cover,
    /// The whole zone, media distorted to its shape.
    Stretch,
}

/// How the physical screen is mounted relative to its framebuffer, clockwise. A portrait screen
/// made from a landscape panel turned a quarter clockwise uses [`Rotation::Deg90`]: the logical
/// screen is then taller than wide, and its top-left corner lands on the framebuffer's top-right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum Rotation {
    #[default]
    #[serde(rename = "0")]
    Deg0,
    #[serde(rename = "90")]
    Deg90,
    #[serde(rename = "180")]
    Deg180,
    #[serde(rename = "270")]
    Deg270,
}

impl Rotation {
    /// From degrees clockwise; only quarter turns exist.
    pub fn from_degrees(degrees: u32) -> Option<Self> {
        match degrees % 360 {
            0 => Some(Self::Deg0),
            90 => Some(Self::Deg90),
            180 => Some(Self::Deg180),
            270 => Some(Self::Deg270),
            _ => None,
        }
    }

    /// Whether the logical screen's width is the framebuffer's height.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Self::Deg90 | Self::Deg270)
    }

    /// The logical (upright) screen size for a framebuffer of `physical` size.
    pub fn logical_size(self, physical: (u32, u32)) -> (u32, u32) {
        if self.swaps_axes() {
            (physical.1, physical.0)
        } else {
            physical
        }
    }
}

/// An axis-aligned rectangle in logical pixels (or, for texture coordinates, in 0..1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl Rect {
    pub const UNIT: Rect = Rect {
        x: 0.0,
        y: 0.0,
        width: 1.0,
        height: 1.0,
    };

    pub fn new(x: f32, y: f32, width: f32, height: f32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    /// A zone's rectangle (fractions of the screen) in logical pixels.
    pub fn from_fractions(fractions: [f32; 4], screen: (u32, u32)) -> Self {
        let (width, height) = (screen.0 as f32, screen.1 as f32);
        Self::new(
            fractions[0] * width,
            fractions[1] * height,
            fractions[2] * width,
            fractions[3] * height,
        )
    }

    /// The part of `self` inside `other`, if any.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.right().min(other.right());
        let y1 = self.bottom().min(other.bottom());
        (x1 > x0 && y1 > y0).then(|| Rect::new(x0, y0, x1 - x0, y1 - y0))
    }
}

/// Where a texture of `texture` size lands in `zone` for `fit`, and which part of the texture
/// (in 0..1 texture coordinates) shows there.
pub fn fit_rect(texture: (u32, u32), zone: Rect, fit: Fit) -> (Rect, Rect) {
    let texture_aspect = texture.0.max(1) as f32 / texture.1.max(1) as f32;
    let zone_aspect = zone.width / zone.height.max(f32::MIN_POSITIVE);
    match fit {
        Fit::Stretch => (zone, Rect::UNIT),
        Fit::Contain => {
            let (width, height) = if texture_aspect > zone_aspect {
                (zone.width, zone.width / texture_aspect)
            } else {
                (zone.height * texture_aspect, zone.height)
            };
            let placed = Rect::new(
                zone.x + (zone.width - width) / 2.0,
                zone.y + (zone.height - height) / 2.0,
                width,
                height,
            );
            (placed, Rect::UNIT)
        }
        Fit::Cover => {
            // Crop the texture to the zone's shape, evenly on both overflowing sides.
            let uv = if texture_aspect > zone_aspect {
                let visible = zone_aspect / texture_aspect;
                Rect::new((1.0 - visible) / 2.0, 0.0, visible, 1.0)
            } else {
                let visible = texture_aspect / zone_aspect;
                Rect::new(0.0, (1.0 - visible) / 2.0, 1.0, visible)
            };
            (zone, uv)
        }
    }
}

/// Clips a placed quad to `clip`, cutting its texture coordinates in proportion, so a sliding
/// layer never draws outside its zone.
pub fn clip_quad(placed: Rect, uv: Rect, clip: Rect) -> Option<(Rect, Rect)> {
    let visible = placed.intersect(&clip)?;
    let scale_x = uv.width / placed.width;
    let scale_y = uv.height / placed.height;
    let clipped_uv = Rect::new(
        uv.x + (visible.x - placed.x) * scale_x,
        uv.y + (visible.y - placed.y) * scale_y,
        visible.width * scale_x,
        visible.height * scale_y,
    );
    Some((visible, clipped_uv))
}

/// A point of the logical screen (pixels) in the framebuffer's normalised device coordinates.
pub fn logical_to_ndc(point: [f32; 2], logical: (u32, u32), rotation: Rotation) -> [f32; 2] {
    let u = point[0] / logical.0.max(1) as f32;
    let v = point[1] / logical.1.max(1) as f32;
    // (u, v) is the point's place on the upright screen; (x, y) its place in the framebuffer, both
    // in 0..1 from the top-left. Turning the content clockwise by the mounting angle undoes it.
    let (x, y) = match rotation {
        Rotation::Deg0 => (u, v),
        Rotation::Deg90 => (1.0 - v, u),
        Rotation::Deg180 => (1.0 - u, 1.0 - v),
        Rotation::Deg270 => (v, 1.0 - u),
    };
    [x * 2.0 - 1.0, 1.0 - y * 2.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_fits_the_long_side_and_centres_the_other() {
        let zone = Rect::new(0.0, 0.0, 200.0, 100.0);
        let (placed, uv) = fit_rect((100, 100), zone, Fit::Contain);
        assert_eq!(placed, Rect::new(50.0, 0.0, 100.0, 100.0));
        assert_eq!(uv, Rect::UNIT);
        let (placed, _) = fit_rect((400, 100), zone, Fit::Contain);
        assert_eq!(placed, Rect::new(0.0, 25.0, 200.0, 50.0));
    }

    #[test]
    fn cover_fills_the_zone_and_crops_evenly() {
        let zone = Rect::new(10.0, 10.0, 200.0, 100.0);
        let (placed, uv) = fit_rect((100, 100), zone, Fit::Cover);
        assert_eq!(placed, zone);
        assert_eq!(uv, Rect::new(0.0, 0.25, 1.0, 0.5));
        let (_, uv) = fit_rect((400, 100), zone, Fit::Cover);
        assert_eq!(uv, Rect::new(0.25, 0.0, 0.5, 1.0));
    }

    #[test]
    fn stretch_fills_the_zone_with_the_whole_texture() {
        let zone = Rect::new(0.0, 0.0, 30.0, 70.0);
        assert_eq!(fit_rect((5, 5), zone, Fit::Stretch), (zone, Rect::UNIT));
    }

    #[test]
    fn clipping_a_slid_quad_cuts_its_texture_coordinates() {
        let zone = Rect::new(0.0, 0.0, 100.0, 50.0);
        let slid = Rect::new(60.0, 0.0, 100.0, 50.0);
        let (visible, uv) = clip_quad(slid, Rect::UNIT, zone).unwrap();
        assert_eq!(visible, Rect::new(60.0, 0.0, 40.0, 50.0));
        assert_eq!((uv.x, uv.y, uv.height), (0.0, 0.0, 1.0));
        assert!((uv.width - 0.4).abs() < 1e-6, "{uv:?}");
        assert!(clip_quad(Rect::new(100.0, 0.0, 100.0, 50.0), Rect::UNIT, zone).is_none());
    }

    #[test]
    fn rotation_maps_the_logical_top_left_to_the_right_corner() {
        let logical = (1080, 1920);
        let top_left = [0.0, 0.0];
        let top_right = [1080.0, 0.0];
        assert_eq!(
            logical_to_ndc(top_left, (1920, 1080), Rotation::Deg0),
            [-1.0, 1.0]
        );
        assert_eq!(
            logical_to_ndc(top_left, logical, Rotation::Deg90),
            [1.0, 1.0]
        );
        assert_eq!(
            logical_to_ndc(top_right, logical, Rotation::Deg90),
            [1.0, -1.0]
        );
        assert_eq!(
            logical_to_ndc(top_left, (1920, 1080), Rotation::Deg180),
            [1.0, -1.0]
        );
        assert_eq!(
            logical_to_ndc(top_left, logical, Rotation::Deg270),
            [-1.0, -1.0]
        );
        assert_eq!(Rotation::Deg90.logical_size((1920, 1080)), (1080, 1920));
        assert_eq!(Rotation::from_degrees(450), Some(Rotation::Deg90));
        assert_eq!(Rotation::from_degrees(45), None);
    }
}
