//! The proof-of-play journal: every impression is committed here before it counts as played, and
//! leaves only when the scheduler has acknowledged it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
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

    /// Commits one impression and returns its sequence number: the journal's `AUTOINCREMENT`
    /// key, which SQLite never hands out twice in one database, even after the rows are gone.
    /// Recording the same id twice is harmless and keeps the first number.
    pub fn record(&self, impression: &Impression) -> anyhow::Result<u64> {
        let id = impression.id.to_string();
        self.connection.execute(
            "INSERT INTO journal (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            params![id, serde_json::to_string(impression)?],
        )?;
        let sequence: i64 = self.connection.query_row(
            "SELECT sequence FROM journal WHERE id = ?1",
            params![id],
            |row| row.get(0),
        )?;
        Ok(sequence.unsigned_abs())
    }

    /// The oldest impressions the scheduler has not acknowledged, at most `limit`, each with the
    /// sequence number the journal gave it.
    pub fn unsent(&self, limit: usize) -> anyhow::Result<Vec<Impression>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT sequence, body FROM journal WHERE sent = 0 ORDER BY sequence LIMIT ?1",
        )?;
        let rows = statement
            .query_map(params![limit as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.iter()
            .map(|(sequence, body)| {
                let mut impression: Impression = serde_json::from_str(body)?;
                impression.sequence = sequence.unsigned_abs();
                Ok(impression)
            })
            .collect()
    }

    /// Makes the next sequence number follow `highest`, the highest number HQ holds for this
    /// screen. It matters only when this database was lost and made anew: without it, new plays
    /// would reuse numbers HQ already holds.
    pub fn continue_after(&self, highest: u64) -> anyhow::Result<()> {
        let highest = i64::try_from(highest)?;
        let current: Option<i64> = self
            .connection
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'journal'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        match current {
            Some(current) if current >= highest => {}
            Some(_) => {
                self.connection.execute(
                    "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'journal'",
                    params![highest],
                )?;
            }
            None => {
                self.connection.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('journal', ?1)",
                    params![highest],
                )?;
            }
        }
        Ok(())
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

    /// Deletes acknowledged plays that ended before `before`, so a journal that has been sending
    /// for years does not fill the disk. Unsent plays are never deleted, and the sequence numbers
    /// of deleted rows are not handed out again. Returns how many rows went.
    pub fn prune_sent(&self, before: jiff::Timestamp) -> anyhow::Result<usize> {
        // Both sides are RFC 3339 in UTC, so comparing the text compares the instants to the
        // second, which is all a retention period needs.
        Ok(self.connection.execute(
            "DELETE FROM journal WHERE sent = 1 AND json_extract(body, '$.ended_at') < ?1",
            params![before.to_string()],
        )?)
    }

    /// The offers shown in plays scheduled from `since` on, with their scheduled start: what caps
    /// per hour count, read back after a restart so that a restart does not reset them.
    pub fn offers_since(
        &self,
        since: jiff::Timestamp,
    ) -> anyhow::Result<Vec<(String, jiff::Timestamp)>> {
        // The text comparison is to the second (RFC 3339 in UTC); the exact one follows.
        let mut statement = self.connection.prepare(
            "SELECT json_extract(body, '$.offer.offer_id'), json_extract(body, '$.scheduled_start')
             FROM journal
             WHERE json_extract(body, '$.offer') IS NOT NULL
               AND json_extract(body, '$.scheduled_start') >= ?1
             ORDER BY sequence",
        )?;
        let rows = statement
            .query_map(
                params![since.strftime("%Y-%m-%dT%H:%M:%S").to_string()],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(offer, start)| Some((offer, start.parse().ok()?)))
            .filter(|(_, start)| *start >= since)
            .collect())
    }

    /// How many impressions wait for an acknowledgement.
    pub fn unsent_count(&self) -> anyhow::Result<u64> {
        Ok(self.backlog()?.rows)
    }

    /// What waits for an acknowledgement: rows and the bytes of their records.
    pub fn backlog(&self) -> anyhow::Result<Backlog> {
        let (rows, bytes): (i64, i64) = self.connection.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM journal WHERE sent = 0",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(Backlog {
            rows: rows.unsigned_abs(),
            bytes: bytes.unsigned_abs(),
        })
    }
}

/// The unsent part of the journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub rows: u64,
    pub bytes: u64,
}

/// How much unsent proof of play the player holds before it raises an alert. Past either limit it
/// still records and keeps every play (they are what advertisers pay on); the alert asks someone
/// to restore the network before the disk fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacklogLimit {
    pub rows: u64,
    pub bytes: u64,
}

impl Default for BacklogLimit {
    /// About two weeks of a busy four-zone screen (an item every ten seconds per zone), and the
    /// bytes those records take.
    fn default() -> Self {
        Self {
            rows: 500_000,
            bytes: 256 * 1024 * 1024,
        }
    }
}

