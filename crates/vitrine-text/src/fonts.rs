//! The fonts text is set in: the bundled DejaVu Sans first, then a declared chain of Debian's Noto
//! fonts by their installed paths, then the brand fonts a playlist names. Nothing else on the
//! machine is ever loaded, so the same text gives the same frame everywhere.
//!
//! The big faces (Chinese, Japanese and Korean; colour emoji) are read only when a text needs them,
//! so a player that shows only Latin text does not carry 30 MB of glyphs it never draws.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cosmic_text::skrifa::FontRef;
use cosmic_text::skrifa::raw::TableProvider;
use cosmic_text::{Fallback, FontSystem, fontdb};
use unicode_script::Script;

/// The bundled fonts: DejaVu Sans, regular and bold (Bitstream Vera licence, assets/fonts).
const BUNDLED: &[&[u8]] = &[
    include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf"),
];

/// The family every text starts from when it names no font of its own.
pub const DEFAULT_FAMILY: &str = "DejaVu Sans";

/// A font of the chain, as the Debian package that the player depends on installs it.
#[derive(Debug)]
pub struct DeclaredFont {
    /// The Debian package that installs it.
    pub package: &'static str,
    pub path: &'static str,
    /// Read only once a text has a character for which `needed` is true; `None`: read at start.
    needed: Option<fn(char) -> bool>,
}

macro_rules! declared {
    ($package:literal, $dir:expr, $file:literal, $needed:expr) => {
        DeclaredFont {
            package: $package,
            path: concat!("/usr/share/fonts/", $dir, "/", $file),
            needed: $needed,
        }
    };
}

/// The chain behind DejaVu Sans, in the order fallback looks through it.
pub const DECLARED: &[DeclaredFont] = &[
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSans-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSans-Bold.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansArabic-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansArabic-Bold.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansHebrew-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansHebrew-Bold.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansDevanagari-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansDevanagari-Bold.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansThai-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansThai-Bold.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansSymbols-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-core",
        "truetype/noto",
        "NotoSansSymbols2-Regular.ttf",
        None
    ),
    declared!(
        "fonts-noto-cjk",
        "opentype/noto",
        "NotoSansCJK-Regular.ttc",
        Some(is_cjk)
    ),
    declared!(
        "fonts-noto-color-emoji",
        "truetype/noto",
        "NotoColorEmoji.ttf",
        Some(is_pictographic)
    ),
];

/// Han, kana, Hangul, Bopomofo and their punctuation and full-width forms.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x3100..=0x312F
        | 0x3130..=0x318F | 0x31A0..=0x31FF | 0x3200..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF
        | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Emoji and pictographs, with the joiners and selectors that build emoji sequences.
fn is_pictographic(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2190..=0x21FF | 0x2300..=0x23FF
        | 0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F | 0x00A9 | 0x00AE | 0x2122)
}

/// A brand font as loaded: text names it by family and weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrandFace {
    pub family: String,
    pub weight: u16,
}

/// Why a brand font cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FontError {
    #[error("not a font file (TTF, OTF, WOFF or WOFF2): {0}")]
    NotAFont(String),
    #[error("the font has no glyphs to draw with")]
    NoGlyphs,
}

/// The fallback order: the chain above, with the Han variants of the store's locale.
struct Chain;

impl Fallback for Chain {
    fn common_fallback(&self) -> &[&'static str] {
        &[
            "Noto Sans",
            DEFAULT_FAMILY,
            "Noto Sans Symbols",
            "Noto Sans Symbols2",
            "Noto Color Emoji",
        ]
    }

    fn forbidden_fallback(&self) -> &[&'static str] {
        &[]
    }

