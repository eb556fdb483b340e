//! YAML as the console shows it: numbered lines, keys, strings, numbers and comments in their own
//! colours, each diagnostic under the line it is about; and the line diff of two versions.

use maud::{Markup, html};
use similar::{ChangeTag, TextDiff};
use vitrine_core::{Diagnostic, Severity};

/// One piece of a line and how it is coloured.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Plain(&'a str),
    Key(&'a str),
    Punctuation(&'a str),
    Text(&'a str),
    Literal(&'a str),
    Comment(&'a str),
}

/// Where a comment starts in `value`: a `#` at its start or after a space, outside quotes.
fn comment_start(value: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (index, character) in value.char_indices() {
        match quote {
            Some(open) if character == open => quote = None,
            Some(_) => {}
            None if character == '"' || character == '\'' => quote = Some(character),
            None if character == '#' && previous.is_whitespace() => return Some(index),
            None => {}
        }
        previous = character;
    }
    None
}

fn value_pieces(value: &str) -> Vec<Piece<'_>> {
    let (value, comment) = match comment_start(value) {
        Some(index) => (&value[..index], Some(&value[index..])),
        None => (value, None),
    };
    let trimmed = value.trim();
    let mut pieces = Vec::new();
    if !trimmed.is_empty() {
        let lead = &value[..value.len() - value.trim_start().len()];
        let tail = &value[lead.len() + trimmed.len()..];
        pieces.push(Piece::Plain(lead));
        let literal = trimmed.parse::<f64>().is_ok()
            || matches!(trimmed, "true" | "false" | "null" | "~" | "yes" | "no");
        pieces.push(if trimmed.starts_with('"') || trimmed.starts_with('\'') {
            Piece::Text(trimmed)
        } else if literal {
            Piece::Literal(trimmed)
        } else {
            Piece::Plain(trimmed)
        });
        pieces.push(Piece::Plain(tail));
    } else {
        pieces.push(Piece::Plain(value));
    }
    if let Some(comment) = comment {
        pieces.push(Piece::Comment(comment));
    }
    pieces
}

/// A line cut into coloured pieces; the pieces put together give the line back.
fn pieces(line: &str) -> Vec<Piece<'_>> {
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut rest = &line[indent.len()..];
    let mut pieces = vec![Piece::Plain(indent)];
    if rest.starts_with('#') {
        pieces.push(Piece::Comment(rest));
        pieces.retain(|piece| !matches!(piece, Piece::Plain("")));
        return pieces;
    }
    while let Some(after) = rest.strip_prefix("- ") {
        pieces.push(Piece::Punctuation("- "));
        rest = after;
    }
    // `key:` followed by a space or the end of the line, the key unquoted.
    let key_end = rest.char_indices().find_map(|(index, character)| {
        (character == ':'
            && rest[index + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace))
        .then_some(index)
    });
    match key_end {
        Some(end)
            if end > 0
                && !rest.starts_with(['"', '\'', '{', '['])
                && comment_start(&rest[..end]).is_none() =>
        {
            pieces.push(Piece::Key(&rest[..end]));
            pieces.push(Piece::Punctuation(":"));
            pieces.extend(value_pieces(&rest[end + 1..]));
        }
        _ => pieces.extend(value_pieces(rest)),
    }
    pieces.retain(|piece| !matches!(piece, Piece::Plain("")));
    pieces
}

fn line_markup(line: &str) -> Markup {
    html! {
        @for piece in pieces(line) {
            @match piece {
                Piece::Plain(text) => (text),
                Piece::Key(text) => span class="y-key" { (text) },
                Piece::Punctuation(text) => span class="y-punct" { (text) },
                Piece::Text(text) => span class="y-str" { (text) },
                Piece::Literal(text) => span class="y-lit" { (text) },
                Piece::Comment(text) => span class="y-comment" { (text) },
            }
        }
    }
}

/// `source` with numbered, coloured lines, and each of `diagnostics` (those about `file`) under
/// the line it names, its column marked. Diagnostics about other files (an include) or past the
/// end are listed above the text.
pub fn highlighted(source: &str, file: &str, diagnostics: &[Diagnostic]) -> Markup {
    let lines: Vec<&str> = source.lines().collect();
    let about_line = |number: usize| {
        diagnostics
            .iter()
            .filter(move |diagnostic| diagnostic.file == file && diagnostic.line as usize == number)
    };
    let elsewhere: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|diagnostic| {
            diagnostic.file != file
                || diagnostic.line == 0
                || diagnostic.line as usize > lines.len().max(1)
        })
        .collect();
    html! {
        @if !elsewhere.is_empty() {
            ul class="diagnostics" {
                @for diagnostic in &elsewhere { li { (diagnostic_markup(diagnostic)) } }
            }
        }
        ol class="code" {
            @for (index, line) in lines.iter().enumerate() {
                @let number = index + 1;
                @let problems: Vec<&Diagnostic> = about_line(number).collect();
                li id=(format!("L{number}")) class=[(!problems.is_empty()).then_some("has-problem")] {
                    code { (line_markup(line)) }
                    @for diagnostic in &problems {
                        div class={ "diagnostic " (severity_class(diagnostic.severity)) } role="note" {
                            span class="caret" aria-hidden="true" {
                                (" ".repeat((diagnostic.column as usize).saturating_sub(1)))
                                "^"
                            }
                            (diagnostic_markup(diagnostic))
                        }
                    }
                }
            }
        }
    }
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One diagnostic as a line of text: `lobby.yaml:4:11: error: … (hint)`.
pub fn diagnostic_markup(diagnostic: &Diagnostic) -> Markup {
    html! {
        span class="where" { (diagnostic.file) ":" (diagnostic.line) ":" (diagnostic.column) }
        ": " strong { (severity_class(diagnostic.severity)) } ": " (diagnostic.message)
        @if let Some(hint) = &diagnostic.hint { span class="hint" { " — " (hint) } }
    }
}

/// The lines of `new` against `old`, with three lines of context around each change.
pub fn diff(old: &str, new: &str) -> Markup {
    let diff = TextDiff::from_lines(old, new);
    let groups = diff.grouped_ops(3);
    html! {
        @if groups.is_empty() {
            p { "The two versions have the same text." }
        }
        @for group in &groups {
            table class="diff" {
                tbody {
                    @for operation in group {
                        @for change in diff.iter_changes(operation) {
                            @let (class, sign) = match change.tag() {
                                ChangeTag::Delete => ("del", "−"),
                                ChangeTag::Insert => ("add", "+"),
                                ChangeTag::Equal => ("same", " "),
                            };
                            tr class=(class) {
                                td class="n" { @if let Some(n) = change.old_index() { (n + 1) } }
                                td class="n" { @if let Some(n) = change.new_index() { (n + 1) } }
                                td class="sign" aria-label=(match change.tag() { ChangeTag::Delete => "removed", ChangeTag::Insert => "added", ChangeTag::Equal => "unchanged" }) { (sign) }
                                td { code { (change.value().trim_end_matches('\n')) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(line: &str) -> String {
        pieces(line)
            .into_iter()
            .map(|piece| match piece {
                Piece::Plain(text)
                | Piece::Key(text)
                | Piece::Punctuation(text)
                | Piece::Text(text)
                | Piece::Literal(text)
                | Piece::Comment(text) => text,
            })
            .collect()
    }

    #[test]
    fn lines_are_cut_into_keys_values_and_comments_and_nothing_is_lost() {
        assert_eq!(
            pieces("  - id: promo-3 # spring"),
            vec![
                Piece::Plain("  "),
                Piece::Punctuation("- "),
                Piece::Key("id"),
                Piece::Punctuation(":"),
                Piece::Plain(" "),
                Piece::Plain("promo-3"),
                Piece::Plain(" "),
                Piece::Comment("# spring"),
            ]
        );
        assert_eq!(
            pieces("duration: 8s"),
            vec![
                Piece::Key("duration"),
                Piece::Punctuation(":"),
                Piece::Plain(" "),
                Piece::Plain("8s"),
            ]
        );
        assert_eq!(pieces("priority: 10")[3..], [Piece::Literal("10")]);
        assert_eq!(
            pieces(r#"text: "Sale # today""#)[3..],
            [Piece::Text(r#""Sale # today""#)]
        );
        assert_eq!(pieces("# a comment"), vec![Piece::Comment("# a comment")]);
        for line in [
            "url: https://shop.example/p?x=1#top",
            "  - image: a.png",
            "name: 'it''s'",
            "",
            "    ",
            "key:value",
        ] {
            assert_eq!(joined(line), line);
        }
    }

    #[test]
    fn a_diagnostic_sits_under_its_line() {
        let source = "name: lobby\nzones:\n  main: {}\n";
        let diagnostic = Diagnostic::error("lobby.yaml", 2, 1, "unknown field `zonse`");
        let html = highlighted(source, "lobby.yaml", &[diagnostic]).into_string();
        let line_two = html.find(r#"id="L2""#).expect("line 2");
        let line_three = html.find(r#"id="L3""#).expect("line 3");
        let message = html.find("unknown field").expect("the message");
        assert!(line_two < message && message < line_three, "{html}");
        assert!(html.contains("lobby.yaml:2:1"), "{html}");
    }

    #[test]
    fn the_diff_marks_added_and_removed_lines() {
        let html = diff("a\nb\nc\n", "a\nB\nc\n").into_string();
        assert!(html.contains(r#"class="del""#) && html.contains(r#"class="add""#));
        assert!(html.contains("<code>B</code>") && html.contains("<code>b</code>"));
        assert!(diff("same\n", "same\n").into_string().contains("same text"));
    }
}
