//! The YAML as a tree of located nodes, and a serde deserializer over it that keeps going after a
//! mistake. serde alone stops at the first unknown key or wrong type; staff files hold several of
//! those at once. Reading happens in two steps: serde-saphyr reads the text into the tree (a YAML
//! syntax error, like bad indentation, still stops here, with its line), then the raw types are
//! deserialized from the tree. Unknown keys are reported and skipped, and a value that cannot be
//! read is reported at its place and left out (an optional key reads as absent, a list entry or a
//! named entry is dropped), so every independent mistake is reported in one run.
//!
//! The raw types stay the one description of the format: the keys a struct accepts, the values of
//! an enum and the form a scalar takes come from their serde and schemars definitions, which also
//! generate the JSON Schema.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde_saphyr::Spanned;

use super::{SourceLocation, closest_name};
use crate::diagnostic::Diagnostic;

/// One node of the tree. Children are indices into [`Tree::nodes`].
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) location: SourceLocation,
    /// A plain scalar's text as written: YAML reads `y` or `on` as `true`, and keys and text
    /// values keep what staff wrote.
    pub(crate) written: Option<String>,
    pub(crate) parent: Option<usize>,
    /// For a value of a mapping, the node of its key.
    pub(crate) key: Option<usize>,
    pub(crate) kind: NodeKind,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Sequence(Vec<usize>),
    /// Key node and value node, in the order written, duplicates included.
    Mapping(Vec<(usize, usize)>),
}

impl NodeKind {
    /// How a mistake names what was found, like "a mapping" or "the text `abc`".
    fn describe(&self) -> String {
        match self {
            NodeKind::Null => "empty".to_owned(),
            NodeKind::Bool(value) => format!("`{value}`"),
            NodeKind::Integer(value) => format!("the number `{value}`"),
            NodeKind::Unsigned(value) => format!("the number `{value}`"),
            NodeKind::Float(value) => format!("the number `{value}`"),
            NodeKind::Text(text) => format!("the text `{text}`"),
            NodeKind::Sequence(_) => "a list".to_owned(),
            NodeKind::Mapping(_) => "a mapping (`key: value` pairs)".to_owned(),
        }
    }

    /// The text of a scalar as YAML read it.
    fn scalar_text(&self) -> Option<String> {
        match self {
            NodeKind::Bool(value) => Some(value.to_string()),
            NodeKind::Integer(value) => Some(value.to_string()),
            NodeKind::Unsigned(value) => Some(value.to_string()),
            NodeKind::Float(value) => Some(value.to_string()),
            NodeKind::Text(text) => Some(text.clone()),
            NodeKind::Null | NodeKind::Sequence(_) | NodeKind::Mapping(_) => None,
        }
    }
}

impl Node {
    /// The text of a scalar, as written: a key, or a value read as text.
    fn scalar_text(&self) -> Option<String> {
        match (&self.written, &self.kind) {
            (Some(written), NodeKind::Bool(_) | NodeKind::Integer(_))
            | (Some(written), NodeKind::Unsigned(_) | NodeKind::Float(_)) => Some(written.clone()),
            _ => self.kind.scalar_text(),
        }
    }
}

/// A whole YAML document as located nodes; the root is node 0.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

/// The YAML as serde-saphyr hands it over, before it is flattened into a [`Tree`].
enum Parsed {
    Null,
    Bool(bool),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Sequence(Vec<Spanned<Parsed>>),
    Mapping(Vec<(Spanned<Parsed>, Spanned<Parsed>)>),
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParsedVisitor;

