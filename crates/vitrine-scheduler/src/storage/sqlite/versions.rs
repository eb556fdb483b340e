//! Named documents kept as numbered versions (playlists, campaigns): the next number for a name,
//! taken inside the writer's `BEGIN IMMEDIATE` transaction so that two pushes of one name cannot
//! both take it. The primary key `(name, version)` refuses a duplicate should that ever be bypassed.

use rusqlite::Transaction;

use crate::storage::StorageError;

/// A table of versioned documents: `name TEXT, version INTEGER, PRIMARY KEY (name, version)`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Versioned {
    Playlists,
    Campaigns,
}

impl Versioned {
    fn table(self) -> &'static str {
        match self {
            Self::Playlists => "playlists",
            Self::Campaigns => "campaigns",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Playlists => "playlist version",
            Self::Campaigns => "campaign version",
        }
    }
}

/// The version the next document called `name` gets: one more than the newest, 1 for the first.
pub(crate) fn next_version(
    transaction: &Transaction<'_>,
    table: Versioned,
    name: &str,
) -> Result<i64, StorageError> {
    Ok(transaction.query_row(
        &format!(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM {} WHERE name = ?1",
            table.table()
        ),
        [name],
        |row| row.get(0),
    )?)
}

/// The SQL condition that keeps only the newest version of each name of `table`, for a query
/// whose `FROM` names the table `AS outer_row`.
pub(crate) fn newest_only(table: Versioned) -> String {
    format!(
        "outer_row.version = (SELECT MAX(version) FROM {} WHERE name = outer_row.name)",
        table.table()
    )
}

/// Every version of the document `name` in `table`, newest first, without its text.
pub(crate) fn summaries(
    connection: &rusqlite::Connection,
    table: Versioned,
    name: &str,
) -> Result<Vec<crate::storage::console::VersionSummary>, StorageError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, file_name, created_at, length(CAST(source AS BLOB))
         FROM {} WHERE name = ?1 ORDER BY version DESC",
        table.table()
    ))?;
    let rows = statement
        .query_map([name], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(version, file_name, created_at, bytes)| {
            Ok(crate::storage::console::VersionSummary {
                version: super::from_sql_integer(version, table.what())?,
                file_name,
                created_at: created_at.parse().map_err(|error| {
                    StorageError::CorruptRow(format!(
                        "{} time `{created_at}`: {error}",
                        table.what()
                    ))
                })?,
                bytes: super::from_sql_integer(bytes, "document size")?,
            })
        })
        .collect()
}
