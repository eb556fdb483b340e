//! Shows core's [`Diagnostic`]s the way rustc shows compiler errors: the message, the file with its
//! line and column, a snippet of the source with the offending token underlined, and the hint.
//!
//! Core locates problems by 1-based line and column, where a column counts characters, while miette
//! wants a byte span. [`byte_offset`] bridges the two. miette's own `file:line:column` header counts
//! columns in bytes, so the header is switched off and the location written into the source name
//! instead: the column a person reads is then the same as in `--json` and in the scheduler's answers.

use std::fmt;
use std::io::IsTerminal as _;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use vitrine_core::{Diagnostic, Severity};

/// Renders diagnostics for stderr, in colour and wrapped to the terminal when stderr is one, and
/// plain and unwrapped otherwise so that logs and `grep` see each message on one line.
pub struct DiagnosticPrinter {
    handler: GraphicalReportHandler,
}

impl DiagnosticPrinter {
    pub fn for_stderr() -> Self {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        // https://no-color.org: any non-empty value turns colour off.
        let colour_wanted = std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        let theme = if stderr_is_terminal && colour_wanted {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let mut handler = GraphicalReportHandler::new_themed(theme).without_primary_span_start();
        match terminal_size::terminal_size_of(std::io::stderr()) {
            Some((terminal_size::Width(width), _)) if stderr_is_terminal => {
                handler = handler.with_width(usize::from(width));
            }
            _ => handler = handler.with_wrap_lines(false),
        }
        Self { handler }
    }

    /// The diagnostic as text, ending in a newline. `source` is the text of the file the diagnostic
    /// points into, if it is at hand; without it only the message, location and hint are shown.
    pub fn render(&self, diagnostic: &Diagnostic, source: Option<&str>) -> String {
        let report = to_miette_report(diagnostic, source);
        let mut rendered = String::new();
        if self
            .handler
            .render_report(&mut rendered, report.as_ref())
            .is_err()
        {
            // Rendering only fails on a span outside the source, which `byte_offset` rules out;
            // should it ever happen, the plain `file:line:column: error: message` form still informs.
            rendered = format!("{diagnostic}\n");
        }
        rendered
    }

    pub fn print_all<'a>(
        &self,
        diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
        source: Option<&str>,
    ) {
        for diagnostic in diagnostics {
            eprintln!("{}", self.render(diagnostic, source));
        }
    }
}

impl fmt::Debug for DiagnosticPrinter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("DiagnosticPrinter")
    }
}

/// Builds a miette report for one diagnostic, with the source snippet when `source` is given.
fn to_miette_report(diagnostic: &Diagnostic, source: Option<&str>) -> Report {
    let location = format!(
        "{}:{}:{}",
        diagnostic.file, diagnostic.line, diagnostic.column
    );
    let severity = match diagnostic.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    };
    let mut miette_diagnostic =
        MietteDiagnostic::new(diagnostic.message.clone()).with_severity(severity);
    if let Some(hint) = &diagnostic.hint {
        miette_diagnostic = miette_diagnostic.with_help(hint.clone());
    }
    match source {
        Some(source) => {
            let offset = byte_offset(source, diagnostic.line, diagnostic.column);
            let length = token_length(&source[offset..]);
            miette_diagnostic = miette_diagnostic
                .with_label(LabeledSpan::new_primary_with_span(None, (offset, length)));
            Report::new(miette_diagnostic)
                .with_source_code(NamedSource::new(location, source.to_owned()))
        }
        None => {
            // Without source text there is no snippet to carry the location, so the message does.
            miette_diagnostic.message = format!("{location}: {}", miette_diagnostic.message);
            Report::new(miette_diagnostic)
        }
    }
}

/// The byte offset in `source` of a 1-based `line` and `column`, where the column counts characters
/// (Unicode scalar values) as core's parser does. A line past the end gives the end of the text, and
/// a column past the end of its line gives the end of that line, so the result is always a valid
/// index on a character boundary. Line 0 and column 0 are read as 1.
pub fn byte_offset(source: &str, line: u64, column: u64) -> usize {
    let mut line_start = 0;
    for _ in 1..line.max(1) {
        match source[line_start..].find('\n') {
            Some(newline) => line_start += newline + 1,
            None => return source.len(),
        }
    }
    let line_end = source[line_start..]
        .find('\n')
        .map_or(source.len(), |newline| line_start + newline);
    let line_text = &source[line_start..line_end];
    let characters_before = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let offset_in_line = line_text
        .char_indices()
        .nth(characters_before)
        .map_or(line_text.len(), |(index, _)| index);
    line_start + offset_in_line
}

