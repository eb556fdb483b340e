//! [`PlayStore`] on PostgreSQL: `screen_audience`, the rollups (`play_rollups`,
//! `play_rollups_daily`) and the raw plays in `impressions`.

use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::storage::plays::{
    AudienceRow, ChainDay, Dim, Figures, PlayLogPage, PlayLogRow, PlayStore, RollupKey,
    RollupQuery, RollupRow, daily_deltas, known_sql, store_condition,
};
use crate::storage::{StorageError, from_sql_integer};

const ADD_HOURLY: &str = "
    INSERT INTO play_rollups AS r (local_hour, screen, store, zone, playlist, item_id, creative,
        campaign, offer, arm, venue_zone, plays, completed, delivered, display_off, play_ms,
        impressions_milli, scanned)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[])
    ON CONFLICT (local_hour, screen, store, zone, playlist, item_id, creative, campaign, offer,
                 arm, venue_zone)
    DO UPDATE SET plays = r.plays + excluded.plays, completed = r.completed + excluded.completed,
        delivered = r.delivered + excluded.delivered,
        display_off = r.display_off + excluded.display_off,
        play_ms = r.play_ms + excluded.play_ms,
        impressions_milli = r.impressions_milli + excluded.impressions_milli,
        scanned = r.scanned + excluded.scanned";

const ADD_DAILY: &str = "
    INSERT INTO play_rollups_daily AS r (local_day, screen, store, zone, campaign, offer, arm,
        venue_zone, plays, completed, delivered, display_off, play_ms, impressions_milli, scanned)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[])
    ON CONFLICT (local_day, screen, store, zone, campaign, offer, arm, venue_zone)
    DO UPDATE SET plays = r.plays + excluded.plays, completed = r.completed + excluded.completed,
        delivered = r.delivered + excluded.delivered,
        display_off = r.display_off + excluded.display_off,
        play_ms = r.play_ms + excluded.play_ms,
        impressions_milli = r.impressions_milli + excluded.impressions_milli,
        scanned = r.scanned + excluded.scanned";

/// The seven figures as one column each.
#[derive(Default)]
struct Measures([Vec<i64>; 7]);

impl Measures {
    fn push(&mut self, figures: &Figures) -> Result<(), StorageError> {
        for (column, value) in self.0.iter_mut().zip(figures.to_columns()?) {
            column.push(value);
        }
        Ok(())
    }
}

/// Adds `deltas` to the hourly rollups and the daily ones, inside the caller's transaction. The
/// rows are taken in key order, hourly before daily, so concurrent batches never deadlock.
pub(super) async fn add_to_rollups(
    transaction: &deadpool_postgres::Transaction<'_>,
    deltas: &[(RollupKey, Figures)],
) -> Result<(), StorageError> {
    let mut keys: [Vec<String>; 11] = Default::default();
    let mut measures = Measures::default();
    for (key, figures) in deltas {
        let values = [
            &key.local_hour,
            &key.screen,
            &key.store,
            &key.zone,
            &key.playlist,
            &key.item_id,
            &key.creative,
            &key.campaign,
            &key.offer,
            &key.arm,
            &key.venue_zone,
        ];
        for (column, value) in keys.iter_mut().zip(values) {
            column.push(value.clone());
        }
        measures.push(figures)?;
    }
    let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for column in &keys {
        parameters.push(column);
    }
    for column in &measures.0 {
        parameters.push(column);
    }
    transaction.execute(ADD_HOURLY, &parameters).await?;

    let daily = daily_deltas(deltas);
    let mut keys: [Vec<String>; 8] = Default::default();
    let mut measures = Measures::default();
    for (key, figures) in &daily {
        let values = [
            &key.local_day,
            &key.screen,
            &key.store,
            &key.zone,
            &key.campaign,
            &key.offer,
            &key.arm,
            &key.venue_zone,
        ];
        for (column, value) in keys.iter_mut().zip(values) {
            column.push(value.clone());
        }
        measures.push(figures)?;
    }
    let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for column in &keys {
        parameters.push(column);
    }
    for column in &measures.0 {
        parameters.push(column);
    }
    transaction.execute(ADD_DAILY, &parameters).await?;
    Ok(())
}

