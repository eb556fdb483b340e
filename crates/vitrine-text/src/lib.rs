//! Vitrine's text, shared by the player (which draws it) and `vitrine validate` (which warns about
//! it before a screen shows it):
//!
//! - [`Fonts`]: the bundled DejaVu Sans, then a declared chain of Debian's Noto fonts for every
//!   script a retail chain meets (and colour emoji), then brand fonts; the store's locale picks the
//!   Chinese, Japanese or Korean forms of Han characters. Nothing else on the machine is loaded.
//! - [`fit`]: text set into a box so it is never cut off: shrunk to fit, and below a smallest size,
//!   ended with an ellipsis. The outcome and the characters no font could draw come back with it.

mod fit;
mod fonts;

pub use cosmic_text;
pub use fit::{
    Fitted, Outcome, TextAlign, TextRequest, drawable, fit, line_height, noticeably_shrunk,
    one_line,
};
pub use fonts::{BrandFace, DECLARED, DEFAULT_FAMILY, DeclaredFont, FontError, Fonts};

#[cfg(test)]
mod tests;