/// How many bytes of `rest` (the text from a diagnostic's location on) to underline: the YAML token
/// that starts there, so that `durration: 1s` underlines `durration` and `{ file: blue.png }`
/// underlines `blue.png`. Quoted scalars are underlined with their quotes.
fn token_length(rest: &str) -> usize {
    let line = rest.split(['\n', '\r']).next().unwrap_or_default();
    let mut characters = line.char_indices();
    match characters.next() {
        None => 0,
        Some((_, quote @ ('"' | '\''))) => characters
            .find(|&(_, character)| character == quote)
            .map_or(line.len(), |(index, _)| index + 1),
        Some((_, first)) if first.is_whitespace() => 0,
        Some((_, first)) if is_yaml_punctuation(first) => first.len_utf8(),
        Some(_) => line
            .char_indices()
            .find(|&(_, character)| character.is_whitespace() || is_yaml_punctuation(character))
            .map_or(line.len(), |(index, _)| index),
    }
}

/// Characters that end a plain YAML token (or are one on their own, like an opening brace).
fn is_yaml_punctuation(character: char) -> bool {
    matches!(character, ':' | ',' | '{' | '}' | '[' | ']' | '#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_first_column_is_offset_zero() {
        assert_eq!(byte_offset("version: 1\n", 1, 1), 0);
        assert_eq!(byte_offset("version: 1\n", 0, 0), 0);
    }

    #[test]
    fn later_lines_start_after_the_newline() {
        let source = "version: 1\nname: demo\nitems:\n";
        assert_eq!(byte_offset(source, 2, 1), 11);
        assert_eq!(&source[byte_offset(source, 2, 7)..], "demo\nitems:\n");
        assert_eq!(&source[byte_offset(source, 3, 1)..], "items:\n");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" and "€" take two and three bytes; the column after them is still one per character.
        let source = "version: 1\nname: café €uro\nitems: []\n";
        let offset = byte_offset(source, 2, 13);
        assert_eq!(&source[offset..], "uro\nitems: []\n");
        assert_eq!(offset, 11 + "name: café €".len());
        // A column on a multi-byte character lands on its first byte, never inside it.
        assert_eq!(
            &source[byte_offset(source, 2, 10)..byte_offset(source, 2, 11)],
            "é"
        );
    }

    #[test]
    fn locations_past_the_end_are_clamped() {
        let source = "name: demo\nitems: []";
        assert_eq!(byte_offset(source, 1, 99), "name: demo".len());
        assert_eq!(byte_offset(source, 2, 99), source.len());
        assert_eq!(byte_offset(source, 9, 1), source.len());
        assert_eq!(byte_offset("", 1, 1), 0);
    }

    #[test]
    fn carriage_returns_stay_out_of_the_column() {
        let source = "version: 1\r\nname: demo\r\n";
        assert_eq!(&source[byte_offset(source, 2, 7)..], "demo\r\n");
    }

    #[test]
    fn the_token_at_the_location_is_underlined() {
        assert_eq!(token_length("durration: 1s\n"), "durration".len());
        assert_eq!(token_length("blue.png, duration: 1s }\n"), "blue.png".len());
        assert_eq!(token_length("-1s }\n"), "-1s".len());
        assert_eq!(token_length("\"red png\" # quoted\n"), "\"red png\"".len());
        assert_eq!(token_length("'unterminated\nnext"), "'unterminated".len());
        assert_eq!(token_length("{ file: a.png }"), 1);
        assert_eq!(token_length("café: 1"), "café".len());
        assert_eq!(token_length("\n"), 0);
        assert_eq!(token_length(""), 0);
    }

    #[test]
    fn rendering_names_the_location_and_the_hint() {
        let source = "version: 1\nname: caf\u{e9}\nnmae: x\n";
        let diagnostic = Diagnostic::error("bad.yaml", 3, 1, "unknown field `nmae`")
            .with_hint("did you mean `name`?");
        let printer = DiagnosticPrinter {
            handler: GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
                .without_primary_span_start()
                .with_wrap_lines(false),
        };
        let rendered = printer.render(&diagnostic, Some(source));
        assert!(rendered.contains("[bad.yaml:3:1]"), "{rendered}");
        assert!(rendered.contains("unknown field `nmae`"), "{rendered}");
        assert!(rendered.contains("3 │ nmae: x"), "{rendered}");
        assert!(rendered.contains("────"), "{rendered}");
        assert!(
            rendered.contains("help: did you mean `name`?"),
            "{rendered}"
        );

        let without_source = printer.render(&diagnostic, None);
        assert!(
            without_source.contains("bad.yaml:3:1: unknown field"),
            "{without_source}"
        );
    }
}
