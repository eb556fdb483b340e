//! Every key the YAML schemas in `schema/` accept must do something, and a test must show it: this
//! walks the committed JSON Schemas and fails on a key that no test of the workspace names as a
//! YAML key (`key:` inside a string literal of test code: a test file, or the `#[cfg(test)]` part
//! of a source file). A key that passes validation and is never used (a text item's `background`
//! once was) then shows up here, or in the test that names it and checks its effect.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every property name anywhere in a JSON Schema.
fn schema_keys(schema: &serde_json::Value, keys: &mut BTreeSet<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                keys.extend(properties.keys().cloned());
            }
            for value in map.values() {
                schema_keys(value, keys);
            }
        }
        serde_json::Value::Array(values) => {
            for value in values {
                schema_keys(value, keys);
            }
        }
        _ => {}
    }
}

/// The contents of the string literals of Rust source: `"..."` with escapes, and raw strings.
/// Comments and char literals are skipped, so a `"` in them does not open a string.
fn string_literals(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut literals = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                while index < bytes.len() && bytes[index] != b'\n' {
                    index += 1;
                }
            }
            b'\'' => {
                // A char literal (`'"'`, `'\"'`) is skipped whole; a lifetime is one quote.
                if bytes.get(index + 2) == Some(&b'\'') {
                    index += 3;
                } else if bytes.get(index + 1) == Some(&b'\\')
                    && bytes.get(index + 3) == Some(&b'\'')
                {
                    index += 4;
                } else {
                    index += 1;
                }
            }
            b'r' if matches!(bytes.get(index + 1), Some(b'"' | b'#'))
                && (index == 0 || !bytes[index - 1].is_ascii_alphanumeric()) =>
            {
                let mut hashes = 0;
                let mut cursor = index + 1;
                while bytes.get(cursor) == Some(&b'#') {
                    hashes += 1;
                    cursor += 1;
                }
                if bytes.get(cursor) != Some(&b'"') {
                    index += 1;
                    continue;
                }
                let closing = format!("\"{}", "#".repeat(hashes));
                let start = cursor + 1;
                let end = source[start..]
                    .find(&closing)
                    .map_or(bytes.len(), |offset| start + offset);
                literals.push(source[start..end].to_owned());
                index = end + closing.len();
            }
            b'"' => {
                let mut literal = String::new();
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    if bytes[index] == b'\\' {
                        match bytes.get(index + 1) {
                            Some(b'n') => literal.push('\n'),
                            Some(b'"') => literal.push('"'),
                            Some(b'\\') => literal.push('\\'),
                            _ => {}
                        }
                        index += 2;
                        continue;
                    }
                    let character = source[index..].chars().next().unwrap_or(' ');
                    literal.push(character);
                    index += character.len_utf8();
                }
                literals.push(literal);
                index += 1;
            }
            _ => index += 1,
        }
    }
    literals
}

fn rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The test code of the workspace: test files whole, source files from their `#[cfg(test)]` on.
fn test_code() -> Vec<String> {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("tests"), &mut files);
    for crate_dir in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        rust_files(&crate_dir.path().join("tests"), &mut files);
        rust_files(&crate_dir.path().join("src"), &mut files);
    }
    files
        .into_iter()
        .filter(|path| !path.ends_with("schema_keys.rs"))
        .filter_map(|path| {
            let source = std::fs::read_to_string(&path).ok()?;
            let is_test_file = path.components().any(|part| part.as_os_str() == "tests");
            if is_test_file {
                Some(source)
            } else {
                source
                    .find("#[cfg(test)]")
                    .map(|start| source[start..].to_owned())
            }
        })
        .collect()
}

/// Whether `text` has `key:` as a YAML key: not preceded by a letter, digit or `_`.
fn names_key(text: &str, key: &str) -> bool {
    let pattern = format!("{key}:");
    text.match_indices(&pattern).any(|(at, _)| {
        text[..at]
            .chars()
            .next_back()
            .is_none_or(|before| !(before.is_alphanumeric() || before == '_'))
    })
}

/// Keys the schemas accept that have no effect yet, each with why. The list may only shrink: a key
/// here that a test names is an error too, so it leaves the list when it gets its effect.
const WITHOUT_EFFECT_YET: &[(&str, &str)] = &[(
    "orientation",
    "a playlist's `orientation` is read and validated but nothing uses it: the screen's rotation \
     comes from the player's configuration",
)];

#[test]
fn every_key_the_schemas_accept_is_named_by_a_test() {
    let mut keys = BTreeSet::new();
    for name in ["playlist", "fragment", "campaign"] {
        let path = workspace().join(format!("schema/{name}.schema.json"));
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        schema_keys(&schema, &mut keys);
    }
    assert!(keys.len() > 50, "only {} keys: {keys:?}", keys.len());
    let literals: Vec<String> = test_code()
        .iter()
        .flat_map(|source| string_literals(source))
        .collect();
    let named = |key: &str| literals.iter().any(|literal| names_key(literal, key));
    let known = |key: &str| WITHOUT_EFFECT_YET.iter().any(|(known, _)| *known == key);
    let unnamed: Vec<&String> = keys
        .iter()
        .filter(|key| !named(key) && !known(key))
        .collect();
    let no_longer_unnamed: Vec<&str> = WITHOUT_EFFECT_YET
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| named(key) || !keys.contains(*key))
        .collect();
    assert!(
        no_longer_unnamed.is_empty(),
        "take {no_longer_unnamed:?} out of WITHOUT_EFFECT_YET: a test names them now, or the \
         schemas no longer have them"
    );
    assert!(
        unnamed.is_empty(),
        "no test uses these keys the schemas accept: {unnamed:?}; write a test that shows what \
         each one does (a golden image or an asserted behaviour), or take it out of the schema"
    );
}

#[test]
fn string_literals_are_read_as_rust_writes_them() {
    let source = r##"let a = "size: 1"; // "color: 2"
let b = r#"speed: "3""#; let c = '"'; let d = "slide:\n";"##;
    assert_eq!(
        string_literals(source),
        vec!["size: 1", "speed: \"3\"", "slide:\n"]
    );
    assert!(names_key("{ size: 20% }", "size"));
    assert!(!names_key("font_size: 20%", "size"));
}
