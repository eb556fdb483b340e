use proptest::prelude::*;

use super::*;

fn request(text: &str, size_px: f32, width: f32, height: f32) -> TextRequest<'_> {
    TextRequest {
        text,
        face: None,
        bold: false,
        size_px,
        min_size_px: 12.0,
        width,
        height,
        align: TextAlign::Center,
        max_lines: None,
    }
}

/// Every glyph inside the box, every line above its bottom.
fn assert_inside(fitted: &Fitted, width: f32, height: f32) {
    for run in fitted
        .buffer
        .layout_runs()
        .filter(|run| !run.glyphs.is_empty())
    {
        assert!(
            run.line_top + run.line_height <= height.max(1.0) + 0.5,
            "line at {} + {} below a box {height} high",
            run.line_top,
            run.line_height
        );
        // Spaces draw nothing: one hanging past the end of a line is not outside.
        let inked = run.glyphs.iter().filter(|glyph| {
            !run.text
                .get(glyph.start..glyph.end)
                .is_some_and(|cluster| cluster.chars().all(char::is_whitespace))
        });
        for glyph in inked {
            assert!(
                glyph.x >= -0.5 && glyph.x + glyph.w <= width.max(1.0) + 0.5,
                "glyph at {}..{} outside a box {width} wide",
                glyph.x,
                glyph.x + glyph.w
            );
        }
    }
}

/// Whether the last line carries the ellipsis, as the chain draws it: at its end in reading
/// order, which in a line mixing directions may sit anywhere along it.
fn ends_in_ellipsis(fonts: &mut Fonts, fitted: &Fitted) -> bool {
    let dots = one_line(fonts, "\u{2026}", None, false, fitted.size_px);
    let dot = dots.buffer.layout_runs().next().unwrap().glyphs[0].glyph_id;
    let Some(last) = fitted.buffer.layout_runs().last() else {
        return false;
    };
    last.glyphs.iter().any(|glyph| glyph.glyph_id == dot)
}

/// The text as drawn: each character of each paragraph that some glyph stands for, once, in
/// reading order (a cluster split over two lines counts once).
fn drawn(fitted: &Fitted) -> String {
    let mut paragraphs: Vec<(usize, &str, Vec<bool>)> = Vec::new();
    for run in fitted.buffer.layout_runs() {
        let index = match paragraphs
            .iter()
            .position(|(line, _, _)| *line == run.line_i)
        {
            Some(index) => index,
            None => {
                paragraphs.push((run.line_i, run.text, vec![false; run.text.len()]));
                paragraphs.len() - 1
            }
        };
        let covered = &mut paragraphs[index].2;
        for glyph in run.glyphs {
            for byte in glyph.start..glyph.end.min(covered.len()) {
                covered[byte] = true;
            }
        }
    }
    let mut shown = String::new();
    for (_, text, covered) in paragraphs {
        for (index, c) in text.char_indices() {
            if covered[index] {
                shown.push(c);
            }
        }
    }
    shown
}

#[test]
fn a_short_text_that_fits_keeps_its_size() {
    let mut fonts = Fonts::new("en-US");
    let fitted = fit(&mut fonts, &request("Soldes", 40.0, 400.0, 100.0));
    assert_eq!(fitted.outcome, Outcome::Whole);
    assert_eq!(fitted.size_px, 40.0);
    assert!(fitted.missing.is_empty());
}

#[test]
fn opening_hours_shrink_to_stay_whole() {
    // The default size in a 960×540 screen's full-width band: 50 % of 135 px.
    let mut fonts = Fonts::new("en-US");
    let fitted = fit(
        &mut fonts,
        &request("Open until 19:00", 270.0, 960.0, 135.0),
    );
    assert_eq!(fitted.outcome, Outcome::Shrunk);
    assert!(fitted.size_px < 270.0 && fitted.size_px >= 12.0);
    assert_inside(&fitted, 960.0, 135.0);
    let shown = drawn(&fitted);
    assert!(shown.contains("19:00"), "{shown:?}");
}

#[test]
fn too_much_text_ends_in_an_ellipsis_at_the_smallest_size() {
    let mut fonts = Fonts::new("en-US");
    let text = "Offre spéciale ".repeat(200);
    let fitted = fit(&mut fonts, &request(&text, 40.0, 300.0, 60.0));
    assert_eq!(fitted.outcome, Outcome::Ellipsised);
    assert_eq!(fitted.size_px, 12.0);
    assert_inside(&fitted, 300.0, 60.0);
    assert!(ends_in_ellipsis(&mut fonts, &fitted), "{}", drawn(&fitted));
}

