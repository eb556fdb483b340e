//! By property: a valid playlist with one field corrupted is refused with exactly one error, at
//! that field's line. A mistake never hides behind another, and never drags a second one in.

use proptest::prelude::*;
use vitrine_core::parse_playlist_with_includes;

/// One line of the generated playlist: a key, a valid value, and ways to get the value wrong
/// (`KEY` in a corruption stands for a misspelt key instead of a bad value).
struct Field {
    indent: usize,
    key: &'static str,
    valid: &'static str,
    optional: bool,
    corruptions: &'static [&'static str],
}

const fn field(
    indent: usize,
    key: &'static str,
    valid: &'static str,
    optional: bool,
    corruptions: &'static [&'static str],
) -> Field {
    Field {
        indent,
        key,
        valid,
        optional,
        corruptions,
    }
}

/// Lines with no key (`- image:`) are written as they are and never corrupted.
const FIELDS: &[Field] = &[
    field(0, "version", "1", false, &["one", "[1]"]),
    field(0, "name", "generated", false, &["[a, b]", "\"\""]),
    field(0, "orientation", "portrait", true, &["sideways", "KEY"]),
    field(0, "dayparts:", "", false, &[]),
    field(
        2,
        "morning",
        "\"07:00-11:00\"",
        false,
        &["{ from: \"07:00\" }", "7-11", "\"07:00-25:00\""],
    ),
    field(0, "layout:", "", false, &[]),
    field(2, "main:", "", false, &[]),
    field(
        4,
        "background",
        "\"#101010\"",
        true,
        &["#101010", "\"#12\"", "[black]"],
    ),
    field(4, "volume", "80%", true, &["loud", "180%"]),
    field(4, "items:", "", false, &[]),
    field(6, "- image:", "", false, &[]),
    field(
        10,
        "file",
        "promo.png",
        false,
        &["/srv/promo.png", "[a.png]", "../promo.png"],
    ),
    field(
        10,
        "duration",
        "10s",
        false,
        &["10", "ten", "{ s: 10 }", "-5s"],
    ),
    field(10, "fit", "cover", true, &["fill", "[cover]", "KEY"]),
    field(
        10,
        "transition",
        "{ crossfade: 500ms }",
        true,
        &["fade", "{ crossfade: 1 }", "{ crossfade: 20s }"],
    ),
    field(6, "- text:", "", false, &[]),
    field(10, "text", "Fresh bread", false, &["\"\"", "{ a: b }"]),
    field(10, "duration", "5s", false, &["5", "5 s"]),
    field(
        10,
        "color",
        "\"#ffffff\"",
        true,
        &["#ffffff", "white", "KEY"],
    ),
    field(10, "align", "left", true, &["middle", "KEY"]),
    field(10, "size", "40%", true, &["big", "0%"]),
    field(4, "loops:", "", false, &[]),
    field(6, "- name", "breakfast", false, &["Breakfast Time", "[a]"]),
    field(8, "priority", "1", false, &["high", "1.5"]),
    field(8, "dayparts", "[morning]", true, &["morning", "[evening]"]),
    field(
        8,
        "weekdays",
        "[mon-fri]",
        true,
        &["[funday]", "mon-fri", "[fri-mon]"],
    ),
    field(
        8,
        "from",
        "2026-01-01",
        true,
        &["2026-13-01", "soon", "KEY"],
    ),
    field(8, "items:", "", false, &[]),
    field(10, "- video:", "", false, &[]),
    field(14, "file", "bread.mp4", false, &["", "C:\\bread.mp4"]),
    field(14, "duration", "30s", false, &["30", "25h"]),
    field(14, "sound", "true", false, &["loud", "[true]"]),
    field(14, "volume", "50%", true, &["half", "150%"]),
];

/// The playlist with the optional fields `present` says, and `corrupt` (a field's index and a
/// corruption's index) applied; the corrupted line's number, if any.
fn playlist(present: &[bool], corrupt: Option<(usize, usize)>) -> (String, Option<usize>) {
    let mut yaml = String::new();
    let mut corrupted_line = None;
    let mut line = 0;
    for (index, field) in FIELDS.iter().enumerate() {
        if field.optional && !present[index] {
            continue;
        }
        line += 1;
        let indent = " ".repeat(field.indent);
        if field.corruptions.is_empty() {
            yaml.push_str(&format!("{indent}{}\n", field.key));
            continue;
        }
        let mut key = field.key.to_owned();
        let mut value = field.valid.to_owned();
        if let Some((corrupt_index, corruption)) = corrupt
            && corrupt_index == index
        {
            corrupted_line = Some(line);
            match field.corruptions[corruption % field.corruptions.len()] {
                "KEY" => key.push('x'),
                bad => value = bad.to_owned(),
            }
        }
        yaml.push_str(&format!("{indent}{key}: {value}\n"));
    }
    (yaml, corrupted_line)
}

fn corruptible() -> Vec<usize> {
    (0..FIELDS.len())
        .filter(|&index| !FIELDS[index].corruptions.is_empty())
        .collect()
}

#[test]
fn every_generated_playlist_is_valid_before_it_is_corrupted() {
    let (yaml, _) = playlist(&[true; FIELDS.len()], None);
    let parsed = parse_playlist_with_includes("generated.yaml", &yaml, &|_| Err(String::new()))
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}\n{yaml}"));
    assert!(parsed.warnings.is_empty(), "{}", parsed.warnings);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn one_corrupted_field_is_reported_alone_at_its_line(
        present in prop::collection::vec(any::<bool>(), FIELDS.len()),
        which in any::<prop::sample::Index>(),
        corruption in 0..8usize,
    ) {
        let (valid, _) = playlist(&present, None);
        let parsed = parse_playlist_with_includes("generated.yaml", &valid, &|_| Err(String::new()));
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), valid);

        let candidates: Vec<usize> = corruptible()
            .into_iter()
            .filter(|&index| !FIELDS[index].optional || present[index])
            .collect();
        let field = *which.get(&candidates);
        let (yaml, line) = playlist(&present, Some((field, corruption)));
        let line = line.unwrap() as u64;
        let diagnostics = parse_playlist_with_includes("generated.yaml", &yaml, &|_| Err(String::new()))
            .expect_err("a corrupted field must be refused");
        let errors: Vec<_> = diagnostics.errors().collect();
        prop_assert_eq!(errors.len(), 1, "{}\n{}", diagnostics, yaml);
        prop_assert_eq!(errors[0].line, line, "{}\n{}", diagnostics, yaml);
    }
}
