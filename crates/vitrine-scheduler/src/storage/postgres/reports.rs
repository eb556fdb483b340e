//! [`ReportStore`] on PostgreSQL: plays from `impressions`, scans from `scans`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use vitrine_core::offer::Arm;

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::reports::{OfferCounts, OfferKey, ReportStore};

/// A count from PostgreSQL, which is never negative.
fn from_sql_count(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

/// The screens a report covers: every screen (`$2` NULL), or those of the stores in the array
/// `$2`. `{screen}` is the column naming the screen.
fn screens_of_stores(screen: &str) -> String {
    format!(
        "($2::text[] IS NULL OR {screen} IN (SELECT name FROM screens
            WHERE store = ANY($2::text[])))"
    )
}

/// Completed and partial plays per campaign, offer and arm. `$1` is the campaign or NULL, `$2`
/// the stores or NULL.
fn plays_query() -> String {
    format!(
        "SELECT offer_campaign, offer_id, offer_arm,
                COUNT(*) FILTER (WHERE completed), COUNT(*) FILTER (WHERE NOT completed)
         FROM impressions
         WHERE offer_id IS NOT NULL AND offer_campaign IS NOT NULL AND offer_arm IS NOT NULL
           AND offer_refused IS NULL
           AND ($1::text IS NULL OR offer_campaign = $1::text)
           AND {}
         GROUP BY 1, 2, 3",
        screens_of_stores("screen")
    )
}

/// Scanned plays, devices and hits per campaign, offer and arm, and whether the plays are held:
/// see [`ReportStore::offer_counts`]. `$1` is the campaign or NULL, `$2` the stores or NULL.
fn scan_figures_query() -> String {
    // Each scan with the campaign of the counted play it joins (NULL while there is none)
    // and whether HQ holds its play at all. A held scan is counted under its play's
    // campaign, so it lands in the row of the plays it belongs to; a scan of a play whose
    // offer was refused is neither counted nor pending. The index `impressions_by_play` is made
    // on this very expression of the play's start: `timezone('UTC', …)` makes it a plain
    // timestamp, whose truncation is immutable where a timestamptz's depends on the time zone.
    // `OFFSET 0` keeps the inner query whole, so each scan's play is looked up once rather than
    // once per place the outer query names it.
    let same_play = "impressions.screen = scans.screen
        AND impressions.offer_id = scans.offer
        AND impressions.offer_arm = scans.arm
        AND date_trunc('milliseconds',
                timezone('UTC', COALESCE(impressions.scheduled_start, impressions.started_at)))
            = date_trunc('milliseconds', timezone('UTC', scans.played_at))";
    format!(
        "SELECT COALESCE(play_campaign, campaign), offer, arm, play_campaign IS NOT NULL,
                COUNT(DISTINCT token), COUNT(*) FILTER (WHERE first_of_device), COUNT(*)
         FROM (SELECT scans.token, scans.campaign, scans.offer, scans.arm,
                      scans.first_of_device,
                 (SELECT impressions.offer_campaign FROM impressions
                  WHERE {same_play}
                    AND impressions.offer_campaign IS NOT NULL
                    AND impressions.offer_refused IS NULL
                  LIMIT 1) AS play_campaign,
                 EXISTS (SELECT 1 FROM impressions WHERE {same_play}) AS play_held
               FROM scans WHERE {}
               OFFSET 0) AS scans
         WHERE (play_campaign IS NOT NULL OR NOT play_held)
           AND ($1::text IS NULL OR COALESCE(play_campaign, campaign) = $1::text)
         GROUP BY 1, 2, 3, 4",
        screens_of_stores("scans.screen")
    )
}

#[async_trait::async_trait]
impl ReportStore for PostgresStore {
    /// Both sides of the join are compared to the millisecond, truncated as UTC timestamps.
    async fn offer_counts(
        &self,
        campaign: Option<String>,
        stores: Option<Vec<String>>,
    ) -> Result<BTreeMap<OfferKey, OfferCounts>, StorageError> {
        let client = self.client().await?;
        let mut counts: BTreeMap<OfferKey, OfferCounts> = BTreeMap::new();
        let plays = client.query(&plays_query(), &[&campaign, &stores]).await?;
        for row in plays {
            let arm: String = row.try_get(2)?;
            let arm: Arm = arm.parse().map_err(StorageError::CorruptRow)?;
            let entry = counts
                .entry((row.try_get(0)?, row.try_get(1)?, arm))
                .or_default();
            entry.impressions = from_sql_count(row.try_get(3)?);
            entry.partial_plays = from_sql_count(row.try_get(4)?);
        }
        let scans = client
            .query(&scan_figures_query(), &[&campaign, &stores])
            .await?;
        for row in scans {
            let arm: String = row.try_get(2)?;
            let arm: Arm = arm.parse().map_err(StorageError::CorruptRow)?;
            let entry = counts
                .entry((row.try_get(0)?, row.try_get(1)?, arm))
                .or_default();
            let held: bool = row.try_get(3)?;
            let plays: i64 = row.try_get(4)?;
            if held {
                entry.scans = from_sql_count(plays);
                entry.scan_devices = from_sql_count(row.try_get(5)?);
                entry.scan_hits = from_sql_count(row.try_get(6)?);
            } else {
                entry.pending_scans = from_sql_count(plays);
            }
        }
        Ok(counts)
    }

    async fn recent_offer_plays(
        &self,
        screen: String,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StorageError> {
        // A play appears on screen at or a little after its scheduled start: the actual start
        // narrows the rows (and the partitions), the scheduled start decides.
        let late = jiff::SignedDuration::from_mins(10);
        let started_to = to.checked_add(late).unwrap_or(Timestamp::MAX);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT offer_id, COALESCE(scheduled_start, started_at) AS play_start
                 FROM impressions
                 WHERE screen = $1 AND offer_id IS NOT NULL AND started_at >= $2 AND started_at < $4
                   AND COALESCE(scheduled_start, started_at) >= $2
                   AND COALESCE(scheduled_start, started_at) < $3
                 ORDER BY play_start",
                &[&screen, &from, &to, &started_to],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}
