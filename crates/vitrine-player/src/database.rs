//! The player's SQLite file: the media cache index, the active manifest and the proof-of-play journal.
//!
//! Every thread that needs it opens its own connection; WAL lets the renderer's journal writes, the
//! sync thread and the uploader work side by side. `synchronous=FULL` because a journalled play must
//! survive a power cut: it is what advertisers pay on.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE media (
            sha256 TEXT PRIMARY KEY NOT NULL,
            size INTEGER NOT NULL,
            verified_at TEXT NOT NULL
        );
        CREATE TABLE active_manifest (
            slot INTEGER PRIMARY KEY CHECK (slot = 0),
            etag TEXT NOT NULL,
            body TEXT NOT NULL,
            activated_at TEXT NOT NULL
        );
        CREATE TABLE journal (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            sent INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX journal_unsent ON journal (sent, sequence);",
        ),
        M::up(
            "-- The last time HQ vouched for: the clock's floor after a restart without network.
            CREATE TABLE clock (
                slot INTEGER PRIMARY KEY CHECK (slot = 0),
                last_good TEXT NOT NULL
            );
            -- When each file was last wanted by a manifest (RFC 3339), for least-recently-used
            -- eviction, and whether it is the pinned fallback that is never evicted.
            ALTER TABLE media ADD COLUMN last_used TEXT NOT NULL DEFAULT '';
            ALTER TABLE media ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;",
        ),
        M::up(
            "-- The head of the journal's hash chain: the sequence number and digest of the last
            -- record committed. Kept apart from the journal's rows, so pruning sent plays never
            -- loses the link the next record must carry.
            CREATE TABLE journal_chain (
                slot INTEGER PRIMARY KEY CHECK (slot = 0),
                sequence INTEGER NOT NULL,
                digest TEXT NOT NULL
            );",
        ),
    ])
});

/// Opens (and on first use creates and migrates) the player's database.
pub fn open(data_dir: &Path) -> anyhow::Result<Connection> {
    let path = data_dir.join("player.sqlite3");
    let mut connection = Connection::open(&path)
        .with_context(|| format!("cannot open the player database {}", path.display()))?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    MIGRATIONS
        .to_latest(&mut connection)
        .with_context(|| format!("cannot migrate the player database {}", path.display()))?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.validate().unwrap();
    }
}