impl BacklogLimit {
    /// The alert for `backlog`, if it is over either limit: what is wrong and what to do.
    pub fn alert(&self, backlog: Backlog) -> Option<String> {
        if backlog.rows <= self.rows && backlog.bytes <= self.bytes {
            return None;
        }
        Some(format!(
            "{} plays ({} bytes) wait to be sent to HQ, over the alert threshold of {} plays or {} \
             bytes (`[journal] alert_rows` / `alert_bytes` in the player config); none is dropped, \
             but restore the connection to HQ before the disk fills",
            backlog.rows, backlog.bytes, self.rows, self.bytes
        ))
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
            zone: "main".into(),
            item_id: "item-1".into(),
            media_sha256: Some(Sha256Hex::of_bytes(b"red")),
            scheduled_start: jiff::Timestamp::now(),
            scheduled_end: None,
            started_at: jiff::Timestamp::now(),
            ended_at: jiff::Timestamp::now(),
            completed: true,
            clock: vitrine_core::ClockState::Synced,
            sequence: 0,
            offer: None,
            campaign: None,
            manifest_version: 0,
            player_version: None,
            display: vitrine_core::DisplayPower::Unknown,
            previous: None,
        }
    }

    fn numbered(mut impression: Impression, sequence: u64) -> Impression {
        impression.sequence = sequence;
        impression
    }

    #[test]
    fn the_offers_of_the_last_hours_are_read_back_after_a_restart() {
        let directory = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now();
        let offer_play = |offer_id: &str, minutes_ago: i64| {
            let mut play = impression();
            play.scheduled_start = now - jiff::SignedDuration::from_mins(minutes_ago);
            play.offer = Some(vitrine_core::OfferPlay {
                offer_id: offer_id.into(),
                campaign: Some("c".into()),
                arm: vitrine_core::offer::Arm::Treatment,
                price: None,
            });
            play
        };
        {
            let mut journal = Journal::open(directory.path()).unwrap();
            let sent = offer_play("sent-already", 30);
            journal.record(&sent).unwrap();
            journal.mark_sent(&[sent.id]).unwrap();
            journal.record(&offer_play("too-old", 200)).unwrap();
            journal.record(&impression()).unwrap();
            journal.record(&offer_play("latest", 1)).unwrap();
        }
        let reopened = Journal::open(directory.path()).unwrap();
        let since = now - jiff::SignedDuration::from_hours(2);
        let offers: Vec<String> = reopened
            .offers_since(since)
            .unwrap()
            .into_iter()
            .map(|(offer, _)| offer)
            .collect();
        assert_eq!(offers, ["sent-already", "latest"]);
    }

    #[test]
    fn impressions_stay_until_acknowledged() {
        let directory = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(directory.path()).unwrap();
        let first = impression();
        let second = impression();
        assert_eq!(journal.record(&first).unwrap(), 1);
        assert_eq!(journal.record(&second).unwrap(), 2);
        assert_eq!(
            journal.record(&first).unwrap(),
            1,
            "a repeat keeps its number"
        );
        let first = numbered(first, 1);
        let second = numbered(second, 2);
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

    #[test]
    fn sequence_numbers_rise_across_restarts_and_are_never_reused() {
        let directory = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(directory.path()).unwrap();
        let first = impression();
        let second = impression();
        assert_eq!(journal.record(&first).unwrap(), 1);
        assert_eq!(journal.record(&second).unwrap(), 2);
        journal.mark_sent(&[first.id, second.id]).unwrap();
        // Sent rows may be cleared away; their numbers are still not handed out again.
        journal
            .connection
            .execute("DELETE FROM journal WHERE sent = 1", [])
            .unwrap();
        drop(journal);
        let journal = Journal::open(directory.path()).unwrap();
        assert_eq!(journal.record(&impression()).unwrap(), 3);

        // A database made anew continues after what HQ holds.
        let fresh = tempfile::tempdir().unwrap();
        let journal = Journal::open(fresh.path()).unwrap();
        journal.continue_after(41).unwrap();
        assert_eq!(journal.record(&impression()).unwrap(), 42);
        journal.continue_after(10).unwrap();
        assert_eq!(
            journal.record(&impression()).unwrap(),
            43,
            "never goes back"
        );
    }

    #[test]
    fn only_acknowledged_plays_past_the_retention_are_pruned() {
        let directory = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(directory.path()).unwrap();
        let mut old_sent = impression();
        old_sent.ended_at = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut old_unsent = impression();
        old_unsent.ended_at = "2026-01-01T00:00:00Z".parse().unwrap();
        let recent_sent = impression();
        for record in [&old_sent, &old_unsent, &recent_sent] {
            journal.record(record).unwrap();
        }
        journal.mark_sent(&[old_sent.id, recent_sent.id]).unwrap();
        let cutoff = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(journal.prune_sent(cutoff).unwrap(), 1);
        let left: Vec<Uuid> = journal
            .unsent(10)
            .unwrap()
            .iter()
            .map(|record| record.id)
            .collect();
        assert_eq!(left, vec![old_unsent.id], "an unsent play is never pruned");
        let rows: i64 = journal
            .connection
            .query_row("SELECT COUNT(*) FROM journal", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        assert_eq!(journal.record(&impression()).unwrap(), 4, "numbers go on");
    }

    #[test]
    fn the_backlog_alert_rises_past_either_limit_and_drops_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let journal = Journal::open(directory.path()).unwrap();
        let limit = BacklogLimit {
            rows: 2,
            bytes: 1_000_000,
        };
        for _ in 0..2 {
            journal.record(&impression()).unwrap();
        }
        let backlog = journal.backlog().unwrap();
        assert_eq!(backlog.rows, 2);
        assert!(backlog.bytes > 100, "{backlog:?}");
        assert_eq!(limit.alert(backlog), None);
        journal.record(&impression()).unwrap();
        let alert = limit
            .alert(journal.backlog().unwrap())
            .expect("over 2 rows");
        assert!(
            alert.contains("3 plays") && alert.contains("alert_rows"),
            "{alert}"
        );
        assert_eq!(journal.unsent(10).unwrap().len(), 3, "nothing dropped");
        let by_bytes = BacklogLimit {
            rows: 1000,
            bytes: 10,
        };
        assert!(by_bytes.alert(journal.backlog().unwrap()).is_some());
    }
}
