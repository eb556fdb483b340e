//! Every key the YAML schemas in `schema/` accept must do something, and a test must show it: this
//! walks the committed JSON Schemas and fails on a key that no test of the workspace writes, in
//! its place, in the YAML of its string literals (test files, and the `#[cfg(test)]` part of
//! source files). "In its place" means under the key it belongs to: `background` under `text` is
//! not `background` under a zone. A key that passes validation and is never used (a text item's
//! `background` once was) then shows up here, or in the test that writes it and checks its effect.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every key of a JSON Schema with the key it sits under: `("text", "background")`, and `("",
/// "version")` for a key of the document itself. Maps of names (`dayparts`, `zones`, `offers`)
/// and lists are looked through, so their entries' keys sit under the map's or list's key.
fn schema_pairs(
    root: &serde_json::Value,
    node: &serde_json::Value,
    parent: &str,
    depth: usize,
    pairs: &mut BTreeSet<(String, String)>,
) {
    if depth > 16 {
        return;
    }
    if let Some(reference) = node.get("$ref").and_then(serde_json::Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        schema_pairs(root, &root["$defs"][name], parent, depth + 1, pairs);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for option in node
            .get(combinator)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            schema_pairs(root, option, parent, depth + 1, pairs);
        }
    }
    if let Some(properties) = node
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (key, value) in properties {
            pairs.insert((parent.to_owned(), key.clone()));
            schema_pairs(root, value, key, depth + 1, pairs);
        }
    }
    for nested in ["items", "additionalProperties"] {
        if let Some(inner) = node.get(nested).filter(|inner| inner.is_object()) {
            schema_pairs(root, inner, parent, depth + 1, pairs);
        }
    }
}

/// Every key of a YAML value with its two nearest enclosing keys (nearest first); an empty list
/// for a key at the top of the value.
fn yaml_keys(
    value: &serde_json::Value,
    ancestors: &[String],
    keys: &mut Vec<(String, Vec<String>)>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                keys.push((key.clone(), ancestors.iter().take(2).cloned().collect()));
                let mut deeper = vec![key.clone()];
                deeper.extend(ancestors.iter().cloned());
                yaml_keys(inner, &deeper, keys);
            }
        }
        serde_json::Value::Array(values) => {
            for inner in values {
                yaml_keys(inner, ancestors, keys);
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

/// Whether a test writes `key` under `parent`: as its nearest or second enclosing key (entries
/// of a map of names sit one level deeper), or at the top of a piece of YAML whose context the
/// test adds (`  - text: { ... }` is an item wherever it goes). A key of the document itself must
/// be at the top.
fn written(keys: &[(String, Vec<String>)], parent: &str, key: &str) -> bool {
    keys.iter().any(|(written_key, ancestors)| {
        written_key == key
            && if parent.is_empty() {
                ancestors.is_empty()
            } else {
                ancestors.is_empty() || ancestors.iter().any(|ancestor| ancestor == parent)
            }
    })
}

fn shown(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Keys the schemas accept that no test shows yet, each with why: some have no effect at all.
/// The list may only shrink: a key here that a test writes in its place is an error too, so it
/// leaves the list when it gets its test.
const WITHOUT_EFFECT_YET: &[(&str, &str)] = &[];

#[test]
fn every_key_the_schemas_accept_is_named_by_a_test() {
    let mut pairs = BTreeSet::new();
    for name in ["playlist", "fragment", "campaign"] {
        let path = workspace().join(format!("schema/{name}.schema.json"));
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        schema_pairs(&schema, &schema, "", 0, &mut pairs);
    }
    assert!(pairs.len() > 100, "only {} keys: {pairs:?}", pairs.len());
    let mut keys = Vec::new();
    for literal in test_code()
        .iter()
        .flat_map(|source| string_literals(source))
    {
        // JSON bodies of API requests and answers are not the YAML staff write, even when their
        // keys share names with the schemas' (an interrupt's `screens`).
        if !literal.contains(':') || serde_json::from_str::<serde_json::Value>(&literal).is_ok() {
            continue;
        }
        if let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(&literal) {
            yaml_keys(&value, &[], &mut keys);
        }
    }
    let known = |parent: &str, key: &str| {
        WITHOUT_EFFECT_YET
            .iter()
            .any(|(known, _)| *known == shown(parent, key))
    };
    let unwritten: Vec<String> = pairs
        .iter()
        .filter(|(parent, key)| !written(&keys, parent, key) && !known(parent, key))
        .map(|(parent, key)| shown(parent, key))
        .collect();
    let now_written: Vec<&str> = WITHOUT_EFFECT_YET
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| {
            !pairs
                .iter()
                .any(|(parent, written_key)| shown(parent, written_key) == *key)
                || pairs.iter().any(|(parent, written_key)| {
                    shown(parent, written_key) == *key && written(&keys, parent, written_key)
                })
        })
        .collect();
    assert!(
        now_written.is_empty(),
        "take {now_written:?} out of WITHOUT_EFFECT_YET: a test writes them now, or the schemas \
         no longer have them"
    );
    assert!(
        unwritten.is_empty(),
        "no test writes these keys the schemas accept, in their place: {unwritten:?}; write a \
         test that shows what each one does (a golden image or an asserted behaviour), or take it \
         out of the schema"
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
    let mut keys = Vec::new();
    let value: serde_json::Value =
        serde_saphyr::from_str("zones:\n  main:\n    background: \"#000000\"\n").unwrap();
    yaml_keys(&value, &[], &mut keys);
    assert!(written(&keys, "zones", "background"));
    assert!(
        !written(&keys, "text", "background"),
        "a zone's background is not a text's"
    );
    assert!(written(&keys, "", "zones"));
}