/// Counts the first scan of a held play in its rollup rows: the play with this screen, offer,
/// arm and scheduled start (to the millisecond), if HQ holds it and counted its offer.
pub(super) async fn count_scanned_play(
    transaction: &deadpool_postgres::Transaction<'_>,
    screen: &str,
    offer: &str,
    arm: &str,
    played_at: jiff::Timestamp,
) -> Result<(), StorageError> {
    let row = transaction
        .query_opt(
            "SELECT local_hour, screen, store, zone, playlist, item_id,
                    COALESCE(media_sha256, ''), campaign, offer_id, offer_arm, venue_zone
             FROM impressions
             WHERE screen = $1 AND offer_id = $2 AND offer_arm = $3
               AND date_trunc('milliseconds',
                              timezone('UTC', COALESCE(scheduled_start, started_at)))
                   = date_trunc('milliseconds', timezone('UTC', $4::timestamptz))
               AND offer_refused IS NULL
             LIMIT 1",
            &[&screen, &offer, &arm, &played_at],
        )
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let key = RollupKey {
        local_hour: row.try_get(0)?,
        screen: row.try_get(1)?,
        store: row.try_get(2)?,
        zone: row.try_get(3)?,
        playlist: row.try_get(4)?,
        item_id: row.try_get(5)?,
        creative: row.try_get(6)?,
        campaign: row.try_get(7)?,
        offer: row.try_get(8)?,
        arm: row.try_get(9)?,
        venue_zone: row.try_get(10)?,
    };
    let scanned = Figures {
        scanned: 1,
        ..Figures::default()
    };
    add_to_rollups(transaction, &[(key, scanned)]).await
}

fn placeholder(index: usize) -> String {
    format!("${index}")
}

