//! [`ReportStore`] on SQLite: plays from `impressions`, scans from `scans`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rusqlite::params;
use vitrine_core::offer::Arm;

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::reports::{OfferCounts, OfferKey, ReportStore};
use crate::storage::sortable_timestamp;

/// A count from SQLite, which is never negative.
fn from_sql_count(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

/// The screens a report covers: every screen (`?2` NULL), or those of the stores in the JSON
/// array `?2`. `{screen}` is the column naming the screen.
fn screens_of_stores(screen: &str) -> String {
    format!(
        "(?2 IS NULL OR {screen} IN (SELECT name FROM screens
            WHERE store IN (SELECT value FROM json_each(?2))))"
    )
}

/// Scanned plays, devices and hits per campaign, offer and arm, and whether the plays are held:
/// see [`ReportStore::offer_counts`]. `?1` is the campaign or NULL, `?2` the stores or NULL.
fn scan_figures_query() -> String {
    // Each scan with the campaign of the counted play it joins (NULL while there is none)
    // and whether HQ holds its play at all. A held scan is counted under its play's
    // campaign, so it lands in the row of the plays it belongs to; a scan of a play whose
    // offer was refused is neither counted nor pending. The index `impressions_by_play` is made
    // on this very expression of the play's start.
    let same_play = "impressions.screen = scans.screen
        AND impressions.offer_id = scans.offer
        AND impressions.offer_arm = scans.arm
        AND substr(COALESCE(impressions.scheduled_start, impressions.started_at), 1, 23)
            = substr(scans.played_at, 1, 23)";
    format!(
        "SELECT COALESCE(play_campaign, campaign), offer, arm, play_campaign IS NOT NULL,
                COUNT(DISTINCT token), SUM(first_of_device), COUNT(*)
         FROM (SELECT scans.*,
                 (SELECT impressions.offer_campaign FROM impressions
                  WHERE {same_play}
                    AND impressions.offer_campaign IS NOT NULL
                    AND impressions.offer_refused IS NULL
                  LIMIT 1) AS play_campaign,
                 EXISTS (SELECT 1 FROM impressions WHERE {same_play}) AS play_held
               FROM scans WHERE {})
         WHERE (play_campaign IS NOT NULL OR NOT play_held)
           AND (?1 IS NULL OR COALESCE(play_campaign, campaign) = ?1)
         GROUP BY 1, 2, 3, 4",
        screens_of_stores("scans.screen")
    )
}

#[async_trait::async_trait]
impl ReportStore for SqliteStore {
    /// Both sides of the join are compared to the millisecond as the first 23 characters of
    /// their fixed-width timestamps (see [`sortable_timestamp`]).
    async fn offer_counts(
        &self,
        campaign: Option<String>,
        stores: Option<Vec<String>>,
    ) -> Result<BTreeMap<OfferKey, OfferCounts>, StorageError> {
        let stores = stores.map(|stores| serde_json::Value::from(stores).to_string());
        self.interact(move |connection| {
            let mut counts: BTreeMap<OfferKey, OfferCounts> = BTreeMap::new();
            let plays = format!(
                "SELECT offer_campaign, offer_id, offer_arm, SUM(completed), SUM(1 - completed)
                 FROM impressions
                 WHERE offer_id IS NOT NULL AND offer_campaign IS NOT NULL AND offer_arm IS NOT NULL
                   AND offer_refused IS NULL
                   AND (?1 IS NULL OR offer_campaign = ?1)
                   AND {}
                 GROUP BY 1, 2, 3",
                screens_of_stores("screen")
            );
            let mut statement = connection.prepare(&plays)?;
            let rows = statement
                .query_map(params![campaign, stores], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (campaign, offer, arm, completed, partial) in rows {
                let arm: Arm = arm.parse().map_err(StorageError::CorruptRow)?;
                let entry = counts.entry((campaign, offer, arm)).or_default();
                entry.impressions = from_sql_count(completed);
                entry.partial_plays = from_sql_count(partial);
            }
            let mut statement = connection.prepare(&scan_figures_query())?;
            let rows = statement
                .query_map(params![campaign, stores], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, bool>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, i64>(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (campaign, offer, arm, held, plays, devices, hits) in rows {
                let arm: Arm = arm.parse().map_err(StorageError::CorruptRow)?;
                let entry = counts.entry((campaign, offer, arm)).or_default();
                if held {
                    entry.scans = from_sql_count(plays);
                    entry.scan_devices = from_sql_count(devices);
                    entry.scan_hits = from_sql_count(hits);
                } else {
                    entry.pending_scans = from_sql_count(plays);
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn recent_offer_plays(
        &self,
        screen: String,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StorageError> {
        // A play appears on screen at or a little after its scheduled start: the index on the
        // actual start narrows the rows, the scheduled start decides.
        let late = jiff::SignedDuration::from_mins(10);
        let started_to = to.checked_add(late).unwrap_or(Timestamp::MAX);
        self.interact(move |connection| {
            let mut statement = connection.prepare(
                "SELECT offer_id, COALESCE(scheduled_start, started_at) AS play_start
                 FROM impressions
                 WHERE screen = ?1 AND offer_id IS NOT NULL AND started_at >= ?2 AND started_at < ?4
                   AND COALESCE(scheduled_start, started_at) >= ?2
                   AND COALESCE(scheduled_start, started_at) < ?3
                 ORDER BY play_start",
            )?;
            let rows = statement
                .query_map(
                    params![
                        screen,
                        sortable_timestamp(from),
                        sortable_timestamp(to),
                        sortable_timestamp(started_to)
                    ],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(offer, started_at)| {
                    let started_at = started_at.parse().map_err(|error| {
                        StorageError::CorruptRow(format!("started_at: {error}"))
                    })?;
                    Ok((offer, started_at))
                })
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_finds_its_play_through_the_index() {
        let mut connection = rusqlite::Connection::open_in_memory().expect("a database");
        rusqlite_migration::Migrations::from_slice(crate::storage::sqlite::MIGRATIONS)
            .to_latest(&mut connection)
            .expect("migrations");
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {}", scan_figures_query()))
            .expect("the query");
        let plan: Vec<String> = statement
            .query_map(params![None::<String>, None::<String>], |row| row.get(3))
            .expect("a plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX impressions_by_play")),
            "{plan:#?}"
        );
    }
}