        impl<'de> Visitor<'de> for ParsedVisitor {
            type Value = Parsed;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("any YAML value")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Parsed, E> {
                Ok(Parsed::Bool(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Parsed, E> {
                Ok(Parsed::Integer(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Parsed, E> {
                Ok(Parsed::Unsigned(value))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Parsed, E> {
                Ok(Parsed::Float(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Parsed, E> {
                Ok(Parsed::Text(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Parsed, E> {
                Ok(Parsed::Text(value))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
                Ok(Parsed::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Parsed, E> {
                Ok(Parsed::Null)
            }

            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Parsed, D::Error> {
                Parsed::deserialize(inner)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<Spanned<Parsed>>()? {
                    entries.push(entry);
                }
                Ok(Parsed::Sequence(entries))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<Parsed>>()? {
                    let value = map.next_value::<Spanned<Parsed>>()?;
                    entries.push((key, value));
                }
                Ok(Parsed::Mapping(entries))
            }
        }

        deserializer.deserialize_any(ParsedVisitor)
    }
}

impl Tree {
    /// Reads YAML text into a tree; a YAML syntax error is returned as serde-saphyr reports it.
    pub(crate) fn parse(source: &str) -> Result<Self, serde_saphyr::Error> {
        let mut options = serde_saphyr::Options::default();
        // Duplicate keys are reported from the tree, with the rest of the file's mistakes.
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
        let root: Spanned<Parsed> = serde_saphyr::from_str_with_options(source, options)?;
        let mut tree = Tree::default();
        tree.add(source, root, None);
        Ok(tree)
    }

    fn add(&mut self, source: &str, parsed: Spanned<Parsed>, parent: Option<usize>) -> usize {
        let index = self.nodes.len();
        let span = parsed.referenced.span();
        let written = span
            .byte_offset()
            .zip(span.byte_len())
            .and_then(|(offset, length)| {
                source.get(offset as usize..offset.saturating_add(length) as usize)
            })
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        self.nodes.push(Node {
            location: SourceLocation {
                line: parsed.referenced.line(),
                column: parsed.referenced.column(),
            },
            written,
            parent,
            key: None,
            kind: NodeKind::Null,
        });
        let kind = match parsed.value {
            Parsed::Null => NodeKind::Null,
            Parsed::Bool(value) => NodeKind::Bool(value),
            Parsed::Integer(value) => NodeKind::Integer(value),
            Parsed::Unsigned(value) => NodeKind::Unsigned(value),
            Parsed::Float(value) => NodeKind::Float(value),
            Parsed::Text(text) => NodeKind::Text(text),
            Parsed::Sequence(entries) => NodeKind::Sequence(
                entries
                    .into_iter()
                    .map(|entry| self.add(source, entry, Some(index)))
                    .collect(),
            ),
            Parsed::Mapping(entries) => NodeKind::Mapping(
                entries
                    .into_iter()
                    .map(|(key, value)| {
                        let key = self.add(source, key, Some(index));
                        let value = self.add(source, value, Some(index));
                        self.nodes[value].key = Some(key);
                        (key, value)
                    })
                    .collect(),
            ),
        };
        self.nodes[index].kind = kind;
        index
    }

    /// The key a value node was written under; for an entry of a list, the list's key.
    fn key_of(&self, index: usize) -> Option<String> {
        let node = &self.nodes[index];
        if let Some(key) = node.key {
            return self.nodes[key].scalar_text();
        }
        let parent = node.parent?;
        match &self.nodes[parent].kind {
            NodeKind::Sequence(_) => self.key_of(parent),
            _ => None,
        }
    }
}

/// What one read collects besides the value: the problems, and the nodes where something was
/// left out (so that validation does not report a missing value that was really misspelled).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) problems: Vec<Diagnostic>,
    pub(crate) left_out: HashSet<SourceLocation>,
    /// Where the document itself starts: in `left_out` when a top-level key lost its value.
    pub(crate) root: SourceLocation,
    /// The problems already in `problems`, by place and message.
    reported: HashSet<(SourceLocation, String)>,
}

/// The state of one read, reachable from the deserializers of the tolerant wrappers.
struct Context {
    file_name: String,
    tree: Tree,
    outcome: RefCell<Outcome>,
    /// Value nodes of required keys that could not be read: a struct is read again without them,
    /// so that its other keys are still checked.
    excluded: RefCell<HashSet<usize>>,
}

thread_local! {
    static CONTEXT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
}

/// Deserializes `T` from the tree, collecting problems instead of stopping at the first. `None`
/// when even the top level could not be read (its problems are in the outcome).
pub(crate) fn read_tree<T: for<'de> Deserialize<'de>>(
    file_name: &str,
    tree: Tree,
) -> (Option<T>, Outcome) {
    let root = tree
        .nodes
        .first()
        .map(|node| node.location)
        .unwrap_or_default();
    let context = Rc::new(Context {
        file_name: file_name.to_owned(),
        tree,
        outcome: RefCell::new(Outcome {
            root,
            ..Outcome::default()
        }),
        excluded: RefCell::new(HashSet::new()),
    });
    let previous = CONTEXT.with(|slot| slot.replace(Some(Rc::clone(&context))));
    let value = match context.read_node::<T>(0) {
        Ok(value) => Some(value),
        Err(error) => {
            context.record(error, 0);
            None
        }
    };
    CONTEXT.with(|slot| slot.replace(previous));
    let outcome = std::mem::take(&mut *context.outcome.borrow_mut());
    (value, outcome)
}

fn current_context() -> Option<Rc<Context>> {
    CONTEXT.with(|slot| slot.borrow().clone())
}

impl Context {
    fn location(&self, index: usize) -> SourceLocation {
        self.tree.nodes[index].location
    }

    /// Reads node `index` as `T`. When a required key's value has a mistake, that is reported and
    /// the node read again without it, so the keys after it are checked too; the error returned
    /// is what still stops the value (often "reported already").
    fn read_node<T: for<'de> Deserialize<'de>>(&self, index: usize) -> Result<T, ReadError> {
        loop {
            let error = match T::deserialize(NodeDeserializer::new(self, index)) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let child = error.node.and_then(|node| self.child_towards(index, node));
            match child {
                Some(child) if self.excluded.borrow_mut().insert(child) => {
                    self.record(error, child);
                }
                _ => return Err(error),
            }
        }
    }

    /// The child of `ancestor` on the way down to `node`, if `node` is below it.
    fn child_towards(&self, ancestor: usize, node: usize) -> Option<usize> {
        let mut cursor = node;
        loop {
            let parent = self.tree.nodes[cursor].parent?;
            if parent == ancestor {
                return Some(cursor);
            }
            cursor = parent;
        }
    }

    fn push_problem(&self, diagnostic: Diagnostic) {
        // A struct read again after a mistake meets the mistakes of its other keys again.
        let mut outcome = self.outcome.borrow_mut();
        let place = SourceLocation {
            line: diagnostic.line,
            column: diagnostic.column,
        };
        if outcome.reported.insert((place, diagnostic.message.clone())) {
            outcome.problems.push(diagnostic);
        }
    }

    /// Reports `error`, caught at node `caught_at`, and marks that node and its parents up to the
    /// nearest list as having lost something.
    fn record(&self, error: ReadError, caught_at: usize) {
        let index = error.node.unwrap_or(caught_at);
        if !is_reported(&error) {
            let diagnostic = self.diagnostic(index, error.kind);
            self.push_problem(diagnostic);
        }
        self.lose(caught_at);
    }

    /// Marks a node and its parents up to the nearest list as having lost something.
    fn lose(&self, index: usize) {
        let mut outcome = self.outcome.borrow_mut();
        let mut cursor = Some(index);
        while let Some(node) = cursor {
            outcome.left_out.insert(self.location(node));
            if matches!(self.tree.nodes[node].kind, NodeKind::Sequence(_)) {
                break;
            }
            cursor = self.tree.nodes[node].parent;
        }
    }

    fn report(&self, index: usize, message: String, hint: Option<String>) {
        let location = self.location(index);
        let diagnostic =
            Diagnostic::error(&self.file_name, location.line, location.column, message);
        self.push_problem(match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
    }

    fn diagnostic(&self, index: usize, kind: ErrorKind) -> Diagnostic {
        let location = self.location(index);
        let node = &self.tree.nodes[index];
        let key = self.tree.key_of(index);
        let (message, hint) = match kind {
            ErrorKind::InvalidType { expected } => {
                let expected = match form_of(&self.tree, index) {
                    Some(form) if expected == SCALAR_EXPECTING => form.to_owned(),
                    _ => expected,
                };
                let found = node.kind.describe();
                let message = match &key {
                    Some(key) if matches!(node.kind, NodeKind::Null) => {
                        format!("`{key}` is empty, but it should be {expected}")
                    }
                    Some(key) => format!("`{key}` is {found}, but it should be {expected}"),
                    None if node.parent.is_none() => {
                        format!("the file is {found}, but it should be {expected}")
                    }
                    None => format!("this is {found}, but it should be {expected}"),
                };
                let hint = match (&node.kind, expected.starts_with("a list"), &key) {
                    (NodeKind::Text(text), true, Some(key)) => {
                        Some(format!("write it as a list: `{key}: [{text}]`"))
                    }
                    _ => None,
                };
                (message, hint)
            }
            ErrorKind::Message { message, hint } => (message, hint),
            ErrorKind::Custom(message) => match &key {
                Some(key) => (format!("`{key}`: {message}"), None),
                None => (message, None),
            },
            ErrorKind::EmptyColour => (
                format!(
                    "`{}` is empty: a colour must be in quotes, like `\"#ff0000\"`",
                    key.as_deref().unwrap_or("color")
                ),
                Some("without quotes YAML reads everything after `#` as a comment".into()),
            ),
            ErrorKind::Reported => (String::new(), None),
        };
        let diagnostic =
            Diagnostic::error(&self.file_name, location.line, location.column, message);
        match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        }
    }
}

/// A mistake found while deserializing from the tree, at a node once one is known.
#[derive(Debug)]
pub(crate) struct ReadError {
    node: Option<usize>,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    /// The value has the wrong shape; `expected` says the right one.
    InvalidType { expected: String },
    /// A message already written for staff.
    Message {
        message: String,
        hint: Option<String>,
    },
    /// Any other message from serde or a visitor.
    Custom(String),
    /// A colour key with nothing after it.
    EmptyColour,
    /// Reported already; only stops the value it is in.
    Reported,
}

impl ReadError {
    fn at(mut self, node: usize) -> Self {
        self.node.get_or_insert(node);
        self
    }

    fn message(node: usize, message: String, hint: Option<String>) -> Self {
        Self {
            node: Some(node),
            kind: ErrorKind::Message { message, hint },
        }
    }

    fn reported() -> Self {
        Self {
            node: None,
            kind: ErrorKind::Reported,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidType { expected } => write!(formatter, "expected {expected}"),
            ErrorKind::Message { message, .. } | ErrorKind::Custom(message) => {
                formatter.write_str(message)
            }
            ErrorKind::EmptyColour => formatter.write_str("empty colour"),
            ErrorKind::Reported => formatter.write_str(REPORTED),
        }
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            node: None,
            kind: ErrorKind::Custom(message.to_string()),
        }
    }

    fn invalid_type(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self {
            node: None,
            kind: ErrorKind::InvalidType {
                expected: friendly_expectation(&expected.to_string()),
            },
        }
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "{unexpected} is out of range: it should be {}",
            friendly_expectation(&expected.to_string())
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("`{field}` is missing"))
    }
}

/// What a scalar's visitor expects; replaced by the form its key takes where that is known.
pub(crate) const SCALAR_EXPECTING: &str = "a single value (text or a number)";

/// The form a scalar takes, by the key it is written under: what an error shows as the right way.
fn form_of(tree: &Tree, index: usize) -> Option<&'static str> {
    let key = tree.key_of(index)?;
    let form = match key.as_str() {
        "duration" | "every" | "per" | "crossfade" | "slide" => {
            "a duration with a unit, like `10s` or `1m30s`"
        }
        "x" | "y" | "width" | "height" | "volume" | "size" | "speed" | "share_of_voice"
        | "holdout" => "a percentage, like `50%`",
        "color" | "background" => "a colour in quotes, like `\"#ff0000\"`",
        "from" | "until" => "a date, like `2026-12-24`",
        _ => {
            // A daypart: an entry of a `dayparts:` mapping.
            let parent = tree.nodes[index].parent?;
            let is_daypart = matches!(tree.nodes[parent].kind, NodeKind::Mapping(_))
                && tree.key_of(parent).as_deref() == Some("dayparts");
            return is_daypart.then_some("a daypart: a span of the day like `\"07:00-11:00\"`");
        }
    };
    Some(form)
}

/// The mistake of a colour key with nothing after it.
pub(crate) fn empty_colour() -> ReadError {
    ReadError {
        node: None,
        kind: ErrorKind::EmptyColour,
    }
}

/// serde names Rust types ("i32", "a sequence"); staff need the YAML words.
fn friendly_expectation(expected: &str) -> String {
    if let Some(name) = expected.strip_prefix("struct ") {
        return format!("{} (`key: value` pairs)", struct_label(name, &[]));
    }
    if let Some(name) = expected.strip_prefix("enum ") {
        return enum_label(name).to_owned();
    }
    match expected {
        "i32" | "i64" => "a whole number, like `10`".to_owned(),
        "u32" | "u64" => "a whole number from 0, like `10`".to_owned(),
        "a boolean" => "`true` or `false`".to_owned(),
        "a string" => "text".to_owned(),
        "a sequence" => "a list, like `[a, b]`".to_owned(),
        other => other.to_owned(),
    }
}

/// How a struct of the raw types is named in messages.
fn struct_label(name: &str, fields: &[&str]) -> String {
    match name {
        "Playlist" => "the playlist".into(),
        "Fragment" => "the fragment".into(),
        "FragmentZone" => "a fragment's zone".into(),
        "Defaults" => "`defaults`".into(),
        "Zone" => "a zone".into(),
        "Area" => "`area`".into(),
        "Loop" => "a loop".into(),
        "Interrupt" => "an interrupt".into(),
        "Image" => "an image item".into(),
        "Video" => "a video item".into(),
        "Audio" => "an audio item".into(),
        "Text" => "a text item".into(),
        "Ticker" => "`ticker`".into(),
        "Font" => "`font`".into(),
        "Clock" => "a clock item".into(),
        "Offer" if fields.contains(&"title") => "an offer".into(),
        "Offer" => "an offer item".into(),
        "Campaign" => "the campaign".into(),
        "Targets" => "`targets`".into(),
        "FrequencyCap" => "`frequency_cap`".into(),
        "Control" => "`control`".into(),
        other => format!("`{other}`"),
    }
}

/// How the values of an enum of the raw types are named in messages.
fn enum_label(name: &str) -> &'static str {
    match name {
        "Item" => "an item kind",
        "Fit" => "a fit",
        "Align" => "an alignment",
        "Orientation" => "an orientation",
        "Transition" => "a transition",
        "Layer" => "a layer",
        _ => "a known value",
    }
}

/// Words staff reach for that are not values of the enum, and the values they most likely mean.
fn meant(enum_name: &str, value: &str) -> &'static [&'static str] {
    match (enum_name, value) {
        ("Fit", "fill") => &["cover", "stretch"],
        ("Fit", "crop" | "cropped") => &["cover"],
        ("Fit", "fit" | "letterbox") => &["contain"],
        ("Align", "centre" | "middle") => &["center"],
        ("Transition", "fade") => &["crossfade"],
        ("Transition", "none") => &["cut"],
        ("Item", "picture" | "photo" | "img") => &["image"],
        ("Item", "movie" | "clip") => &["video"],
        ("Item", "music" | "sound") => &["audio"],
        _ => &[],
    }
}

/// `a`, `b` or `c`.
fn backticked(names: &[&str]) -> String {
    listed(names, "or")
}

/// `a`, `b` and `c`, or with another word than "and".
fn listed(names: &[&str], conjunction: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Keys of items, which staff sometimes write where the item's kind belongs.
const ITEM_SETTINGS: &[&str] = &[
    "id",
    "file",
    "duration",
    "fit",
    "transition",
    "text",
    "slot",
    "format",
    "size",
    "color",
    "volume",
];

/// The message for a value that is not one of an enum's values.
fn unknown_value(enum_name: &str, value: &str, variants: &[&str], key: Option<&str>) -> ReadError {
    let label = enum_label(enum_name);
    let message = match key {
        Some(key) if enum_name != "Item" => format!("`{key}: {value}` is not {label}"),
        _ => format!("`{value}` is not {label}"),
    };
    if enum_name == "Item" && ITEM_SETTINGS.contains(&value) {
        return ReadError {
            node: None,
            kind: ErrorKind::Message {
                message: format!(
                    "this item starts with `{value}`, but an item starts with its kind"
                ),
                hint: Some(format!(
                    "write the kind first and the settings under it, like \
                     `- image: {{ {value}: ... }}`; items are {}",
                    listed(variants, "and")
                )),
            },
        };
    }
    let suggestions: Vec<&str> = match meant(enum_name, value) {
        [] => closest_name(value, variants.iter().copied())
            .into_iter()
            .collect(),
        meant => meant.to_vec(),
    };
    let listed = if enum_name == "Item" {
        format!("items are {}", listed(variants, "and"))
    } else {
        format!("{label} is {}", backticked(variants))
    };
    let hint = if suggestions.is_empty() {
        listed
    } else {
        format!("did you mean {}? {listed}", backticked(&suggestions))
    };
    ReadError {
        node: None,
        kind: ErrorKind::Message {
            message,
            hint: Some(hint),
        },
    }
}

/// The name serde-saphyr-free types use to ask the tree deserializer for a value's location.
pub(crate) const LOCATED: &str = "$vitrine::Located";
/// The name the tolerant wrappers use to ask for the node they are reading.
const NODE: &str = "$vitrine::Node";

/// A serde deserializer over one node of the tree.
pub(crate) struct NodeDeserializer<'a> {
    context: &'a Context,
    index: usize,
}

impl<'a> NodeDeserializer<'a> {
    fn new(context: &'a Context, index: usize) -> Self {
        Self { context, index }
    }

    fn node(&self) -> &'a Node {
        &self.context.tree.nodes[self.index]
    }

    fn invalid_type(&self, expected: &dyn de::Expected) -> ReadError {
        <ReadError as de::Error>::invalid_type(de::Unexpected::Other(""), expected).at(self.index)
    }
}

/// Mapping entries in order; a key written twice is reported and its second value skipped.
fn unique_entries(context: &Context, entries: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept = Vec::new();
    for &(key, value) in entries {
        let text = context.tree.nodes[key].scalar_text().unwrap_or_default();
        if let Some(first) = seen.get(&text) {
            let first = context.location(*first);
            context.report(
                key,
                format!(
                    "key `{text}` is written twice (first at line {})",
                    first.line
                ),
                Some("keep only one of them".into()),
            );
            continue;
        }
        seen.insert(text, key);
        kept.push((key, value));
    }
    kept
}

impl<'de> Deserializer<'de> for NodeDeserializer<'_> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let index = self.index;
        let result = match &self.node().kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(value) => visitor.visit_bool(*value),
            NodeKind::Integer(value) => visitor.visit_i64(*value),
            NodeKind::Unsigned(value) => visitor.visit_u64(*value),
            NodeKind::Float(value) => visitor.visit_f64(*value),
            NodeKind::Text(text) => visitor.visit_str(text),
            NodeKind::Sequence(entries) => visitor.visit_seq(Entries {
                context: self.context,
                entries: entries.iter(),
            }),
            NodeKind::Mapping(entries) => visitor.visit_map(Pairs {
                context: self.context,
                entries: unique_entries(self.context, entries).into_iter(),
                value: None,
            }),
        };
        result.map_err(|error| error.at(index))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let index = self.index;
        match self.node().kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|error| error.at(index))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let index = self.index;
        match self.node().scalar_text() {
            Some(text) => visitor.visit_string(text),
            None => Err(self.invalid_type(&visitor)),
        }
        .map_err(|error| error.at(index))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let index = self.index;
        match name {
            LOCATED => {
                let location = self.node().location;
                visitor.visit_seq(LocatedParts {
                    line: Some(location.line),
                    column: Some(location.column),
                    value: Some(self),
                })
            }
            NODE => visitor.visit_u64(index as u64),
            _ => visitor.visit_newtype_struct(self),
        }
        .map_err(|error| error.at(index))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let index = self.index;
        let NodeKind::Mapping(entries) = &self.node().kind else {
            return Err(self.invalid_type(&visitor));
        };
        let label = struct_label(name, fields);
        let mut kept = Vec::new();
        // Keys that a misspelt key was probably meant to be, and keys whose value was reported
        // already: their absence is not reported again.
        let mut meant_keys: Vec<&str> = Vec::new();
        for (key, value) in unique_entries(self.context, entries) {
            let text = self.context.tree.nodes[key]
                .scalar_text()
                .unwrap_or_default();
            if let Some(field) = fields.iter().find(|field| **field == text)
                && self.context.excluded.borrow().contains(&value)
            {
                meant_keys.push(field);
                continue;
            }
            if fields.contains(&text.as_str()) {
                kept.push((key, value));
                continue;
            }
            // The wording is the one serde used, which tools and scripts already look for.
            let message = format!(
                "unknown field `{text}` in {label}, which takes {}",
                listed(fields, "and")
            );
            let hint = closest_name(&text, fields.iter().copied()).map(|close| {
                meant_keys.push(close);
                self.context.lose(index);
                format!("unknown key `{text}`, did you mean `{close}`?")
            });
            self.context.report(key, message, hint);
        }
        visitor
            .visit_map(Pairs {
                context: self.context,
                entries: kept.into_iter(),
                value: None,
            })
            .map_err(|error| match error {
                ReadError {
                    node: None,
                    kind: ErrorKind::Custom(message),
                } if message.ends_with("` is missing") => {
                    let field = message
                        .trim_start_matches('`')
                        .trim_end_matches("` is missing");
                    if meant_keys.contains(&field) {
                        return ReadError::reported();
                    }
                    ReadError::message(
                        index,
                        format!("{label} has no `{field}`"),
                        Some(format!("add `{field}:` to it")),
                    )
                }
                other => other.at(index),
            })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let index = self.index;
        let key = self.context.tree.key_of(index);
        match &self.node().kind {
            NodeKind::Text(text) => {
                if !variants.contains(&text.as_str()) {
                    return Err(unknown_value(name, text, variants, key.as_deref()).at(index));
                }
                visitor
                    .visit_enum(Variant {
                        context: self.context,
                        enum_name: name,
                        name: text.clone(),
                        value: None,
                    })
                    .map_err(|error| error.at(index))
            }
            NodeKind::Mapping(entries) if entries.len() == 1 => {
                let (variant_key, value) = entries[0];
                let text = self.context.tree.nodes[variant_key]
                    .scalar_text()
                    .unwrap_or_default();
                if !variants.contains(&text.as_str()) {
                    return Err(unknown_value(name, &text, variants, None).at(variant_key));
                }
                visitor
                    .visit_enum(Variant {
                        context: self.context,
                        enum_name: name,
                        name: text,
                        value: Some(value),
                    })
                    .map_err(|error| error.at(value))
            }
            NodeKind::Mapping(entries) => {
                let keys: Vec<String> = entries
                    .iter()
                    .filter_map(|(key, _)| self.context.tree.nodes[*key].scalar_text())
                    .collect();
                let label = enum_label(name);
                let message = if keys.is_empty() {
                    format!("this is empty, but it should be {label}")
                } else {
                    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                    format!(
                        "this has the keys {}, but it should have one key: {label}",
                        listed(&keys, "and")
                    )
                };
                let hint = if name == "Item" {
                    "an item is one kind with its settings under it, indented: \
                     `- image: { file: promo.png, duration: 10s }`"
                        .to_owned()
                } else {
                    format!("{label} is {}", backticked(variants))
                };
                Err(ReadError::message(index, message, Some(hint)))
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map ignored_any
    }
}

/// The parts of a located value: its line, its column, then the value.
struct LocatedParts<'a> {
    line: Option<u64>,
    column: Option<u64>,
    value: Option<NodeDeserializer<'a>>,
}

impl<'de> de::SeqAccess<'de> for LocatedParts<'_> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        if let Some(line) = self.line.take() {
            return seed.deserialize(line.into_deserializer()).map(Some);
        }
        if let Some(column) = self.column.take() {
            return seed.deserialize(column.into_deserializer()).map(Some);
        }
        match self.value.take() {
            Some(value) => seed.deserialize(value).map(Some),
            None => Ok(None),
        }
    }
}

struct Entries<'a> {
    context: &'a Context,
    entries: std::slice::Iter<'a, usize>,
}

