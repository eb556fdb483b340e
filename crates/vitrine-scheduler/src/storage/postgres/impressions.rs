//! [`ImpressionStore`] on PostgreSQL: the `served_offers`, `impression_ids`, `impressions` (one
//! partition per UTC day) and `impression_sequences` tables.

use std::collections::{BTreeSet, HashMap};
use std::sync::PoisonError;

use jiff::Timestamp;
use jiff::civil::Date;
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use vitrine_core::{Impression, OfferPlay};

use super::PostgresStore;
use super::plays::add_to_rollups;
use crate::storage::StorageError;
use crate::storage::impressions::{ImpressionStore, ServedOffer};
use crate::storage::plays::{IncomingPlay, StoredPlay, rollup_deltas};
use crate::storage::{from_sql_integer, to_sql_integer};

/// The first key of the advisory lock a screen's batches take (`impr` in ASCII), the second being
/// a hash of the screen's name: batches of one screen are stored one after the other, so each
/// sees the plays the one before it held when it moves the acknowledged sequence forward.
const SCREEN_BATCH_LOCK: i32 = 0x696d_7072;

/// A batch as one array per column, for a single `unnest` insert.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    sequence: Vec<i64>,
    screen: Vec<String>,
    playlist: Vec<String>,
    playlist_version: Vec<i64>,
    zone: Vec<String>,
    item_id: Vec<String>,
    media_sha256: Vec<Option<String>>,
    scheduled_start: Vec<Timestamp>,
    started_at: Vec<Timestamp>,
    ended_at: Vec<Timestamp>,
    duration_ms: Vec<i64>,
    completed: Vec<bool>,
    clock: Vec<&'static str>,
    offer_campaign: Vec<Option<String>>,
    offer_id: Vec<Option<String>>,
    offer_arm: Vec<Option<String>>,
    store: Vec<String>,
    local_hour: Vec<String>,
    venue_zone: Vec<String>,
    multiplier_milli: Vec<i64>,
    fill_campaign: Vec<Option<String>>,
    scheduled_end: Vec<Option<Timestamp>>,
    manifest_version: Vec<i64>,
    player_version: Vec<String>,
    display: Vec<&'static str>,
    price_cents: Vec<Option<i64>>,
    currency: Vec<String>,
    digest: Vec<String>,
    previous: Vec<Option<String>>,
    chain: Vec<&'static str>,
}

impl Columns {
    fn new(plays: &[IncomingPlay]) -> Result<Self, StorageError> {
        let mut columns = Self::default();
        for play in plays {
            let impression = play.impression.clone();
            let price = impression
                .offer
                .as_ref()
                .and_then(|offer| offer.price.clone());
            columns.store.push(play.store.clone());
            columns.local_hour.push(play.local_hour.clone());
            columns.venue_zone.push(play.venue_zone.clone());
            columns.multiplier_milli.push(play.multiplier_milli);
            columns.fill_campaign.push(impression.campaign.clone());
            columns.scheduled_end.push(
                impression
                    .scheduled_end
                    .map(|end| to_microseconds(end, "scheduled_end"))
                    .transpose()?,
            );
            columns.manifest_version.push(to_sql_integer(
                impression.manifest_version,
                "manifest_version",
            )?);
            columns
                .player_version
                .push(impression.player_version.clone().unwrap_or_default());
            columns.display.push(impression.display.as_str());
            columns
                .price_cents
                .push(price.as_ref().map(|price| price.cents));
            columns
                .currency
                .push(price.map(|price| price.currency).unwrap_or_default());
            columns.digest.push(play.digest.clone());
            columns
                .previous
                .push(impression.previous.as_ref().map(|d| d.as_str().to_owned()));
            columns.chain.push(play.chain.as_str());
            let duration_ms = impression.duration_ms();
            columns.id.push(impression.id.hyphenated().to_string());
            columns
                .sequence
                .push(to_sql_integer(impression.sequence, "sequence")?);
            columns.screen.push(impression.screen);
            columns.playlist.push(impression.playlist);
            columns.playlist_version.push(to_sql_integer(
                impression.playlist_version,
                "playlist_version",
            )?);
            columns.zone.push(impression.zone);
            columns.item_id.push(impression.item_id);
            columns
                .media_sha256
                .push(impression.media_sha256.map(String::from));
            columns.scheduled_start.push(to_microseconds(
                impression.scheduled_start,
                "scheduled_start",
            )?);
            columns
                .started_at
                .push(to_microseconds(impression.started_at, "started_at")?);
            columns
                .ended_at
                .push(to_microseconds(impression.ended_at, "ended_at")?);
            columns
                .duration_ms
                .push(to_sql_integer(duration_ms, "duration_ms")?);
            columns.completed.push(impression.completed);
            columns.clock.push(impression.clock.as_str());
            let (campaign, offer_id, arm) = match impression.offer {
                Some(offer) => (
                    offer.campaign,
                    Some(offer.offer_id),
                    Some(offer.arm.to_string()),
                ),
                None => (None, None, None),
            };
            columns.offer_campaign.push(campaign);
            columns.offer_id.push(offer_id);
            columns.offer_arm.push(arm);
        }
        Ok(columns)
    }