#[test]
fn a_title_keeps_to_its_lines() {
    let mut fonts = Fonts::new("en-US");
    let text = "Organic fair-trade whole bean espresso roast, a blend of three origins";
    let fitted = fit(
        &mut fonts,
        &TextRequest {
            max_lines: Some(2),
            min_size_px: 30.0,
            ..request(text, 30.0, 400.0, 500.0)
        },
    );
    assert_eq!(fitted.outcome, Outcome::Ellipsised);
    assert_eq!(fitted.buffer.layout_runs().count(), 2);
    assert!(ends_in_ellipsis(&mut fonts, &fitted), "{}", drawn(&fitted));
}

#[test]
fn a_long_word_split_in_a_right_to_left_line_loses_no_letter() {
    // Splitting this word across lines in a right-to-left paragraph loses a line in the shaper;
    // fitting must notice and not call the text whole.
    let mut fonts = Fonts::new("en-US");
    let text = "مفتوح ख\u{941}ला supercalifragilisticexpialidocious";
    let fitted = fit(&mut fonts, &request(text, 8.0, 39.945698, 313.60074));
    let strip = |text: &str| {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    };
    if fitted.outcome != Outcome::Ellipsised {
        assert_eq!(strip(&drawn(&fitted)), strip(text), "{:?}", fitted.outcome);
    }
}

#[test]
fn a_column_narrower_than_a_long_word_in_a_right_to_left_paragraph_still_ends_in_an_ellipsis() {
    let mut fonts = Fonts::new("en-US");
    let text = "مفتوح Soldes Soldes مفتوح مفتوح 営業 שלום supercalifragilisticexpialidocious \
                ख\u{941}ला supercalifragilisticexpialidocious مفتوح 営業 Soldes Soldes Soldes";
    let fitted = fit(&mut fonts, &request(text, 8.0, 12.771268, 221.89511));
    assert_inside(&fitted, 12.771268, 221.89511);
    assert_eq!(fitted.outcome, Outcome::Ellipsised);
    assert!(ends_in_ellipsis(&mut fonts, &fitted), "{}", drawn(&fitted));
}

#[test]
fn a_huge_text_costs_a_full_box() {
    let mut fonts = Fonts::new("en-US");
    let text = "x".repeat(100_000);
    let fitted = fit(&mut fonts, &request(&text, 40.0, 200.0, 40.0));
    assert_eq!(fitted.outcome, Outcome::Ellipsised);
    assert_inside(&fitted, 200.0, 40.0);
}

#[test]
fn control_characters_and_empty_text_draw_nothing_odd() {
    let mut fonts = Fonts::new("en-US");
    let fitted = fit(&mut fonts, &request("", 40.0, 200.0, 40.0));
    assert_eq!(fitted.outcome, Outcome::Whole);
    let fitted = fit(
        &mut fonts,
        &request("Prix\u{0007}\u{001b}[0m\t12 €", 20.0, 200.0, 40.0),
    );
    assert!(fitted.missing.is_empty(), "{:?}", fitted.missing);
    assert_eq!(drawn(&fitted), "Prix[0m 12 €");
    let fitted = fit(&mut fonts, &request("zero", 20.0, 0.0, 0.0));
    assert_eq!(fitted.outcome, Outcome::NoRoom);
    assert_eq!(
        fitted
            .buffer
            .layout_runs()
            .map(|run| run.glyphs.len())
            .sum::<usize>(),
        0
    );
}

#[test]
fn every_script_of_the_chain_has_its_glyphs() {
    let mut fonts = Fonts::new("ja-JP");
    for text in [
        "Open until 19:00",
        "Открыто до 19:00",
        "Ανοιχτό έως 19:00",
        "مفتوح حتى 19:00",
        "פתוח עד 19:00",
        "19:00 तक खुला",
        "เปิดถึง 19:00",
        "营业时间 10:00–20:00",
        "營業時間 10:00–20:00",
        "営業時間 10:00–20:00",
        "영업시간 10:00–20:00",
        "Noël 🎄 👨‍👩‍👧",
    ] {
        let fitted = fit(&mut fonts, &request(text, 30.0, 1000.0, 100.0));
        assert!(
            fitted.missing.is_empty(),
            "{text}: no glyph for {:?}; absent fonts: {:?}",
            fitted.missing,
            fonts.absent()
        );
    }
    assert!(fonts.absent().is_empty(), "{:?}", fonts.absent());
}

#[test]
fn a_machine_without_the_cjk_package_names_it_and_the_characters_it_cannot_draw() {
    let empty = std::env::temp_dir().join("vitrine-text-no-fonts");
    let mut fonts = Fonts::installed_under("ja-JP", &empty);
    let fitted = fit(&mut fonts, &request("Soldes 営業", 30.0, 1000.0, 100.0));
    assert_eq!(fitted.missing, vec!['営', '業']);
    let packages: Vec<&str> = fonts.absent().iter().map(|font| font.package).collect();
    assert!(packages.contains(&"fonts-noto-core"), "{packages:?}");
    assert!(packages.contains(&"fonts-noto-cjk"), "{packages:?}");
    assert!(
        !packages.contains(&"fonts-noto-color-emoji"),
        "emoji were never needed"
    );
}