    fn script_fallback(&self, script: Script, locale: &str) -> &[&'static str] {
        match script {
            Script::Arabic => &["Noto Sans Arabic"],
            Script::Hebrew => &["Noto Sans Hebrew"],
            Script::Devanagari => &["Noto Sans Devanagari"],
            Script::Thai => &["Noto Sans Thai"],
            Script::Hangul => &["Noto Sans CJK KR"],
            Script::Hiragana | Script::Katakana => &["Noto Sans CJK JP"],
            Script::Han | Script::Bopomofo => han_for(locale),
            _ => &[],
        }
    }
}

/// The CJK face whose Han glyphs readers of `locale` expect (`ja-JP`, `ko-KR`, `zh-TW`, …).
fn han_for(locale: &str) -> &'static [&'static str] {
    let lower = locale.to_ascii_lowercase().replace('_', "-");
    let mut parts = lower.split('-');
    match (
        parts.next().unwrap_or(""),
        parts.collect::<Vec<_>>().as_slice(),
    ) {
        ("ja", _) => &["Noto Sans CJK JP"],
        ("ko", _) => &["Noto Sans CJK KR"],
        ("zh", rest) if rest.contains(&"hk") || rest.contains(&"mo") => &["Noto Sans CJK HK"],
        ("zh", rest) if rest.contains(&"tw") || rest.contains(&"hant") => &["Noto Sans CJK TC"],
        _ => &["Noto Sans CJK SC"],
    }
}

/// The font database and fallback for one store's locale.
pub struct Fonts {
    system: FontSystem,
    /// Which of [`DECLARED`] are in the database.
    loaded: Vec<bool>,
    /// Declared fonts that are not installed, found when first needed.
    absent: Vec<&'static DeclaredFont>,
    /// Brand fonts by the caller's key (a file name or digest).
    brands: HashMap<String, BrandFace>,
    /// Where the declared fonts are looked for; Debian's paths outside tests.
    root: PathBuf,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Fonts")
            .field("locale", &self.system.locale())
            .field("faces", &self.system.db().len())
            .field("brands", &self.brands)
            .finish()
    }
}

impl Fonts {
    /// The bundled fonts and the declared chain, for text read by people of `locale` (`ja-JP`).
    pub fn new(locale: &str) -> Self {
        Self::with_root(locale, Path::new("/"))
    }

    fn with_root(locale: &str, root: &Path) -> Self {
        let mut database = fontdb::Database::new();
        for font in BUNDLED {
            database.load_font_data(font.to_vec());
        }
        database.set_sans_serif_family(DEFAULT_FAMILY);
        let mut fonts = Self {
            system: FontSystem::new_with_locale_and_db_and_fallback(
                locale.to_owned(),
                database,
                Chain,
            ),
            loaded: vec![false; DECLARED.len()],
            absent: Vec::new(),
            brands: HashMap::new(),
            root: root.to_owned(),
        };
        for (index, font) in DECLARED.iter().enumerate() {
            if font.needed.is_none() {
                fonts.load_declared(index);
            }
        }
        fonts
    }

    /// The locale fallback follows.
    pub fn locale(&self) -> &str {
        self.system.locale()
    }

    /// Follows another locale (a manifest from another store); the fonts stay loaded.
    pub fn set_locale(&mut self, locale: &str) {
        if self.system.locale() == locale {
            return;
        }
        let placeholder = FontSystem::new_with_locale_and_db_and_fallback(
            String::new(),
            fontdb::Database::new(),
            Chain,
        );
        let (_, database) = std::mem::replace(&mut self.system, placeholder).into_locale_and_db();
        self.system =
            FontSystem::new_with_locale_and_db_and_fallback(locale.to_owned(), database, Chain);
    }

    /// Declared fonts found missing when a text needed them: the player's package was installed
    /// without its dependencies. The text still shows, in the fonts there are.
    pub fn absent(&self) -> &[&'static DeclaredFont] {
        &self.absent
    }

