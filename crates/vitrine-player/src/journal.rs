//! The proof-of-play journal: every impression is committed here before it counts as played, and
//! leaves only when the scheduler has acknowledged it.

use std::path::Path;

use rusqlite::{Connection, params};
use uuid::Uuid;
use vitrine_core::Impression;

pub struct Journal {
    connection: Connection,
}

impl Journal {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            connection: crate::database::open(data_dir)?,
        })
    }

    /// Commits one impression. Recording the same id twice is harmless.
    pub fn record(&self, impression: &Impression) -> anyhow::Result<()> {
        self.connection.execute(
            "INSERT INTO journal (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            params![
                impression.id.to_string(),
                serde_json::to_string(impression)?
            ],
        )?;
        Ok(())
    }

    /// The oldest impressions the scheduler has not acknowledged, at most `limit`.
    pub fn unsent(&self, limit: usize) -> anyhow::Result<Vec<Impression>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT body FROM journal WHERE sent = 0 ORDER BY sequence LIMIT ?1")?;
        let bodies = statement
            .query_map(params![limit as i64], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies
            .iter()
            .map(|body| Ok(serde_json::from_str(body)?))
            .collect()
    }

    /// Marks acknowledged impressions as sent, in one transaction.
    pub fn mark_sent(&mut self, ids: &[Uuid]) -> anyhow::Result<usize> {
        let transaction = self.connection.transaction()?;
        let mut marked = 0;
        {
            let mut statement =
                transaction.prepare_cached("UPDATE journal SET sent = 1 WHERE id = ?1")?;
            for id in ids {
                marked += statement.execute(params![id.to_string()])?;
            }
        }
        transaction.commit()?;
        Ok(marked)
    }

    /// How many impressions wait for an acknowledgement.
    pub fn unsent_count(&self) -> anyhow::Result<u64> {
        let count: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM journal WHERE sent = 0",
            [],
            |row| row.get(0),
        )?;
        Ok(count.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::Sha256Hex;

    fn impression() -> Impression {
        Impression {
            id: Uuid::now_v7(),
            screen: "lobby".into(),
            playlist: "demo".into(),
            playlist_version: 1,
            item_id: "item-1".into(),
            media_sha256: Some(Sha256Hex::of_bytes(b"red")),
            started_at: jiff::Timestamp::now(),
            duration_ms: 1000,
            offer: None,
        }
    }

    #[test]
    fn impressions_stay_until_acknowledged() {
        let directory = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(directory.path()).unwrap();
        let first = impression();
        let second = impression();
        journal.record(&first).unwrap();
        journal.record(&second).unwrap();
        journal.record(&first).unwrap();
        assert_eq!(
            journal.unsent(10).unwrap(),
            vec![first.clone(), second.clone()]
        );
        assert_eq!(journal.unsent(1).unwrap(), vec![first.clone()]);

        assert_eq!(journal.mark_sent(&[first.id]).unwrap(), 1);
        assert_eq!(journal.unsent(10).unwrap(), vec![second.clone()]);

        drop(journal);
        let reopened = Journal::open(directory.path()).unwrap();
        assert_eq!(reopened.unsent_count().unwrap(), 1, "survives a restart");
    }
}
