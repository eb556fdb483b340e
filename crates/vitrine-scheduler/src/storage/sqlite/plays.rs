//! [`PlayStore`] on SQLite: `screen_audience`, the rollups (`play_rollups`,
//! `play_rollups_daily`) and the raw plays in `impressions`.

use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};

use super::{SqliteStore, from_sql_integer};
use crate::storage::StorageError;
use crate::storage::plays::{
    AudienceRow, ChainDay, DailyKey, Dim, Figures, PlayLogPage, PlayLogRow, PlayStore, RollupKey,
    RollupQuery, RollupRow, daily_deltas, known_sql, store_condition,
};

/// Adds `deltas` to the hourly rollups and the daily ones, inside the caller's transaction.
pub(super) fn add_to_rollups(
    connection: &Connection,
    deltas: &[(RollupKey, Figures)],
) -> Result<(), StorageError> {
    let mut hourly = connection.prepare_cached(
        "INSERT INTO play_rollups (local_hour, screen, store, zone, playlist, item_id, creative,
             campaign, offer, arm, venue_zone, plays, completed, delivered, display_off, play_ms,
             impressions_milli, scanned)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (local_hour, screen, store, zone, playlist, item_id, creative, campaign,
                      offer, arm, venue_zone)
         DO UPDATE SET plays = plays + excluded.plays, completed = completed + excluded.completed,
             delivered = delivered + excluded.delivered,
             display_off = display_off + excluded.display_off,
             play_ms = play_ms + excluded.play_ms,
             impressions_milli = impressions_milli + excluded.impressions_milli,
             scanned = scanned + excluded.scanned",
    )?;
    for (key, figures) in deltas {
        let measures = figures.to_columns()?;
        hourly.execute(params![
            key.local_hour,
            key.screen,
            key.store,
            key.zone,
            key.playlist,
            key.item_id,
            key.creative,
            key.campaign,
            key.offer,
            key.arm,
            key.venue_zone,
            measures[0],
            measures[1],
            measures[2],
            measures[3],
            measures[4],
            measures[5],
            measures[6],
        ])?;
    }
    add_to_daily(connection, &daily_deltas(deltas))
}

fn add_to_daily(
    connection: &Connection,
    deltas: &[(DailyKey, Figures)],
) -> Result<(), StorageError> {
    let mut daily = connection.prepare_cached(
        "INSERT INTO play_rollups_daily (local_day, screen, store, zone, campaign, offer, arm,
             venue_zone, plays, completed, delivered, display_off, play_ms, impressions_milli,
             scanned)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (local_day, screen, store, zone, campaign, offer, arm, venue_zone)
         DO UPDATE SET plays = plays + excluded.plays, completed = completed + excluded.completed,
             delivered = delivered + excluded.delivered,
             display_off = display_off + excluded.display_off,
             play_ms = play_ms + excluded.play_ms,
             impressions_milli = impressions_milli + excluded.impressions_milli,
             scanned = scanned + excluded.scanned",
    )?;
    for (key, figures) in deltas {
        let measures = figures.to_columns()?;
        daily.execute(params![
            key.local_day,
            key.screen,
            key.store,
            key.zone,
            key.campaign,
            key.offer,
            key.arm,
            key.venue_zone,
            measures[0],
            measures[1],
            measures[2],
            measures[3],
            measures[4],
            measures[5],
            measures[6],
        ])?;
    }
    Ok(())
}

