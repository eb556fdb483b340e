//! QR codes as pixels: one texel per module, with the 4-module quiet zone the standard asks for,
//! so the compositor can scale it up with nearest sampling and scanners find it on screen.

use anyhow::Context;

/// The quiet zone around the code, in modules (ISO/IEC 18004 asks for at least 4).
pub const QUIET_ZONE_MODULES: usize = 4;

/// A QR code as an RGBA8 image, black modules on white, quiet zone included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrPixels {
    /// Modules per side, quiet zone included; the image is `side` x `side` texels.
    pub side: u32,
    pub rgba: Vec<u8>,
}

/// Encodes `text` (a URL) with medium error correction: it survives a glare or a smudge on the
/// screen without making the code needlessly dense.
pub fn encode(text: &str) -> anyhow::Result<QrPixels> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .with_context(|| format!("cannot encode {text:?} as a QR code"))?;
    let width = code.width();
    let side = width + 2 * QUIET_ZONE_MODULES;
    let modules = code.to_colors();
    let mut rgba = vec![255u8; side * side * 4];
    for y in 0..width {
        for x in 0..width {
            if modules[y * width + x] == qrcode::Color::Dark {
                let index = ((y + QUIET_ZONE_MODULES) * side + x + QUIET_ZONE_MODULES) * 4;
                rgba[index..index + 3].copy_from_slice(&[0, 0, 0]);
            }
        }
    }
    Ok(QrPixels {
        side: side as u32,
        rgba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_a_white_quiet_zone_and_a_dark_finder_corner() {
        let pixels = encode("https://vitrine.example/q/abc").unwrap();
        let at = |x: u32, y: u32| {
            let index = ((y * pixels.side + x) * 4) as usize;
            pixels.rgba[index]
        };
        assert_eq!(pixels.rgba.len(), (pixels.side * pixels.side * 4) as usize);
        for edge in 0..pixels.side {
            assert_eq!(at(edge, 0), 255);
            assert_eq!(at(0, edge), 255);
            assert_eq!(at(3, edge), 255);
        }
        // The top-left finder pattern starts right after the quiet zone.
        assert_eq!(at(4, 4), 0);
    }
}