    /// The UTC days the plays started on.
    fn days(&self) -> BTreeSet<Date> {
        self.started_at
            .iter()
            .map(|started_at| started_at.to_zoned(jiff::tz::TimeZone::UTC).date())
            .collect()
    }
}

/// `time` cut to the microsecond, as PostgreSQL keeps it: cut here rather than in the driver, so
/// that the day its partition is made for is the day it is stored in.
fn to_microseconds(time: Timestamp, what: &str) -> Result<Timestamp, StorageError> {
    time.round(
        jiff::TimestampRound::new()
            .smallest(jiff::Unit::Microsecond)
            .mode(jiff::RoundMode::Trunc),
    )
    .map_err(|error| StorageError::OutOfRange(format!("{what}: {error}")))
}

/// Stores the batch's new plays, skipping ids `impression_ids` already holds, and returns each
/// stored id with the reason its offer was refused, if it was.
const INSERT_BATCH: &str = "
    WITH batch AS (
        SELECT DISTINCT ON (id) *
        FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                    $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                    $11::timestamptz[], $12::bigint[], $13::boolean[], $14::text[], $15::text[],
                    $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                    $21::bigint[], $22::text[], $23::timestamptz[], $24::bigint[], $25::text[],
                    $26::text[], $27::bigint[], $28::text[], $29::text[], $30::text[],
                    $31::text[])
             WITH ORDINALITY AS batch (id, sequence, screen, playlist, playlist_version, zone,
                    item_id, media_sha256, scheduled_start, started_at, ended_at, duration_ms,
                    completed, clock, offer_campaign, offer_id, offer_arm, store, local_hour,
                    venue_zone, multiplier_milli, fill_campaign, scheduled_end,
                    manifest_version, player_version, display, price_cents, currency, digest,
                    previous, chain, position)
        ORDER BY id, position
    ),
    new_ids AS (
        INSERT INTO impression_ids (id) SELECT id FROM batch
        ON CONFLICT DO NOTHING
        RETURNING id
    ),
    checked AS (
        SELECT batch.*, served.stock AS served_stock,
               CASE WHEN batch.offer_id IS NOT NULL AND batch.offer_arm IS NOT NULL
                     AND served.found IS NULL
                    THEN format('offer `%s` of campaign `%s` (%s arm) was never in screen `%s`''s '
                                'manifest for playlist version %s',
                                batch.offer_id, COALESCE(batch.offer_campaign, ''),
                                batch.offer_arm, batch.screen, batch.playlist_version)
               END AS offer_refused
        FROM batch JOIN new_ids USING (id)
        LEFT JOIN LATERAL (
            SELECT true AS found, served_offers.stock FROM served_offers
            WHERE served_offers.screen = batch.screen
              AND served_offers.playlist_version = batch.playlist_version
              AND served_offers.campaign = COALESCE(batch.offer_campaign, '')
              AND served_offers.offer = batch.offer_id
              AND served_offers.arm = batch.offer_arm
        ) AS served ON true
    )
    INSERT INTO impressions
        (id, screen, playlist, playlist_version, item_id, media_sha256, started_at, duration_ms,
         offer_campaign, offer_id, offer_arm, sequence, zone, scheduled_start, ended_at,
         completed, clock, offer_refused, store, local_hour, venue_zone, multiplier_milli,
         campaign, scheduled_end, manifest_version, player_version, display, price_cents,
         currency, digest, previous, chain, stock)
    SELECT id, screen, playlist, playlist_version, item_id, media_sha256, started_at,
           duration_ms, offer_campaign, offer_id, offer_arm, sequence, zone, scheduled_start,
           ended_at, completed, clock, offer_refused, store, local_hour, venue_zone,
           multiplier_milli,
           CASE WHEN offer_id IS NOT NULL AND offer_refused IS NULL
                THEN COALESCE(offer_campaign, '') ELSE COALESCE(fill_campaign, '') END,
           scheduled_end, manifest_version, player_version, display, price_cents, currency,
           digest, previous, chain, served_stock
    FROM checked
    ORDER BY position
    RETURNING id, offer_refused";