/// Counts the first scan of a held play in its rollup rows: the play with this screen, offer,
/// arm and scheduled start (to the millisecond), if HQ holds it and counted its offer.
pub(super) fn count_scanned_play(
    connection: &Connection,
    screen: &str,
    offer: &str,
    arm: &str,
    played_at: &str,
) -> Result<(), StorageError> {
    let key = connection
        .prepare_cached(
            "SELECT local_hour, screen, store, zone, playlist, item_id,
                    COALESCE(media_sha256, ''), campaign, offer_id, offer_arm, venue_zone
             FROM impressions
             WHERE screen = ?1 AND offer_id = ?2 AND offer_arm = ?3
               AND substr(COALESCE(scheduled_start, started_at), 1, 23) = substr(?4, 1, 23)
               AND offer_refused IS NULL
             LIMIT 1",
        )?
        .query_row(params![screen, offer, arm, played_at], |row| {
            Ok(RollupKey {
                local_hour: row.get(0)?,
                screen: row.get(1)?,
                store: row.get(2)?,
                zone: row.get(3)?,
                playlist: row.get(4)?,
                item_id: row.get(5)?,
                creative: row.get(6)?,
                campaign: row.get(7)?,
                offer: row.get(8)?,
                arm: row.get(9)?,
                venue_zone: row.get(10)?,
            })
        });
    let key = match key {
        Ok(key) => key,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let scanned = Figures {
        scanned: 1,
        ..Figures::default()
    };
    add_to_rollups(connection, &[(key, scanned)])
}

/// The parameters' placeholders, `?1` on.
fn placeholder(index: usize) -> String {
    format!("?{index}")
}

#[async_trait::async_trait]
impl PlayStore for SqliteStore {
    async fn set_audiences(&self, rows: Vec<AudienceRow>) -> Result<u64, StorageError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut written = 0;
            {
                let mut upsert = transaction.prepare_cached(
                    "INSERT INTO screen_audience (screen, zone, venue_zone, multiplier_milli,
                         source)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (screen, zone) DO UPDATE SET venue_zone = excluded.venue_zone,
                         multiplier_milli = excluded.multiplier_milli, source = excluded.source,
                         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )?;
                for row in &rows {
                    written += upsert.execute(params![
                        row.screen,
                        row.zone,
                        row.venue_zone,
                        row.multiplier_milli,
                        row.source
                    ])? as u64;
                }
            }
            transaction.commit()?;
            Ok(written)
        })
        .await
    }

    async fn audiences(&self, screen: Option<String>) -> Result<Vec<AudienceRow>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT screen, zone, venue_zone, multiplier_milli, source FROM screen_audience
                 WHERE ?1 IS NULL OR screen = ?1
                 ORDER BY screen, zone",
            )?;
            let rows = statement
                .query_map([screen], |row| {
                    Ok(AudienceRow {
                        screen: row.get(0)?,
                        zone: row.get(1)?,
                        venue_zone: row.get(2)?,
                        multiplier_milli: row.get(3)?,
                        source: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn rollup(&self, query: RollupQuery) -> Result<Vec<RollupRow>, StorageError> {
        let (sql, parameters) = query.sql(placeholder);
        let width = query.dims.len();
        self.interact(move |connection| {
            let mut statement = connection.prepare(&sql)?;
            let rows = statement
                .query_map(params_from_iter(parameters.iter()), |row| {
                    let mut values = Vec::with_capacity(width);
                    for index in 0..width {
                        values.push(row.get::<_, String>(index)?);
                    }
                    let mut numbers = [None; 7];
                    for (offset, number) in numbers.iter_mut().enumerate() {
                        *number = row.get::<_, Option<i64>>(width + offset)?;
                    }
                    Ok((values, numbers))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(values, numbers)| {
                    Ok(RollupRow {
                        values,
                        figures: Figures::from_columns(numbers)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn rollups_know(&self, dim: Dim, value: String) -> Result<bool, StorageError> {
        let Some(sql) = known_sql(dim) else {
            return Ok(true);
        };
        self.interact(move |connection| {
            Ok(connection.query_row(sql, [value], |row| row.get::<_, bool>(0))?)
        })
        .await
    }

    async fn play_log(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<PlayLogPage, StorageError> {
        self.interact(move |connection| {
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
                        scheduled_end, started_at, ended_at, duration_ms, completed, display,
                        clock, manifest_version, player_version, price_cents, currency,
                        multiplier_milli, chain, local_hour, stock
                 FROM impressions
                 WHERE (local_hour, id) > (?1, ?2) AND local_hour < ?3",
            );
            sql.push_str(&store_condition(
                &stores,
                &mut parameters,
                "store",
                placeholder,
            ));
            sql.push_str(&format!(" ORDER BY local_hour, id LIMIT {limit}"));
            let mut statement = connection.prepare_cached(&sql)?;
            let mut last_hour = None;
            let rows = statement
                .query_map(params_from_iter(parameters.iter()), |row| {
                    last_hour = Some(row.get::<_, String>(27)?);
                    read_log_row(row)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let rows = rows.into_iter().collect::<Result<Vec<_>, StorageError>>()?;
            let next = match (rows.len() == limit, last_hour, rows.last()) {
                (true, Some(hour), Some(row)) => Some((hour, row.play_id.clone())),
                _ => None,
            };
            Ok(PlayLogPage { rows, next })
        })
        .await
    }

    async fn chain_days(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
    ) -> Result<Vec<ChainDay>, StorageError> {
        self.interact(move |connection| {
            let mut parameters = vec![from_hour, to_hour];
            let mut sql = String::from(
                "SELECT screen, substr(local_hour, 1, 10), COUNT(*), SUM(chain = 'linked'),
                        SUM(chain = 'broken'), SUM(chain = 'restart'), SUM(chain = 'pending'),
                        SUM(chain = 'none'),
                        MIN(CASE WHEN chain IN ('broken', 'restart')
                                 THEN printf('%020d', sequence) || ' ' || chain END)
                 FROM impressions WHERE local_hour >= ?1 AND local_hour < ?2",
            );
            sql.push_str(&store_condition(
                &stores,
                &mut parameters,
                "store",
                placeholder,
            ));
            sql.push_str(" GROUP BY 1, 2 ORDER BY 1, 2");
            let mut statement = connection.prepare(&sql)?;
            let rows = statement
                .query_map(params_from_iter(parameters.iter()), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        [
                            row.get::<_, i64>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, i64>(5)?,
                            row.get::<_, i64>(6)?,
                            row.get::<_, i64>(7)?,
                        ],
                        row.get::<_, Option<String>>(8)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(screen, day, counts, first_break)| {
                    crate::storage::plays::chain_day(screen, day, counts, first_break)
                })
                .collect()
        })
        .await
    }

    async fn prune_plays(&self, before_hour: String) -> Result<u64, StorageError> {
        self.interact(move |connection| {
            // In slices, so that ingest is never held up for long behind a large prune. The ids
            // stay in `pruned_impressions`, so a re-sent batch is still recognised.
            let mut removed = 0;
            loop {
                let transaction =
                    connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                transaction.execute(
                    "INSERT OR IGNORE INTO pruned_impressions (id)
                     SELECT id FROM impressions WHERE local_hour < ?1
                     ORDER BY local_hour, id LIMIT 10000",
                    [&before_hour],
                )?;
                let count = transaction.execute(
                    "DELETE FROM impressions WHERE id IN
                         (SELECT id FROM impressions WHERE local_hour < ?1
                          ORDER BY local_hour, id LIMIT 10000)",
                    [&before_hour],
                )?;
                transaction.commit()?;
                removed += count as u64;
                if count < 10_000 {
                    break;
                }
            }
            Ok(removed)
        })
        .await
    }
}

fn read_log_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<PlayLogRow, StorageError>> {
    let text = |index: usize| row.get::<_, String>(index);
    let time = |index: usize| -> rusqlite::Result<Result<jiff::Timestamp, StorageError>> {
        Ok(parse_time(&row.get::<_, String>(index)?))
    };
    let optional_time =
        |index: usize| -> rusqlite::Result<Option<Result<jiff::Timestamp, StorageError>>> {
            Ok(row
                .get::<_, Option<String>>(index)?
                .map(|text| parse_time(&text)))
        };
    let scheduled_start = time(13)?;
    let scheduled_end = optional_time(14)?;
    let started_at = time(15)?;
    let ended_at = time(16)?;
    let sequence: i64 = row.get(1)?;
    let playlist_version: i64 = row.get(7)?;
    let duration_ms: i64 = row.get(17)?;
    let completed: bool = row.get(18)?;
    let display: String = text(19)?;
    let manifest_version: i64 = row.get(21)?;
    let multiplier_milli: i64 = row.get(25)?;
    let built = (|| -> Result<PlayLogRow, StorageError> {
        let delivered = completed && display != "off";
        let multiplier = multiplier_milli as f64 / 1000.0;
        Ok(PlayLogRow {
            play_id: text(0)?,
            sequence: from_sql_integer(sequence, "sequence")?,
            screen: text(2)?,
            store: text(3)?,
            venue_zone: text(4)?,
            zone: text(5)?,
            playlist: text(6)?,
            playlist_version: from_sql_integer(playlist_version, "playlist_version")?,
            item_id: text(8)?,
            campaign: text(9)?,
            offer: text(10)?,
            arm: text(11)?,
            creative: text(12)?,
            scheduled_start: scheduled_start?,
            scheduled_end: scheduled_end.transpose()?,
            started_at: started_at?,
            ended_at: ended_at?,
            duration_ms: from_sql_integer(duration_ms, "duration_ms")?,
            completed,
            display,
            delivered,
            clock: text(20)?,
            manifest_version: from_sql_integer(manifest_version, "manifest_version")?,
            player_version: text(22)?,
            price_cents: row.get(23)?,
            currency: text(24)?,
            stock: row.get(28)?,
            audience_multiplier: multiplier,
            gross_impressions: if delivered { multiplier } else { 0.0 },
            chain: text(26)?,
        })
    })();
    Ok(built)
}

fn parse_time(text: &str) -> Result<jiff::Timestamp, StorageError> {
    text.parse()
        .map_err(|error| StorageError::CorruptRow(format!("play time `{text}`: {error}")))
}