fn as_parameters(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

#[async_trait::async_trait]
impl PlayStore for PostgresStore {
    async fn set_audiences(&self, rows: Vec<AudienceRow>) -> Result<u64, StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO screen_audience (screen, zone, venue_zone, multiplier_milli, source)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (screen, zone) DO UPDATE SET venue_zone = excluded.venue_zone,
                     multiplier_milli = excluded.multiplier_milli, source = excluded.source,
                     updated_at = now()",
            )
            .await?;
        let mut written = 0;
        for row in &rows {
            written += transaction
                .execute(
                    &upsert,
                    &[
                        &row.screen,
                        &row.zone,
                        &row.venue_zone,
                        &row.multiplier_milli,
                        &row.source,
                    ],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(written)
    }

    async fn audiences(&self, screen: Option<String>) -> Result<Vec<AudienceRow>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT screen, zone, venue_zone, multiplier_milli, source FROM screen_audience
                 WHERE $1::text IS NULL OR screen = $1
                 ORDER BY screen, zone",
                &[&screen],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AudienceRow {
                    screen: row.try_get(0)?,
                    zone: row.try_get(1)?,
                    venue_zone: row.try_get(2)?,
                    multiplier_milli: row.try_get(3)?,
                    source: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn rollup(&self, query: RollupQuery) -> Result<Vec<RollupRow>, StorageError> {
        let (sql, parameters) = query.sql(placeholder);
        let width = query.dims.len();
        let client = self.client().await?;
        let rows = client.query(&sql, &as_parameters(&parameters)).await?;
        rows.iter()
            .map(|row| {
                let mut values = Vec::with_capacity(width);
                for index in 0..width {
                    values.push(row.try_get::<_, String>(index)?);
                }
                let mut numbers = [None; 7];
                for (offset, number) in numbers.iter_mut().enumerate() {
                    *number = row.try_get::<_, Option<i64>>(width + offset)?;
                }
                Ok(RollupRow {
                    values,
                    figures: Figures::from_columns(numbers)?,
                })
            })
            .collect()
    }

    async fn rollups_know(&self, dim: Dim, value: String) -> Result<bool, StorageError> {
        let Some(sql) = known_sql(dim) else {
            return Ok(true);
        };
        let client = self.client().await?;
        Ok(client.query_one(sql, &[&value]).await?.try_get(0)?)
    }

    async fn play_log(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<PlayLogPage, StorageError> {
        // One row-value lower bound, which the index (local_hour, id) seeks to: the page after
        // `after`, or from the first hour (every id sorts after the empty text). With a
        // second bound on the hour beside it, SQLite would scan the hour from its start.
        let (start_hour, start_id) = after.unwrap_or((from_hour, String::new()));
        let mut parameters = vec![start_hour, start_id, to_hour];
        let mut sql = String::from(
            "SELECT id, sequence, screen, store, venue_zone, zone, playlist, playlist_version,
                    item_id, campaign,
                    CASE WHEN offer_refused IS NULL THEN COALESCE(offer_id, '') ELSE '' END,
                    CASE WHEN offer_refused IS NULL THEN COALESCE(offer_arm, '') ELSE '' END,
                    COALESCE(media_sha256, ''), COALESCE(scheduled_start, started_at),
                    scheduled_end, started_at,
                    COALESCE(ended_at, started_at + duration_ms * interval '1 millisecond'),
                    duration_ms, completed, display, clock, manifest_version, player_version,
                    price_cents, currency, multiplier_milli, chain, local_hour, stock
             FROM impressions
                 WHERE (local_hour, id) > ($1, $2) AND local_hour < $3",
        );
        sql.push_str(&store_condition(
            &stores,
            &mut parameters,
            "store",
            placeholder,
        ));
        sql.push_str(&format!(" ORDER BY local_hour, id LIMIT {limit}"));
        let client = self.client().await?;
        let found = client.query(&sql, &as_parameters(&parameters)).await?;
        let rows = found
            .iter()
            .map(|row| {
                let completed: bool = row.try_get(18)?;
                let display: String = row.try_get(19)?;
                let delivered = completed && display != "off";
                let multiplier = row.try_get::<_, i64>(25)? as f64 / 1000.0;
                Ok(PlayLogRow {
                    play_id: row.try_get(0)?,
                    sequence: from_sql_integer(row.try_get(1)?, "sequence")?,
                    screen: row.try_get(2)?,
                    store: row.try_get(3)?,
                    venue_zone: row.try_get(4)?,
                    zone: row.try_get(5)?,
                    playlist: row.try_get(6)?,
                    playlist_version: from_sql_integer(row.try_get(7)?, "playlist_version")?,
                    item_id: row.try_get(8)?,
                    campaign: row.try_get(9)?,
                    offer: row.try_get(10)?,
                    arm: row.try_get(11)?,
                    creative: row.try_get(12)?,
                    scheduled_start: row.try_get(13)?,
                    scheduled_end: row.try_get(14)?,
                    started_at: row.try_get(15)?,
                    ended_at: row.try_get(16)?,
                    duration_ms: from_sql_integer(row.try_get(17)?, "duration_ms")?,
                    completed,
                    display,
                    delivered,
                    clock: row.try_get(20)?,
                    manifest_version: from_sql_integer(row.try_get(21)?, "manifest_version")?,
                    player_version: row.try_get(22)?,
                    price_cents: row.try_get(23)?,
                    currency: row.try_get(24)?,
                    stock: row.try_get(28)?,
                    audience_multiplier: multiplier,
                    gross_impressions: if delivered { multiplier } else { 0.0 },
                    chain: row.try_get(26)?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let next = match (rows.len() == limit, found.last(), rows.last()) {
            (true, Some(last), Some(row)) => Some((last.try_get(27)?, row.play_id.clone())),
            _ => None,
        };
        Ok(PlayLogPage { rows, next })
    }

    async fn chain_days(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
    ) -> Result<Vec<ChainDay>, StorageError> {
        let mut parameters = vec![from_hour, to_hour];
        let mut sql = String::from(
            "SELECT screen, substr(local_hour, 1, 10), COUNT(*),
                    COUNT(*) FILTER (WHERE chain = 'linked'),
                    COUNT(*) FILTER (WHERE chain = 'broken'),
                    COUNT(*) FILTER (WHERE chain = 'restart'),
                    COUNT(*) FILTER (WHERE chain = 'pending'),
                    COUNT(*) FILTER (WHERE chain = 'none'),
                    MIN(CASE WHEN chain IN ('broken', 'restart')
                             THEN lpad(sequence::text, 20, '0') || ' ' || chain END)
             FROM impressions WHERE local_hour >= $1 AND local_hour < $2",
        );
        sql.push_str(&store_condition(
            &stores,
            &mut parameters,
            "store",
            placeholder,
        ));
        sql.push_str(" GROUP BY 1, 2 ORDER BY 1, 2");
        let client = self.client().await?;
        let rows = client.query(&sql, &as_parameters(&parameters)).await?;
        rows.iter()
            .map(|row| {
                let mut counts = [0i64; 6];
                for (offset, count) in counts.iter_mut().enumerate() {
                    *count = row.try_get(2 + offset)?;
                }
                crate::storage::plays::chain_day(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    counts,
                    row.try_get(8)?,
                )
            })
            .collect()
    }

    async fn prune_plays(&self, before_hour: String) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let mut removed = 0;
        loop {
            // In slices, so that ingest is never held up for long behind a large prune. The ids
            // stay in `impression_ids`, so a re-sent batch is still recognised.
            let count = client
                .execute(
                    "DELETE FROM impressions WHERE (id, started_at) IN (
                         SELECT id, started_at FROM impressions WHERE local_hour < $1
                         LIMIT 10000)",
                    &[&before_hour],
                )
                .await?;
            removed += count;
            if count < 10_000 {
                break;
            }
        }
        Ok(removed)
    }
}
