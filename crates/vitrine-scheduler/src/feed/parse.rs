//! Reading a Merchant Center product feed as a stream of items: RSS 2.0 and Atom 1.0 XML (the
//! `g:` namespace, plus the plain `title`, `link` and `description` RSS and Atom items carry), and
//! TSV or CSV with a header row in any order and quoted fields. Neither reader holds more than one
//! item in memory, however large the feed.
//!
//! Nested groups (`shipping`, `tax`, `installment`, `subscription_cost`, `loyalty_program`,
//! `product_detail`, ...) are read as [`Group`]s of their own, so a shipping block's `g:price` is
//! never the product's price. Elements outside the Merchant Center namespace are kept as they are.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde::{Deserialize, Serialize};

/// The namespace of Merchant Center's attributes (`xmlns:g`).
pub const GOOGLE_NAMESPACE: &[u8] = b"http://base.google.com/ns/1.0";
const ATOM_NAMESPACE: &[u8] = b"http://www.w3.org/2005/Atom";

/// The attributes whose value is a structure of its own, with the order of their parts when a
/// TSV column writes them `a:b:c` without naming them in the header (`shipping(country:price)`).
pub const GROUPS: &[(&str, &[&str])] = &[
    ("shipping", &["country", "region", "service", "price"]),
    ("tax", &["country", "region", "rate", "tax_ship"]),
    (
        "installment",
        &["months", "amount", "downpayment", "credit_type"],
    ),
    ("subscription_cost", &["period", "period_length", "amount"]),
    (
        "loyalty_program",
        &[
            "program_label",
            "tier_label",
            "price",
            "cashback_for_future_use",
            "loyalty_points",
        ],
    ),
    (
        "product_detail",
        &["section_name", "attribute_name", "attribute_value"],
    ),
    (
        "certification",
        &[
            "certification_authority",
            "certification_name",
            "certification_code",
        ],
    ),
    ("free_shipping_threshold", &["country", "price_threshold"]),
    ("shipping_dimensions", &["length", "width", "height"]),
    ("consumer_notice", &["notice_type", "notice_message"]),
];

fn is_group(name: &str) -> bool {
    GROUPS.iter().any(|(group, _)| *group == name)
}

/// A nested structure of an item, like one `<g:shipping>` block: its parts in the feed's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Group {
    pub name: String,
    pub fields: Vec<(String, String)>,
}

/// One item as the feed wrote it, before its values are checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RawItem {
    /// The 1-based line the item starts on.
    pub line: u64,
    /// Merchant Center attributes by name (without `g:`), in order; a name may repeat
    /// (`additional_image_link`).
    pub fields: Vec<(String, String)>,
    pub groups: Vec<Group>,
    /// Elements outside the Merchant Center namespace, by their name as written (`atom:id`,
    /// `c:store_note`).
    pub other_elements: Vec<(String, String)>,
}

impl RawItem {
    /// The first value of a field, trimmed; empty when absent.
    pub fn first(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map_or("", |(_, value)| value.trim())
    }

    /// Every non-empty value of a field.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| field == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// How a feed is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedFormat {
    Xml,
    Tsv,
    Csv,
}

impl FeedFormat {
    /// By the file name (`.xml`, `.rss`, `.atom` are XML, `.csv` is CSV), else by the first byte
    /// that is not white space: `<` is XML, anything else TSV.
    pub fn detect(file_name: &str, start: &[u8]) -> Self {
        let lower = file_name.to_ascii_lowercase();
        let lower = lower.trim_end_matches(".gz");
        if [".xml", ".rss", ".atom"]
            .iter()
            .any(|suffix| lower.ends_with(suffix))
        {
            return Self::Xml;
        }
        if lower.ends_with(".csv") {
            return Self::Csv;
        }
        let first = start.iter().find(|byte| {
            !byte.is_ascii_whitespace() && **byte != 0xEF && **byte != 0xBB && **byte != 0xBF
        });
        if first == Some(&b'<') {
            Self::Xml
        } else {
            Self::Tsv
        }
    }
}