/// Which of the batch's new offer plays (offer, arm, scheduled start) already have a scan: by
/// their place in the arrays, from 1.
const SCANNED_PLAYS: &str = "
    SELECT place FROM unnest($2::text[], $3::text[], $4::timestamptz[])
        WITH ORDINALITY AS play (offer, arm, scheduled_start, place)
    WHERE EXISTS (
        SELECT 1 FROM scans
        WHERE scans.screen = $1 AND scans.offer = play.offer AND scans.arm = play.arm
          AND date_trunc('milliseconds', timezone('UTC', scans.played_at))
              = date_trunc('milliseconds', timezone('UTC', play.scheduled_start)))";

/// Checks the links of the screen's plays that wait for their predecessor.
const LINK_CHAIN: &str = "
    UPDATE impressions AS waiting
    SET chain = CASE WHEN waiting.previous = before.digest THEN 'linked' ELSE 'broken' END
    FROM impressions AS before
    WHERE waiting.screen = $1 AND waiting.chain = 'pending'
      AND before.screen = waiting.screen AND before.sequence = waiting.sequence - 1
      AND before.digest IS NOT NULL";

#[async_trait::async_trait]
impl ImpressionStore for PostgresStore {
    /// Records the offers a manifest built for `screen` carries with `playlist_version`.
    async fn record_served_offers(
        &self,
        screen: String,
        playlist_version: u64,
        offers: Vec<ServedOffer>,
    ) -> Result<(), StorageError> {
        let playlist_version = to_sql_integer(playlist_version, "playlist_version")?;
        if offers.is_empty() {
            return Ok(());
        }
        let mut campaigns = Vec::with_capacity(offers.len());
        let mut offer_ids = Vec::with_capacity(offers.len());
        let mut arms = Vec::with_capacity(offers.len());
        let mut stocks = Vec::with_capacity(offers.len());
        for offer in offers {
            campaigns.push(offer.campaign);
            offer_ids.push(offer.offer);
            arms.push(offer.arm);
            stocks.push(offer.stock);
        }
        let client = self.client().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO served_offers AS served
                     (screen, playlist_version, campaign, offer, arm, stock)
                 SELECT DISTINCT ON (campaign, offer, arm) $1::text, $2::bigint, *
                 FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[])
                     AS offered (campaign, offer, arm, stock)
                 ON CONFLICT (screen, playlist_version, campaign, offer, arm)
                 DO UPDATE SET stock = excluded.stock
                 WHERE served.stock IS DISTINCT FROM excluded.stock",
            )
            .await?;
        client
            .execute(
                &insert,
                &[
                    &screen,
                    &playlist_version,
                    &campaigns,
                    &offer_ids,
                    &arms,
                    &stocks,
                ],
            )
            .await?;
        Ok(())
    }

    /// Stores a batch of `screen`'s impressions in one transaction, skipping ids already held, and
    /// returns how many were new and the highest sequence number up to which the screen's plays
    /// are all held. Either the whole batch is stored or none of it.
    ///
    /// The partitions of the batch's days are made first, each in a statement of its own, since
    /// making one locks the whole `impressions` table. A partition dropped since this scheduler
    /// last saw it is made again, and the batch tried once more.
    async fn insert_impressions(
        &self,
        screen: String,
        plays: Vec<IncomingPlay>,
    ) -> Result<(u64, u64), StorageError> {
        let columns = Columns::new(&plays)?;
        let days = columns.days();
        self.make_impression_partitions(&days).await?;
        match self.store_batch(&screen, &columns, &plays).await {
            Err(Failed::NoPartition) => {
                self.forget_impression_days(&days);
                self.make_impression_partitions(&days).await?;
                match self.store_batch(&screen, &columns, &plays).await {
                    Ok(stored) => Ok(stored),
                    Err(Failed::NoPartition) => Err(StorageError::Backend(
                        "PostgreSQL: an impression partition vanished while a batch was stored"
                            .to_owned(),
                    )),
                    Err(Failed::Storage(error)) => Err(error),
                }
            }
            Err(Failed::Storage(error)) => Err(error),
            Ok(stored) => Ok(stored),
        }
    }

    /// Every impression of one screen, oldest first.
    async fn impressions_of(&self, screen: String) -> Result<Vec<Impression>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, screen, playlist, playlist_version, item_id, media_sha256, started_at,
                        duration_ms, offer_campaign, offer_id, offer_arm, sequence, zone,
                        scheduled_start, ended_at, completed, clock, campaign, scheduled_end,
                        manifest_version, player_version, display, price_cents, currency,
                        previous
                 FROM impressions WHERE screen = $1 ORDER BY started_at, id",
                &[&screen],
            )
            .await?;
        let mut impressions = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0)?;
            let corrupt = |what: &str, error: &dyn std::fmt::Display| {
                StorageError::CorruptRow(format!("impression {id}: {what}: {error}"))
            };
            let started_at: Timestamp = row.try_get(6)?;
            let duration_ms: i64 = row.try_get(7)?;
            // Rows stored before the full record keep their start as the scheduled one and
            // their duration as the end.
            let ended_at = match row.try_get::<_, Option<Timestamp>>(14)? {
                Some(ended_at) => ended_at,
                None => started_at
                    .checked_add(jiff::SignedDuration::from_millis(duration_ms))
                    .map_err(|error| corrupt("duration_ms", &error))?,
            };
            let offer_campaign: Option<String> = row.try_get(8)?;
            let offer_id: Option<String> = row.try_get(9)?;
            let offer_arm: Option<String> = row.try_get(10)?;
            let sha256: Option<String> = row.try_get(5)?;
            let clock: String = row.try_get(16)?;
            let campaign: String = row.try_get(17)?;
            let player_version: String = row.try_get(20)?;
            let display: String = row.try_get(21)?;
            let price_cents: Option<i64> = row.try_get(22)?;
            let currency: String = row.try_get(23)?;
            let previous: Option<String> = row.try_get(24)?;
            let offer_play = offer_id.is_some();
            impressions.push(Impression {
                id: Uuid::parse_str(&id).map_err(|error| corrupt("id", &error))?,
                sequence: from_sql_integer(row.try_get(11)?, "sequence")?,
                screen: row.try_get(1)?,
                playlist: row.try_get(2)?,
                playlist_version: from_sql_integer(row.try_get(3)?, "playlist_version")?,
                zone: row.try_get(12)?,
                item_id: row.try_get(4)?,
                media_sha256: sha256
                    .map(|text| text.parse())
                    .transpose()
                    .map_err(|error| corrupt("media_sha256", &error))?,
                scheduled_start: row
                    .try_get::<_, Option<Timestamp>>(13)?
                    .unwrap_or(started_at),
                started_at,
                scheduled_end: row.try_get(18)?,
                ended_at,
                completed: row.try_get(15)?,
                clock: clock.parse().map_err(|error| corrupt("clock", &error))?,
                offer: match (offer_id, offer_arm) {
                    (Some(offer_id), Some(arm)) => Some(OfferPlay {
                        offer_id,
                        campaign: offer_campaign,
                        arm: arm.parse().map_err(|error| corrupt("offer_arm", &error))?,
                        price: price_cents.map(|cents| vitrine_core::offer::CardPrice {
                            cents,
                            old_cents: None,
                            currency: currency.clone(),
                        }),
                    }),
                    _ => None,
                },
                campaign: (!offer_play && !campaign.is_empty()).then_some(campaign),
                manifest_version: from_sql_integer(row.try_get(19)?, "manifest_version")?,
                player_version: (!player_version.is_empty()).then_some(player_version),
                display: display
                    .parse()
                    .map_err(|error| corrupt("display", &error))?,
                previous: previous
                    .map(|text| text.parse())
                    .transpose()
                    .map_err(|error| corrupt("previous", &error))?,
            });
        }
        Ok(impressions)
    }
}