impl<'de> de::SeqAccess<'de> for Entries<'_> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        match self.entries.next() {
            Some(&index) => seed
                .deserialize(NodeDeserializer::new(self.context, index))
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Pairs<'a> {
    context: &'a Context,
    entries: std::vec::IntoIter<(usize, usize)>,
    value: Option<usize>,
}

impl<'de> de::MapAccess<'de> for Pairs<'_> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDeserializer::new(self.context, key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        let index = self
            .value
            .take()
            .ok_or_else(|| <ReadError as de::Error>::custom("a value without a key"))?;
        seed.deserialize(NodeDeserializer::new(self.context, index))
    }
}

struct Variant<'a> {
    context: &'a Context,
    enum_name: &'static str,
    name: String,
    value: Option<usize>,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = ReadError;
    type Variant = VariantValue<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantValue<'a>), ReadError> {
        let name: de::value::StringDeserializer<ReadError> = self.name.clone().into_deserializer();
        let variant = seed.deserialize(name)?;
        Ok((
            variant,
            VariantValue {
                context: self.context,
                enum_name: self.enum_name,
                name: self.name,
                value: self.value,
            },
        ))
    }
}

struct VariantValue<'a> {
    context: &'a Context,
    enum_name: &'static str,
    name: String,
    value: Option<usize>,
}