/// Why a feed could not be read at all (one bad item is not an error: it is skipped).
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("the XML is not well formed at line {line}, column {column}: {message}")]
    NotWellFormed {
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{0}")]
    Header(String),
    #[error("cannot read the feed: {0}")]
    Io(#[from] std::io::Error),
    /// The item callback stopped the read.
    #[error("{0}")]
    Stopped(E),
}

/// What the reader hands over: an item, or a row it could not read, with its line and why.
#[derive(Debug)]
pub enum ReadItem {
    Item(RawItem),
    Unreadable { line: u64, reason: String },
}

/// A `BufRead` that counts the lines of what its reader has consumed, so an item's line costs
/// nothing extra however long the file.
struct LineCounting<R> {
    inner: R,
    line: u64,
    consumed: u64,
    line_start: u64,
}

impl<R> LineCounting<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            line: 1,
            consumed: 0,
            line_start: 0,
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        for (index, byte) in bytes.iter().enumerate() {
            if *byte == b'\n' {
                self.line += 1;
                self.line_start = self.consumed + index as u64 + 1;
            }
        }
        self.consumed += bytes.len() as u64;
    }

    /// The 1-based line and column of `offset`, on the current line or before; an offset on an
    /// earlier line gets the current position.
    fn position_of(&self, offset: u64) -> (u64, u64) {
        if offset >= self.line_start && offset <= self.consumed {
            (self.line, offset - self.line_start + 1)
        } else {
            self.position()
        }
    }

    /// The 1-based line and column of the next byte to be consumed.
    fn position(&self) -> (u64, u64) {
        (self.line, self.consumed - self.line_start + 1)
    }
}

impl<R: BufRead> Read for LineCounting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count(&buffer[..read]);
        Ok(read)
    }
}

impl<R: BufRead> BufRead for LineCounting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The bytes consumed are the front of what `fill_buf` returned; asking again reads
        // nothing new while they are buffered.
        if let Ok(buffered) = self.inner.fill_buf() {
            let consumed = &buffered[..amount.min(buffered.len())];
            let mut newlines = 0u64;
            let mut last = None;
            for (index, byte) in consumed.iter().enumerate() {
                if *byte == b'\n' {
                    newlines += 1;
                    last = Some(index);
                }
            }
            self.line += newlines;
            if let Some(last) = last {
                self.line_start = self.consumed + last as u64 + 1;
            }
        }
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// Reads a feed, calling `each` with every item (or unreadable row) in order.
pub fn read_feed<R: BufRead, E>(
    source: R,
    format: FeedFormat,
    each: impl FnMut(ReadItem) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    match format {
        FeedFormat::Xml => read_xml(source, each),
        FeedFormat::Tsv => read_delimited(source, b'\t', each),
        FeedFormat::Csv => read_delimited(source, b',', each),
    }
}

/// Where an element's name puts it.
enum Kind {
    /// A Merchant Center attribute (`g:price`), or one of the plain RSS/Atom fields a product
    /// takes (`title`, `link`, `description`, Atom's `summary`).
    Attribute(String),
    /// Anything else, by its name as written.
    Other(String),
}

fn kind_of(resolved: &ResolveResult<'_>, local: &[u8], qualified: &[u8]) -> Kind {
    let local_text = String::from_utf8_lossy(local).into_owned();
    let plain = matches!(local, b"title" | b"link" | b"description" | b"summary");
    match resolved {
        ResolveResult::Bound(namespace) if namespace.as_ref() == GOOGLE_NAMESPACE => {
            Kind::Attribute(local_text)
        }
        // A feed that forgot to declare `xmlns:g` still means Merchant Center by `g:`.
        ResolveResult::Unknown(prefix) if prefix.as_slice() == b"g" => Kind::Attribute(local_text),
        ResolveResult::Unbound if plain => Kind::Attribute(local_text),
        ResolveResult::Bound(namespace) if namespace.as_ref() == ATOM_NAMESPACE && plain => {
            Kind::Attribute(local_text)
        }
        ResolveResult::Bound(namespace) if namespace.as_ref() == ATOM_NAMESPACE => {
            Kind::Other(format!("atom:{local_text}"))
        }
        _ => Kind::Other(String::from_utf8_lossy(qualified).into_owned()),
    }
}