/// Why storing a batch failed: a day with no partition (dropped behind this scheduler's back), or
/// anything else.
enum Failed {
    NoPartition,
    Storage(StorageError),
}

impl From<StorageError> for Failed {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

impl From<tokio_postgres::Error> for Failed {
    fn from(error: tokio_postgres::Error) -> Self {
        // PostgreSQL reports a row no partition takes as a check violation.
        let no_partition = error.as_db_error().is_some_and(|database| {
            database.code() == &SqlState::CHECK_VIOLATION
                && database.message().starts_with("no partition of relation")
        });
        if no_partition {
            Self::NoPartition
        } else {
            Self::Storage(error.into())
        }
    }
}

impl PostgresStore {
    /// Makes the partitions of `days` that this scheduler has not seen yet.
    async fn make_impression_partitions(&self, days: &BTreeSet<Date>) -> Result<(), StorageError> {
        let missing: Vec<Date> = {
            let known = self
                .impression_days
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            days.iter()
                .filter(|day| !known.contains(day))
                .copied()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        for day in missing {
            if day.year() < 1 {
                return Err(StorageError::OutOfRange(format!(
                    "an impression started on {day}, before the first year PostgreSQL's \
                     partitions are named for"
                )));
            }
            let until = match day.tomorrow() {
                Ok(next) => format!("'{next}T00:00:00Z'"),
                Err(_) => "MAXVALUE".to_owned(),
            };
            let create = format!(
                "CREATE TABLE IF NOT EXISTS impressions_{:04}{:02}{:02} PARTITION OF impressions
                 FOR VALUES FROM ('{day}T00:00:00Z') TO ({until})",
                day.year(),
                day.month(),
                day.day()
            );
            match client.batch_execute(&create).await {
                Ok(()) => {}
                // Another scheduler made it at the same moment.
                Err(error)
                    if error.code() == Some(&SqlState::DUPLICATE_TABLE)
                        || super::is_unique_violation(&error) => {}
                Err(error) => return Err(error.into()),
            }
            self.impression_days
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(day);
        }
        Ok(())
    }

    fn forget_impression_days(&self, days: &BTreeSet<Date>) {
        let mut known = self
            .impression_days
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for day in days {
            known.remove(day);
        }
    }

    /// Marks the new offer plays whose code was scanned before they reached HQ.
    async fn mark_scanned(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        screen: &str,
        plays: &mut [StoredPlay<'_>],
    ) -> Result<(), StorageError> {
        let mut places = Vec::new();
        let (mut offers, mut arms, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for (place, stored) in plays.iter().enumerate() {
            if let (Some(offer), false) = (&stored.play.impression.offer, stored.offer_refused) {
                places.push(place);
                offers.push(offer.offer_id.clone());
                arms.push(offer.arm.to_string());
                starts.push(stored.play.impression.scheduled_start);
            }
        }
        if places.is_empty() {
            return Ok(());
        }
        let rows = transaction
            .query(SCANNED_PLAYS, &[&screen, &offers, &arms, &starts])
            .await?;
        for row in rows {
            let place: i64 = row.try_get(0)?;
            if let Some(&index) = usize::try_from(place - 1)
                .ok()
                .and_then(|offset| places.get(offset))
            {
                plays[index].scanned = true;
            }
        }
        Ok(())
    }

    /// Stores the batch and moves the screen's sequence forward, in one transaction.
    async fn store_batch(
        &self,
        screen: &str,
        columns: &Columns,
        plays: &[IncomingPlay],
    ) -> Result<(u64, u64), Failed> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(StorageError::from)?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&SCREEN_BATCH_LOCK, &screen],
            )
            .await
            .map_err(StorageError::from)?;
        let insert = transaction
            .prepare_cached(INSERT_BATCH)
            .await
            .map_err(StorageError::from)?;
        let stored = transaction
            .query(
                &insert,
                &[
                    &columns.id,
                    &columns.sequence,
                    &columns.screen,
                    &columns.playlist,
                    &columns.playlist_version,
                    &columns.zone,
                    &columns.item_id,
                    &columns.media_sha256,
                    &columns.scheduled_start,
                    &columns.started_at,
                    &columns.ended_at,
                    &columns.duration_ms,
                    &columns.completed,
                    &columns.clock,
                    &columns.offer_campaign,
                    &columns.offer_id,
                    &columns.offer_arm,
                    &columns.store,
                    &columns.local_hour,
                    &columns.venue_zone,
                    &columns.multiplier_milli,
                    &columns.fill_campaign,
                    &columns.scheduled_end,
                    &columns.manifest_version,
                    &columns.player_version,
                    &columns.display,
                    &columns.price_cents,
                    &columns.currency,
                    &columns.digest,
                    &columns.previous,
                    &columns.chain,
                ],
            )
            .await?;
        let by_id: HashMap<&str, usize> = columns
            .id
            .iter()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        let mut new_plays = Vec::with_capacity(stored.len());
        for row in &stored {
            let id: &str = row.try_get(0).map_err(StorageError::from)?;
            let refused: Option<&str> = row.try_get(1).map_err(StorageError::from)?;
            // Proof of play may claim only an offer its screen's manifest carried with that
            // playlist version. Anything else is kept as a play, its offer marked refused and
            // left out of every offer figure.
            if let Some(reason) = refused {
                tracing::warn!(impression = %id, "{reason}; its offer is not counted");
            }
            if let Some(&index) = by_id.get(id) {
                new_plays.push(StoredPlay {
                    play: &plays[index],
                    offer_refused: refused.is_some(),
                    scanned: false,
                });
            }
        }
        let inserted = stored.len() as u64;
        if !new_plays.is_empty() {
            self.mark_scanned(&transaction, screen, &mut new_plays)
                .await?;
            add_to_rollups(&transaction, &rollup_deltas(&new_plays)).await?;
            transaction
                .execute(LINK_CHAIN, &[&screen])
                .await
                .map_err(StorageError::from)?;
        }
        let highest = advance_sequence(&transaction, screen).await?;
        transaction.commit().await.map_err(StorageError::from)?;
        Ok((inserted, highest))
    }
}

/// Moves `screen`'s highest gap-free sequence number forward over what is now held, stores it and
/// returns it. Numbers start at 1; a number held twice (a player whose database was made anew
/// before it learnt where to continue) counts once. The caller holds the screen's batch lock.
async fn advance_sequence(
    transaction: &deadpool_postgres::Transaction<'_>,
    screen: &str,
) -> Result<u64, StorageError> {
    let mut highest: i64 = transaction
        .query_opt(
            "SELECT highest FROM impression_sequences WHERE screen = $1",
            &[&screen],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(0);
    let before = highest;
    // Of the next (at most) 1000 numbers held, how many follow `highest` without a gap, and the
    // last of them: the distinct numbers are increasing, so the gap-free ones are a prefix.
    let run = transaction
        .prepare_cached(
            "SELECT COUNT(*), MAX(sequence) FROM (
                 SELECT sequence, row_number() OVER (ORDER BY sequence) AS place
                 FROM (SELECT DISTINCT sequence FROM impressions
                       WHERE screen = $1 AND sequence > $2 ORDER BY sequence LIMIT 1000) AS held
             ) AS numbered
             WHERE sequence = $2 + place",
        )
        .await?;
    loop {
        let row = transaction.query_one(&run, &[&screen, &highest]).await?;
        let following: i64 = row.try_get(0)?;
        if let Some(last) = row.try_get::<_, Option<i64>>(1)? {
            highest = last;
        }
        if following < 1000 {
            break;
        }
    }
    if highest != before {
        transaction
            .execute(
                "INSERT INTO impression_sequences (screen, highest) VALUES ($1, $2)
                 ON CONFLICT (screen) DO UPDATE SET highest = EXCLUDED.highest",
                &[&screen, &highest],
            )
            .await?;
    }
    from_sql_integer(highest, "sequence")
}