impl VariantValue<'_> {
    fn needs_value(&self) -> ReadError {
        ReadError {
            node: None,
            kind: ErrorKind::Message {
                message: format!("`{}` needs a value", self.name),
                hint: Some(if self.enum_name == "Item" {
                    format!(
                        "write its settings under it: `- {}: {{ file: promo.png, duration: 10s }}`",
                        self.name
                    )
                } else {
                    format!("write it like `{{ {}: 500ms }}`", self.name)
                }),
            },
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantValue<'_> {
    type Error = ReadError;

    fn unit_variant(self) -> Result<(), ReadError> {
        match self.value {
            None => Ok(()),
            Some(index) if matches!(self.context.tree.nodes[index].kind, NodeKind::Null) => Ok(()),
            Some(index) => Err(ReadError::message(
                index,
                format!("`{}` takes no value", self.name),
                Some(format!("write just `{}`", self.name)),
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, ReadError> {
        match self.value {
            Some(index) => seed.deserialize(NodeDeserializer::new(self.context, index)),
            None => Err(self.needs_value()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, ReadError> {
        match self.value {
            Some(index) => NodeDeserializer::new(self.context, index).deserialize_seq(visitor),
            None => Err(self.needs_value()),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.value {
            Some(index) => {
                NodeDeserializer::new(self.context, index).deserialize_struct("", fields, visitor)
            }
            None => Err(self.needs_value()),
        }
    }
}

/// The node a tolerant wrapper is reading, when it is read from the tree.
struct NodeIndex(usize);

impl<'de> Deserialize<'de> for NodeIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IndexVisitor;

        impl Visitor<'_> for IndexVisitor {
            type Value = NodeIndex;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a node of a YAML tree")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<NodeIndex, E> {
                Ok(NodeIndex(value as usize))
            }
        }

        deserializer.deserialize_newtype_struct(NODE, IndexVisitor)
    }
}

/// What a tolerant wrapper works with: the read's context and the node it stands on.
pub(crate) struct Place {
    context: Rc<Context>,
    index: usize,
}

impl Place {
    /// The node `deserializer` stands on; only the tree deserializer has one.
    pub(crate) fn of<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let NodeIndex(index) = NodeIndex::deserialize(deserializer)?;
        let context = current_context()
            .ok_or_else(|| <D::Error as de::Error>::custom("read outside the YAML tree"))?;
        Ok(Self { context, index })
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.context.tree.nodes[self.index].kind, NodeKind::Null)
    }

    /// Reports a mistake at the node.
    pub(crate) fn report(&self, error: ReadError) {
        self.context.record(error, self.index);
    }

    /// Reads the node as `T`; a mistake is reported and gives `None`.
    pub(crate) fn read<T: for<'de> Deserialize<'de>>(&self) -> Option<T> {
        self.read_at(self.index)
    }

    fn read_at<T: for<'de> Deserialize<'de>>(&self, index: usize) -> Option<T> {
        match self.context.read_node::<T>(index) {
            Ok(value) => Some(value),
            Err(error) => {
                self.context.record(error, index);
                None
            }
        }
    }

    /// For a list: each entry read as `T`; entries with mistakes are reported and left out.
    /// An error, for the caller to report through [`refuse`], when the node is not a list.
    pub(crate) fn read_entries<T: for<'de> Deserialize<'de>>(
        &self,
        expected: &str,
    ) -> Result<Vec<T>, ReadError> {
        let NodeKind::Sequence(entries) = &self.context.tree.nodes[self.index].kind else {
            return Err(ReadError {
                node: Some(self.index),
                kind: ErrorKind::InvalidType {
                    expected: expected.to_owned(),
                },
            });
        };
        Ok(entries
            .iter()
            .filter_map(|&entry| self.read_at(entry))
            .collect())
    }

    /// For a mapping of names: each pair, the value read as `T`; a pair whose value has a mistake
    /// is reported, and its name returned among the names left out.
    #[allow(clippy::type_complexity, reason = "the two lists are used apart")]
    pub(crate) fn read_pairs<K, T>(
        &self,
        expected: &str,
    ) -> Result<(Vec<(K, T)>, Vec<K>), ReadError>
    where
        K: for<'de> Deserialize<'de>,
        T: for<'de> Deserialize<'de>,
    {
        let entries = match &self.context.tree.nodes[self.index].kind {
            NodeKind::Null => return Ok((Vec::new(), Vec::new())),
            NodeKind::Mapping(entries) => unique_entries(&self.context, entries),
            _ => {
                return Err(ReadError {
                    node: Some(self.index),
                    kind: ErrorKind::InvalidType {
                        expected: expected.to_owned(),
                    },
                });
            }
        };
        let mut pairs = Vec::new();
        let mut left_out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.read_at::<K>(key) else {
                continue;
            };
            match self.read_at::<T>(value) {
                Some(value) => pairs.push((name, value)),
                None => left_out.push(name),
            }
        }
        Ok((pairs, left_out))
    }
}

/// Turns a tolerant wrapper's own refusal into the caller's error type, already reported.
pub(crate) fn refuse<E: de::Error>(place: &Place, error: ReadError) -> E {
    place.context.record(error, place.index);
    E::custom(ReadError::reported())
}

/// The message of an error that only carries "reported already" through serde.
const REPORTED: &str = "$vitrine::reported";

/// Whether an error came from a wrapper that already reported it.
pub(crate) fn is_reported(error: &ReadError) -> bool {
    matches!(error.kind, ErrorKind::Reported)
        || matches!(&error.kind, ErrorKind::Custom(message) if message == REPORTED)
}