    /// Reads the declared fonts `text` needs and has not had yet.
    pub fn prepare_for(&mut self, text: &str) {
        for (index, font) in DECLARED.iter().enumerate() {
            if self.loaded[index] {
                continue;
            }
            if let Some(needed) = font.needed
                && text.chars().any(needed)
            {
                self.load_declared(index);
            }
        }
    }

    fn load_declared(&mut self, index: usize) {
        self.loaded[index] = true;
        let font = &DECLARED[index];
        let path = self.root.join(font.path.trim_start_matches('/'));
        match std::fs::read(&path) {
            Ok(data) => {
                self.system.db_mut().load_font_data(data);
            }
            Err(_) => self.absent.push(font),
        }
    }

    /// Loads a brand font (TTF, OTF, WOFF or WOFF2) under `key`, once; gives the face to name in
    /// [`crate::TextRequest::face`].
    pub fn load_brand(&mut self, key: &str, data: &[u8]) -> Result<BrandFace, FontError> {
        if let Some(face) = self.brands.get(key) {
            return Ok(face.clone());
        }
        let face = self.read_brand(data)?;
        self.brands.insert(key.to_owned(), face.clone());
        Ok(face)
    }

    /// A brand font loaded before under `key`.
    pub fn brand(&self, key: &str) -> Option<&BrandFace> {
        self.brands.get(key)
    }

    fn read_brand(&mut self, data: &[u8]) -> Result<BrandFace, FontError> {
        let sfnt = match data.get(..4) {
            Some(b"wOF2") => wuff::decompress_woff2(data)
                .map_err(|error| FontError::NotAFont(format!("bad WOFF2 data ({error:?})")))?,
            Some(b"wOFF") => wuff::decompress_woff1(data)
                .map_err(|error| FontError::NotAFont(format!("bad WOFF data ({error:?})")))?,
            _ => data.to_vec(),
        };
        if FontRef::from_index(&sfnt, 0).is_err() {
            return Err(FontError::NotAFont(describe_bytes(data)));
        }
        let before: Vec<fontdb::ID> = self.system.db().faces().map(|face| face.id).collect();
        let database = self.system.db_mut();
        database.load_font_data(sfnt);
        let added: Vec<&fontdb::FaceInfo> = database
            .faces()
            .filter(|face| !before.contains(&face.id))
            .collect();
        let Some(face) = added.first() else {
            return Err(FontError::NotAFont(describe_bytes(data)));
        };
        let id = face.id;
        let weight = face.weight.0;
        let family = face
            .families
            .first()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        let glyphs = database
            .with_face_data(id, |bytes, index| {
                FontRef::from_index(bytes, index)
                    .and_then(|font| font.maxp())
                    .map_or(0, |maxp| maxp.num_glyphs())
            })
            .unwrap_or(0);
        if glyphs <= 1 || family.is_empty() {
            let ids: Vec<fontdb::ID> = added.iter().map(|face| face.id).collect();
            for id in ids {
                self.system.db_mut().remove_face(id);
            }
            return Err(FontError::NoGlyphs);
        }
        Ok(BrandFace { family, weight })
    }

    /// The cosmic-text font system, to lay out with and to hand to the renderer.
    pub fn system(&mut self) -> &mut FontSystem {
        &mut self.system
    }

    /// The chain as installed under `root` instead of `/`: a machine without some of its fonts.
    pub fn installed_under(locale: &str, root: &Path) -> Self {
        Self::with_root(locale, root)
    }
}

/// What a file that is not a font looks like, for the error: a PNG, a JPEG, a ZIP, or its size.
fn describe_bytes(data: &[u8]) -> String {
    let kind = match data {
        [0x89, b'P', b'N', b'G', ..] => "it is a PNG image",
        [0xFF, 0xD8, 0xFF, ..] => "it is a JPEG image",
        [b'P', b'K', 3, 4, ..] => "it is a ZIP archive",
        [] => "the file is empty",
        _ => "no font tables were found",
    };
    format!("{kind} ({} bytes)", data.len())
}