/// An element open inside an item, directly under it.
struct OpenField {
    kind: Kind,
    text: String,
    /// Set once a child element shows this is a group.
    group: Option<Group>,
    /// The child element open inside it, with its text so far.
    part: Option<(String, String)>,
}

struct OpenItem {
    item: RawItem,
    /// Elements open below the item: 0 directly inside it.
    depth: usize,
    field: Option<OpenField>,
}

impl OpenItem {
    fn push_text(&mut self, text: &str) {
        if let Some(field) = &mut self.field {
            match &mut field.part {
                Some((_, part_text)) => part_text.push_str(text),
                None => field.text.push_str(text),
            }
        }
    }

    fn close_field(&mut self) {
        let Some(field) = self.field.take() else {
            return;
        };
        let (name, is_attribute) = match field.kind {
            Kind::Attribute(name) => (name, true),
            Kind::Other(name) => (name, false),
        };
        if let Some(mut group) = field.group {
            group.name = name;
            self.item.groups.push(group);
        } else if is_attribute && is_group(&name) {
            self.item.groups.push(Group {
                name,
                fields: vec![("value".to_owned(), field.text.trim().to_owned())],
            });
        } else if is_attribute {
            self.item.fields.push((name, field.text));
        } else {
            self.item
                .other_elements
                .push((name, field.text.trim().to_owned()));
        }
    }
}

