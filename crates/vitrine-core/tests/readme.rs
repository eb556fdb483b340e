//! Every YAML example in `playlists/README.md` is checked, so the staff reference cannot drift from
//! the software. A block's info string says what it is:
//!
//! - ` ```yaml ` a playlist that must be valid, without warnings;
//! - ` ```yaml error: FRAGMENT ` a playlist that must be refused with a message containing FRAGMENT,
//!   and, when its comments name several mistakes, with one error per commented line;
//! - ` ```yaml warning: FRAGMENT ` a valid playlist whose only warning contains FRAGMENT;
//! - ` ```yaml fragment ` a fragment; its first line is a comment naming its path, and the playlist
//!   blocks may include it by that path;
//! - ` ```yaml campaign ` and ` ```yaml campaign error: FRAGMENT ` the same for campaigns.

use std::collections::HashMap;
use std::path::Path;

use vitrine_core::{parse_campaign, parse_playlist_with_includes};

struct Block {
    info: String,
    line: usize,
    text: String,
}

fn yaml_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        match current.take() {
            Some(block) if line.trim_start().starts_with("```") => blocks.push(block),
            Some(mut block) => {
                block.text.push_str(line);
                block.text.push('\n');
                current = Some(block);
            }
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```yaml") {
                    current = Some(Block {
                        info: info.trim().to_owned(),
                        line: index + 1,
                        text: String::new(),
                    });
                }
            }
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks
}

#[test]
fn every_yaml_example_in_the_reference_behaves_as_it_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playlists/README.md");
    let markdown = std::fs::read_to_string(path).unwrap();
    let blocks = yaml_blocks(&markdown);
    let fragments: HashMap<String, String> = blocks
        .iter()
        .filter(|block| block.info == "fragment")
        .map(|block| {
            let first = block.text.lines().next().unwrap_or_default();
            let name = first.trim_start_matches('#').trim().to_owned();
            (name, block.text.clone())
        })
        .collect();
    let resolver = |include: &str| {
        fragments
            .get(include)
            .cloned()
            .ok_or_else(|| "not among the README's fragments".to_owned())
    };
    let mut checked = 0;
    for block in &blocks {
        let name = format!("README.md block at line {}", block.line);
        let (is_campaign, rest) = match block.info.strip_prefix("campaign") {
            Some(rest) => (true, rest.trim()),
            None => (false, block.info.as_str()),
        };
        if rest == "fragment" {
            continue;
        }
        let result = if is_campaign {
            parse_campaign(&name, &block.text).map(|parsed| parsed.warnings)
        } else {
            parse_playlist_with_includes(&name, &block.text, &resolver)
                .map(|parsed| parsed.warnings)
        };
        if let Some(expected) = rest.strip_prefix("warning:") {
            let warnings = result
                .unwrap_or_else(|diagnostics| panic!("{name} should be valid:\n{diagnostics}"));
            assert_eq!(warnings.len(), 1, "{name}:\n{warnings}");
            assert!(
                warnings.0[0].message.contains(expected.trim()),
                "{name} should warn `{}`, got:\n{warnings}",
                expected.trim()
            );
            checked += 1;
            continue;
        }
        if let (Some(_), Err(diagnostics)) = (rest.strip_prefix("error:"), &result) {
            // Every line whose comment says what is wrong there has an error of its own.
            let commented: Vec<u64> = block
                .text
                .lines()
                .enumerate()
                .filter(|(_, line)| line.contains("  # "))
                .map(|(index, _)| index as u64 + 1)
                .collect();
            if commented.len() > 1 {
                let lines: Vec<u64> = diagnostics.errors().map(|error| error.line).collect();
                assert!(
                    commented.iter().all(|line| lines.contains(line)),
                    "{name}: every commented line should have an error, got:\n{diagnostics}"
                );
            }
        }
        match (rest.strip_prefix("error:"), result) {
            (None, Ok(warnings)) => assert!(warnings.is_empty(), "{name}:\n{warnings}"),
            (None, Err(diagnostics)) => panic!("{name} should be valid:\n{diagnostics}"),
            (Some(expected), Ok(_)) => panic!("{name} should fail with `{}`", expected.trim()),
            (Some(expected), Err(diagnostics)) => assert!(
                diagnostics
                    .iter()
                    .any(|diagnostic| diagnostic.message.contains(expected.trim())),
                "{name} should fail with `{}`, got:\n{diagnostics}",
                expected.trim()
            ),
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples checked");
    assert_eq!(fragments.len(), 1);
}
