//! The proof-of-play journal: every impression is committed here before it counts as played, and
//! leaves only when the scheduler has acknowledged it.
//!
//! The records form a hash chain: each carries the digest of the one committed before it
//! ([`Impression::previous`]), so HQ can tell when a record was removed or altered after the fact.
//! The chain's head lives in a table of its own (`journal_chain`), so that pruning sent rows never
//! loses the link the next record needs.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;
use vitrine_core::{Impression, Sha256Hex};

pub struct Journal {
    connection: Connection,
}

impl Journal {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            connection: crate::database::open(data_dir)?,
        })
    }

    /// Commits one impression and returns its sequence number, all in one transaction: the
    /// journal's `AUTOINCREMENT` key (which SQLite never hands out twice in one database, even
    /// after the rows are gone) becomes the record's `sequence`, the digest of the record committed
    /// just before it becomes its `previous`, and the body stored is the record exactly as it will
    /// be uploaded, so the body's digest is the link the next record carries. That link (sequence
    /// and digest) is kept as the chain head in `journal_chain`.
    ///
    /// `previous` is left out when this database holds no record numbered one less: the first
    /// record of a new journal, and the first after [`Journal::continue_after`] moved the numbers
    /// past what this database holds (HQ reports either as the chain starting again). Recording
    /// the same id twice is harmless: it keeps the first number and leaves the chain as it was.
    pub fn record(&self, impression: &Impression) -> anyhow::Result<u64> {
        let id = impression.id.to_string();
        // Immediate, so that no other connection (the uploader's) writes between reading the
        // chain head and moving it.
        let transaction =
            Transaction::new_unchecked(&self.connection, TransactionBehavior::Immediate)?;
        let known: Option<i64> = transaction
            .query_row(
                "SELECT sequence FROM journal WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(sequence) = known {
            // Nothing was written; dropping the transaction rolls back nothing.
            return Ok(sequence.unsigned_abs());
        }
        // The row first, so that SQLite hands out the number; its body follows once the number
        // and the link are in it.
        transaction.execute(
            "INSERT INTO journal (id, body) VALUES (?1, '')",
            params![id],
        )?;
        let sequence = transaction.last_insert_rowid();
        let head: Option<(i64, String)> = transaction
            .query_row(
                "SELECT sequence, digest FROM journal_chain WHERE slot = 0",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let mut chained = impression.clone();
        chained.sequence = sequence.unsigned_abs();
        chained.previous = match head {
            Some((head_sequence, digest)) if head_sequence.checked_add(1) == Some(sequence) => {
                // A damaged head must not stop plays being journalled: the chain starts again,
                // which HQ reports, rather than the player retrying this record for ever.
                digest
                    .parse::<Sha256Hex>()
                    .inspect_err(|error| {
                        tracing::error!(
                            "the journal's chain head is damaged, the chain starts again: {error}"
                        )
                    })
                    .ok()
            }
            _ => None,
        };
        let body = serde_json::to_string(&chained)?;
        // What `Impression::digest` computes: the sha256 of these very bytes.
        let digest = Sha256Hex::of_bytes(body.as_bytes());
        transaction.execute(
            "UPDATE journal SET body = ?2 WHERE sequence = ?1",
            params![sequence, body],
        )?;
        transaction.execute(
            "INSERT INTO journal_chain (slot, sequence, digest) VALUES (0, ?1, ?2)
             ON CONFLICT (slot) DO UPDATE SET sequence = excluded.sequence, digest = excluded.digest",
            params![sequence, digest.as_str()],
        )?;
        transaction.commit()?;
        Ok(sequence.unsigned_abs())
    }

    /// The oldest impressions the scheduler has not acknowledged, at most `limit`, each exactly as
    /// the journal stored it: its digest is the `previous` of the record after it.
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
                // The body carries its row's number. Rows written before the journal chained its
                // records hold 0 there; they have no link to keep, and take the row's number.
                impression.sequence = sequence.unsigned_abs();
                Ok(impression)
            })
            .collect()
    }

    /// Makes the next sequence number follow `highest`, the highest number HQ holds for this
    /// screen. It matters only when this database was lost and made anew: without it, new plays
    /// would reuse numbers HQ already holds. The next record then has no `previous` (this
    /// database holds no record numbered one less), and the chain starts again from it.
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

    /// `impression` as the journal stores it: numbered, and linked to `previous`.
    fn chained(
        mut impression: Impression,
        sequence: u64,
        previous: Option<&Impression>,
    ) -> Impression {
        impression.sequence = sequence;
        impression.previous = previous.map(Impression::digest);
        impression
    }

    /// Asserts that each record links to the one before it, and returns their digests.
    fn assert_linked(records: &[Impression]) -> Vec<Sha256Hex> {
        for pair in records.windows(2) {
            assert_eq!(pair[1].sequence, pair[0].sequence + 1, "{pair:#?}");
            assert_eq!(pair[1].previous, Some(pair[0].digest()), "{pair:#?}");
        }
        records.iter().map(Impression::digest).collect()
    }

    fn chain_head(journal: &Journal) -> (i64, String) {
        journal
            .connection
            .query_row(
                "SELECT sequence, digest FROM journal_chain WHERE slot = 0",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
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
        let first = chained(first, 1, None);
        let second = chained(second, 2, Some(&first));
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

    #[test]
    fn records_chain_across_a_reopen_of_the_journal() {
        let directory = tempfile::tempdir().unwrap();
        let (first, second, third) = (impression(), impression(), impression());
        {
            let journal = Journal::open(directory.path()).unwrap();
            journal.record(&first).unwrap();
            journal.record(&second).unwrap();
        }
        let journal = Journal::open(directory.path()).unwrap();
        assert_eq!(journal.record(&third).unwrap(), 3);
        let records = journal.unsent(10).unwrap();
        let first = chained(first, 1, None);
        let second = chained(second, 2, Some(&first));
        let third = chained(third, 3, Some(&second));
        assert_eq!(records, vec![first, second, third.clone()]);
        let digests = assert_linked(&records);
        assert_eq!(
            records[0].previous, None,
            "the first record starts the chain"
        );
        assert_eq!(chain_head(&journal), (3, digests[2].to_string()));
        // What is stored is what is uploaded: the body already holds its number and its link, so
        // its bytes digest to the record's digest.
        let body: String = journal
            .connection
            .query_row("SELECT body FROM journal WHERE sequence = 3", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(Sha256Hex::of_bytes(body.as_bytes()), third.digest());
        // And what the scheduler decodes from the batch digests the same.
        let batch = serde_json::to_vec(&vitrine_core::ImpressionBatch {
            impressions: records.clone(),
        })
        .unwrap();
        let decoded = vitrine_core::ImpressionBatch::decode(&batch).unwrap();
        assert_eq!(assert_linked(&decoded.impressions), digests);
    }

    #[test]
    fn pruning_sent_plays_does_not_break_the_next_link() {
        let directory = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(directory.path()).unwrap();
        let (first, second) = (impression(), impression());
        journal.record(&first).unwrap();
        journal.record(&second).unwrap();
        let sent = journal.unsent(10).unwrap();
        journal.mark_sent(&[first.id, second.id]).unwrap();
        let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
        assert_eq!(journal.prune_sent(tomorrow).unwrap(), 2);
        assert_eq!(journal.unsent_count().unwrap(), 0);
        drop(journal);

        let journal = Journal::open(directory.path()).unwrap();
        assert_eq!(journal.record(&impression()).unwrap(), 3);
        let next = journal.unsent(10).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].previous, Some(sent[1].digest()));
    }

    #[test]
    fn a_duplicate_id_keeps_its_number_and_does_not_advance_the_chain() {
        let directory = tempfile::tempdir().unwrap();
        let journal = Journal::open(directory.path()).unwrap();
        let (first, second) = (impression(), impression());
        journal.record(&first).unwrap();
        journal.record(&second).unwrap();
        let head = chain_head(&journal);
        assert_eq!(journal.record(&first).unwrap(), 1);
        assert_eq!(journal.record(&second).unwrap(), 2);
        assert_eq!(
            chain_head(&journal),
            head,
            "a repeat leaves the head as it was"
        );
        assert_eq!(journal.record(&impression()).unwrap(), 3);
        let records = journal.unsent(10).unwrap();
        assert_eq!(records.len(), 3);
        assert_linked(&records);
    }

    #[test]
    fn a_record_edited_in_the_database_no_longer_links() {
        let directory = tempfile::tempdir().unwrap();
        let journal = Journal::open(directory.path()).unwrap();
        for _ in 0..3 {
            journal.record(&impression()).unwrap();
        }
        assert_linked(&journal.unsent(10).unwrap());
        // Someone with the file marks the second play as not completed (or anything else).
        journal
            .connection
            .execute(
                "UPDATE journal SET body = json_set(body, '$.completed', json('false'))
                 WHERE sequence = 2",
                [],
            )
            .unwrap();
        let records = journal.unsent(10).unwrap();
        assert!(!records[1].completed);
        assert_eq!(
            records[1].previous,
            Some(records[0].digest()),
            "before it holds"
        );
        assert_ne!(
            records[2].previous,
            Some(records[1].digest()),
            "the edited record no longer matches the next one's link"
        );
    }

    #[test]
    fn a_journal_made_anew_starts_the_chain_again_after_what_hq_holds() {
        let directory = tempfile::tempdir().unwrap();
        let journal = Journal::open(directory.path()).unwrap();
        journal.continue_after(41).unwrap();
        journal.record(&impression()).unwrap();
        journal.record(&impression()).unwrap();
        let records = journal.unsent(10).unwrap();
        assert_eq!(records[0].sequence, 42);
        assert_eq!(
            records[0].previous, None,
            "HQ holds 41 from another journal"
        );
        assert_linked(&records);

        // A jump past the records this database holds starts the chain again as well.
        journal.continue_after(50).unwrap();
        journal.record(&impression()).unwrap();
        let jumped = journal.unsent(10).unwrap().pop().unwrap();
        assert_eq!((jumped.sequence, jumped.previous), (51, None));
    }

    #[test]
    fn rows_written_before_the_chain_are_sent_with_their_number_and_unlinked() {
        let directory = tempfile::tempdir().unwrap();
        let journal = Journal::open(directory.path()).unwrap();
        // As an earlier player stored it: the body numbered 0, the number in the row alone.
        journal
            .connection
            .execute(
                "INSERT INTO journal (id, body) VALUES (?1, ?2)",
                params![
                    Uuid::now_v7().to_string(),
                    serde_json::to_string(&impression()).unwrap()
                ],
            )
            .unwrap();
        journal.record(&impression()).unwrap();
        let records = journal.unsent(10).unwrap();
        assert_eq!(records[0].sequence, 1);
        assert_eq!(records[1].sequence, 2);
        assert_eq!(
            records[1].previous, None,
            "nothing links to an unchained row"
        );
    }
}