fn read_xml<R: BufRead, E>(
    source: R,
    mut each: impl FnMut(ReadItem) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    let mut reader = quick_xml::NsReader::from_reader(LineCounting::new(source));
    // Not trimmed: text around an entity (`A &amp; B`) comes in pieces whose spaces matter.
    // Whole values are trimmed when read.
    reader.config_mut().trim_text(false);
    let mut buffer = Vec::new();
    let mut open: Option<OpenItem> = None;
    loop {
        buffer.clear();
        // The position before the event: where an item's `<item>` tag starts.
        let line = reader.get_mut().position().0;
        let inside_item = open.is_some();
        let step = match reader.read_resolved_event_into(&mut buffer) {
            Ok((resolved, event)) => {
                let kind = match &event {
                    Event::Start(start) if inside_item => Some(kind_of(
                        &resolved,
                        start.local_name().as_ref(),
                        start.name().as_ref(),
                    )),
                    _ => None,
                };
                Ok((kind, event))
            }
            Err(error) => Err(error),
        };
        let (kind, event) = match step {
            Ok(step) => step,
            Err(error) => {
                let offset = reader.error_position();
                let (line, column) = reader.get_mut().position_of(offset);
                return Err(ReadError::NotWellFormed {
                    line,
                    column,
                    message: error.to_string(),
                });
            }
        };
        let text_error = |error: &dyn std::fmt::Display| ReadError::NotWellFormed {
            line,
            column: 1,
            message: format!("the text is not UTF-8: {error}"),
        };
        match event {
            Event::Start(start) => {
                let local = start.local_name();
                let Some(item) = &mut open else {
                    if matches!(local.as_ref(), b"item" | b"entry") {
                        open = Some(OpenItem {
                            item: RawItem {
                                line,
                                ..RawItem::default()
                            },
                            depth: 0,
                            field: None,
                        });
                    }
                    continue;
                };
                item.depth += 1;
                let kind = kind.unwrap_or(Kind::Other(String::new()));
                match item.depth {
                    1 => {
                        item.field = Some(OpenField {
                            kind,
                            text: String::new(),
                            group: None,
                            part: None,
                        });
                    }
                    2 => {
                        if let Some(field) = &mut item.field {
                            field.group.get_or_insert_with(Group::default);
                            let name = match kind {
                                Kind::Attribute(name) | Kind::Other(name) => name,
                            };
                            field.part = Some((name, String::new()));
                        }
                    }
                    // Deeper elements add their text to the part they are in.
                    _ => {}
                }
            }
            Event::Empty(empty) => {
                let Some(item) = &mut open else {
                    continue;
                };
                // Atom writes the product page as `<link rel="alternate" href="..."/>`.
                if item.depth == 0 && empty.local_name().as_ref() == b"link" {
                    let href = empty
                        .try_get_attribute("href")
                        .ok()
                        .flatten()
                        .and_then(|attribute| {
                            attribute
                                .normalized_value(quick_xml::XmlVersion::default())
                                .ok()
                        })
                        .map(|value| value.into_owned());
                    if let Some(href) = href {
                        item.item.fields.push(("link".to_owned(), href));
                    }
                }
            }
            Event::End(_) => {
                let Some(item) = &mut open else {
                    continue;
                };
                match item.depth {
                    0 => {
                        let item = open.take().map(|open| open.item).unwrap_or_default();
                        each(ReadItem::Item(item)).map_err(ReadError::Stopped)?;
                        continue;
                    }
                    1 => item.close_field(),
                    2 => {
                        if let Some(field) = &mut item.field
                            && let Some((name, text)) = field.part.take()
                            && let Some(group) = &mut field.group
                        {
                            group.fields.push((name, text.trim().to_owned()));
                        }
                    }
                    _ => {}
                }
                item.depth -= 1;
            }
            Event::Text(text) => {
                if let Some(item) = &mut open {
                    let text = text.decode().map_err(|error| text_error(&error))?;
                    item.push_text(&text);
                }
            }
            Event::CData(data) => {
                if let Some(item) = &mut open {
                    let text = data.decode().map_err(|error| text_error(&error))?;
                    item.push_text(&text);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(item) = &mut open {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(character)) => character.to_string(),
                        _ => {
                            let entity = reference.decode().unwrap_or_default();
                            match quick_xml::escape::resolve_predefined_entity(&entity) {
                                Some(text) => text.to_owned(),
                                None => {
                                    return Err(ReadError::NotWellFormed {
                                        line,
                                        column: 1,
                                        message: format!("unknown entity `&{entity};`"),
                                    });
                                }
                            }
                        }
                    };
                    item.push_text(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(item) = open {
        let (line, column) = reader.get_mut().position();
        return Err(ReadError::NotWellFormed {
            line,
            column,
            message: format!("the item that starts on line {} never ends", item.item.line),
        });
    }
    Ok(())
}

/// A column of a delimited feed: an attribute, or a group with the names of its parts.
enum Column {
    Attribute(String),
    Group { name: String, parts: Vec<String> },
}

/// `g:Price`, `price`, `shipping(country:price)` → what the column holds.
fn column_of(header: &str) -> Column {
    let header = header.trim().trim_start_matches('\u{feff}');
    let header = header
        .strip_prefix("g:")
        .unwrap_or(header)
        .to_ascii_lowercase()
        .replace(' ', "_");
    if let Some((name, rest)) = header.split_once('(')
        && let Some(parts) = rest.strip_suffix(')')
    {
        return Column::Group {
            name: name.trim().to_owned(),
            parts: parts
                .split(':')
                .map(|part| part.trim().to_owned())
                .collect(),
        };
    }
    match GROUPS.iter().find(|(group, _)| *group == header) {
        Some((name, parts)) => Column::Group {
            name: (*name).to_owned(),
            parts: parts.iter().map(|part| (*part).to_owned()).collect(),
        },
        None => Column::Attribute(header),
    }
}

/// The attributes a delimited column may hold several values of, separated by commas.
const LISTS: &[&str] = &[
    "additional_image_link",
    "included_destination",
    "excluded_destination",
];

fn read_delimited<R: BufRead, E>(
    source: R,
    delimiter: u8,
    mut each: impl FnMut(ReadItem) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    // Quoted fields follow RFC 4180 (`"Salt, pepper"`, `"say ""hi"""`); a quote inside an
    // unquoted field is literal, so a title like `12" pizza` reads as written.
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(source);
    let headers = reader
        .headers()
        .map_err(|error| ReadError::Header(format!("cannot read the header row: {error}")))?
        .clone();
    let columns: Vec<Column> = headers.iter().map(column_of).collect();
    for required in ["id", "title", "price"] {
        let present = columns
            .iter()
            .any(|column| matches!(column, Column::Attribute(name) if name == required));
        if !present {
            return Err(ReadError::Header(format!(
                "the header row has no `{required}` column; it needs id, title and price"
            )));
        }
    }
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |position| position.line());
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue;
                }
                if record.len() != columns.len() {
                    each(ReadItem::Unreadable {
                        line,
                        reason: format!(
                            "the row has {} fields but the header has {}",
                            record.len(),
                            columns.len()
                        ),
                    })
                    .map_err(ReadError::Stopped)?;
                    continue;
                }
                let mut item = RawItem {
                    line,
                    ..RawItem::default()
                };
                for (column, value) in columns.iter().zip(record.iter()) {
                    let value = value.trim();
                    match column {
                        Column::Attribute(name) if LISTS.contains(&name.as_str()) => {
                            for part in value
                                .split(',')
                                .map(str::trim)
                                .filter(|part| !part.is_empty())
                            {
                                item.fields.push((name.clone(), part.to_owned()));
                            }
                        }
                        Column::Attribute(name) => {
                            item.fields.push((name.clone(), value.to_owned()))
                        }
                        Column::Group { name, parts } => {
                            for written in value
                                .split(',')
                                .map(str::trim)
                                .filter(|part| !part.is_empty())
                            {
                                let fields = parts
                                    .iter()
                                    .zip(written.split(':'))
                                    .filter(|(_, part)| !part.trim().is_empty())
                                    .map(|(part, value)| (part.clone(), value.trim().to_owned()))
                                    .collect();
                                item.groups.push(Group {
                                    name: name.clone(),
                                    fields,
                                });
                            }
                        }
                    }
                }
                each(ReadItem::Item(item)).map_err(ReadError::Stopped)?;
            }
            Err(error) => {
                let line = error.position().map_or(line, |position| position.line());
                let stop = !matches!(error.kind(), csv::ErrorKind::UnequalLengths { .. });
                each(ReadItem::Unreadable {
                    line,
                    reason: format!("cannot read the row: {error}"),
                })
                .map_err(ReadError::Stopped)?;
                // A broken row (invalid UTF-8, say) cannot be skipped by the reader; stop here.
                if stop {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Every item of a feed held in memory, for tests and small files.
pub fn read_all(
    source: &[u8],
    format: FeedFormat,
) -> Result<Vec<ReadItem>, ReadError<std::convert::Infallible>> {
    let mut items = Vec::new();
    read_feed(source, format, |item| {
        items.push(item);
        Ok(())
    })?;
    Ok(items)
}

/// The attributes that vary between the variants of one `item_group_id`.
pub const VARIANT_ATTRIBUTES: &[&str] = &[
    "color",
    "size",
    "size_type",
    "size_system",
    "material",
    "pattern",
    "gender",
    "age_group",
];

/// Keeps the values of a field in a map of lists (for the attributes Vitrine does not model).
pub fn collect_attributes<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in pairs {
        map.entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    map
}