#[test]
fn a_character_no_font_has_is_named() {
    let mut fonts = Fonts::new("en-US");
    // A private-use code point: no font of the chain draws it.
    let fitted = fit(&mut fonts, &request("Prix \u{E000}", 30.0, 1000.0, 100.0));
    assert_eq!(fitted.missing, vec!['\u{E000}']);
}

#[test]
fn han_characters_follow_the_store_locale() {
    // U+76F4 直 is drawn differently in Japan and in China: the face comes from the locale.
    let face_of = |locale: &str| {
        let mut fonts = Fonts::new(locale);
        let fitted = fit(&mut fonts, &request("直", 30.0, 100.0, 100.0));
        let run = fitted.buffer.layout_runs().next().unwrap();
        let id = run.glyphs[0].font_id;
        let face = fonts.system().db().face(id).unwrap();
        face.families[0].0.clone()
    };
    assert_eq!(face_of("ja-JP"), "Noto Sans CJK JP");
    assert_eq!(face_of("zh-CN"), "Noto Sans CJK SC");
    assert_eq!(face_of("zh-TW"), "Noto Sans CJK TC");
    assert_eq!(face_of("ko-KR"), "Noto Sans CJK KR");
}

#[test]
fn right_to_left_lines_run_right_to_left() {
    let mut fonts = Fonts::new("he-IL");
    let fitted = fit(&mut fonts, &request("שלום 12", 30.0, 1000.0, 100.0));
    let run = fitted.buffer.layout_runs().next().unwrap();
    assert!(run.rtl);
    // The first letter written (ש) is drawn right of the last (ם).
    let x_of = |byte: usize| {
        run.glyphs
            .iter()
            .find(|glyph| glyph.start == byte)
            .map(|glyph| glyph.x)
            .unwrap()
    };
    assert!(x_of(0) > x_of("שלו".len()));
}

#[test]
fn a_brand_font_is_used_and_a_png_is_refused() {
    let mut fonts = Fonts::new("en-US");
    let serif = std::fs::read("/usr/share/fonts/truetype/noto/NotoSerif-Bold.ttf").unwrap();
    let face = fonts.load_brand("brand.ttf", &serif).unwrap();
    assert_eq!((face.family.as_str(), face.weight), ("Noto Serif", 700));
    let fitted = fit(
        &mut fonts,
        &TextRequest {
            face: Some(&face),
            ..request("Soldes 営業", 30.0, 1000.0, 100.0)
        },
    );
    let run = fitted.buffer.layout_runs().next().unwrap();
    let mut family_of = |index: usize| {
        let id = run.glyphs[index].font_id;
        fonts.system().db().face(id).unwrap().families[0].0.clone()
    };
    assert_eq!(family_of(0), "Noto Serif");
    // The chain still draws what the brand font lacks.
    assert!(family_of(run.glyphs.len() - 1).starts_with("Noto Sans CJK"));
    let png = [0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0];
    assert_eq!(
        fonts.load_brand("logo.png", &png),
        Err(FontError::NotAFont("it is a PNG image (10 bytes)".into()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fitted_text_stays_in_its_box_and_is_whole_or_ellipsised(
        words in prop::collection::vec(
            prop::sample::select(vec![
                "Soldes", "Открыто", "مفتوح", "שלום", "खुला", "เปิด", "营业时间", "営業", "영업",
                "🎄", "19:00", "supercalifragilisticexpialidocious", "–", "€12,99",
            ]),
            1..40,
        ),
        width in 1.0f32..1200.0,
        height in 1.0f32..400.0,
        size in 8.0f32..200.0,
    ) {
        let mut fonts = Fonts::new("en-US");
        let text = words.join(" ");
        let fitted = fit(&mut fonts, &TextRequest {
            min_size_px: 8.0,
            ..request(&text, size, width, height)
        });
        assert_inside(&fitted, width, height);
        let shown = drawn(&fitted);
        match fitted.outcome {
            Outcome::Ellipsised => prop_assert!(ends_in_ellipsis(&mut fonts, &fitted), "{shown:?}"),
            // Only a box too small for an ellipsis a pixel high has no room at all.
            Outcome::NoRoom => prop_assert!(width < 4.0 || height < 2.0, "no room in {width}×{height}"),
            _ => {
                let strip = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>();
                prop_assert_eq!(strip(&shown), strip(&text));
            }
        }
    }
}
