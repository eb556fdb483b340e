//! [`ImpressionStore`] on SQLite: the `served_offers`, `impressions` and `impression_sequences`
//! tables.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;
use vitrine_core::{Impression, OfferPlay};

use super::{SqliteStore, from_sql_integer, to_sql_integer};
use crate::storage::StorageError;
use crate::storage::impressions::{ImpressionStore, ServedOffer};
use crate::storage::plays::{IncomingPlay, StoredPlay, rollup_deltas};
use crate::storage::sortable_timestamp;

#[async_trait::async_trait]
impl ImpressionStore for SqliteStore {
    /// Records the offers a manifest built for `screen` carries with `playlist_version`.
    async fn record_served_offers(
        &self,
        screen: String,
        playlist_version: u64,
        offers: Vec<ServedOffer>,
    ) -> Result<(), StorageError> {
        let playlist_version = to_sql_integer(playlist_version, "playlist_version")?;
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO served_offers (screen, playlist_version, campaign, offer, arm,
                         stock)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (screen, playlist_version, campaign, offer, arm)
                     DO UPDATE SET stock = excluded.stock WHERE stock IS NOT excluded.stock",
                )?;
                for offer in offers {
                    insert.execute(params![
                        screen,
                        playlist_version,
                        offer.campaign,
                        offer.offer,
                        offer.arm,
                        offer.stock
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    /// Stores a batch of `screen`'s impressions in one transaction, skipping ids already held, and
    /// returns how many were new and the highest sequence number up to which the screen's plays
    /// are all held. Either the whole batch is stored or none of it. The new plays are added to
    /// the rollups and their chain links checked in the same transaction.
    async fn insert_impressions(
        &self,
        screen: String,
        plays: Vec<IncomingPlay>,
    ) -> Result<(u64, u64), StorageError> {
        let rows = plays
            .iter()
            .map(ImpressionRow::new)
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut stored = Vec::new();
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO impressions
                        (id, screen, playlist, playlist_version, item_id, media_sha256,
                         started_at, duration_ms, offer_campaign, offer_id, offer_arm,
                         sequence, zone, scheduled_start, ended_at, completed, clock,
                         offer_refused, store, local_hour, venue_zone, multiplier_milli,
                         campaign, scheduled_end, manifest_version, player_version, display,
                         price_cents, currency, digest, previous, chain, stock)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                             ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                             ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                let mut served = transaction.prepare_cached(
                    "SELECT stock FROM served_offers
                     WHERE screen = ?1 AND playlist_version = ?2 AND campaign = ?3
                       AND offer = ?4 AND arm = ?5",
                )?;
                let mut pruned = transaction.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM pruned_impressions WHERE id = ?1)",
                )?;
                let mut scanned = transaction.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM scans
                     WHERE screen = ?1 AND offer = ?2 AND arm = ?3
                       AND substr(played_at, 1, 23) = substr(?4, 1, 23))",
                )?;
                // Ids after the highest pruned one cannot have been pruned, which spares the
                // lookup for every fresh play.
                let highest_pruned: Option<String> = transaction
                    .prepare_cached("SELECT MAX(id) FROM pruned_impressions")?
                    .query_row([], |row| row.get(0))?;
                for (row, play) in rows.iter().zip(&plays) {
                    // Held once and deleted past its retention: its figures are in the rollups.
                    let maybe_pruned = highest_pruned
                        .as_ref()
                        .is_some_and(|highest| row.id <= *highest);
                    if maybe_pruned
                        && pruned.query_row([&row.id], |found| found.get::<_, bool>(0))?
                    {
                        continue;
                    }
                    let (campaign, offer_id, arm) = match &row.offer {
                        Some((campaign, offer_id, arm)) => (
                            campaign.as_deref(),
                            Some(offer_id.as_str()),
                            Some(arm.as_str()),
                        ),
                        None => (None, None, None),
                    };
                    // Proof of play may claim only an offer its screen's manifest carried with
                    // that playlist version. Anything else is kept as a play, its offer marked
                    // refused and left out of every offer figure.
                    let mut stock = None;
                    let offer_refused = match (offer_id, arm) {
                        (Some(offer_id), Some(arm)) => {
                            let campaign_name = campaign.unwrap_or("");
                            let served_with: Option<Option<i64>> = served
                                .query_row(
                                    params![
                                        row.screen,
                                        row.playlist_version,
                                        campaign_name,
                                        offer_id,
                                        arm
                                    ],
                                    |found| found.get(0),
                                )
                                .optional()?;
                            stock = served_with.flatten();
                            served_with.is_none().then(|| {
                                format!(
                                    "offer `{offer_id}` of campaign `{campaign_name}` ({arm} \
                                     arm) was never in screen `{}`'s manifest for playlist \
                                     version {}",
                                    row.screen, row.playlist_version
                                )
                            })
                        }
                        _ => None,
                    };
                    if let Some(reason) = &offer_refused {
                        tracing::warn!(impression = %row.id, "{reason}; its offer is not counted");
                    }
                    let refused = offer_refused.is_some();
                    let inserted = insert.execute(params![
                        row.id,
                        row.screen,
                        row.playlist,
                        row.playlist_version,
                        row.item_id,
                        row.media_sha256,
                        row.started_at,
                        row.duration_ms,
                        campaign,
                        offer_id,
                        arm,
                        row.sequence,
                        row.zone,
                        row.scheduled_start,
                        row.ended_at,
                        row.completed,
                        row.clock,
                        offer_refused,
                        play.store,
                        play.local_hour,
                        play.venue_zone,
                        play.multiplier_milli,
                        play.counted_campaign(refused),
                        row.scheduled_end,
                        row.manifest_version,
                        row.player_version,
                        row.display,
                        row.price_cents,
                        row.currency,
                        play.digest,
                        row.previous,
                        play.chain.as_str(),
                        stock,
                    ])?;
                    if inserted == 0 {
                        continue;
                    }
                    let was_scanned = match (offer_id, arm) {
                        (Some(offer_id), Some(arm)) if !refused => scanned.query_row(
                            params![row.screen, offer_id, arm, row.scheduled_start],
                            |found| found.get(0),
                        )?,
                        _ => false,
                    };
                    stored.push(StoredPlay {
                        play,
                        offer_refused: refused,
                        scanned: was_scanned,
                    });
                }
            }
            let inserted = stored.len() as u64;
            if !stored.is_empty() {
                super::plays::add_to_rollups(&transaction, &rollup_deltas(&stored))?;
                link_chain(&transaction, &screen)?;
            }
            let highest = advance_sequence(&transaction, &screen)?;
            transaction.commit()?;
            Ok((inserted, highest))
        })
        .await
    }

    /// Every impression of one screen, oldest first.
    async fn impressions_of(&self, screen: String) -> Result<Vec<Impression>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare(
                "SELECT id, screen, playlist, playlist_version, item_id, media_sha256, started_at,
                        duration_ms, offer_campaign, offer_id, offer_arm, sequence, zone,
                        scheduled_start, ended_at, completed, clock, campaign, scheduled_end,
                        manifest_version, player_version, display, price_cents, currency,
                        previous
                 FROM impressions WHERE screen = ?1 ORDER BY started_at, id",
            )?;
            let rows = statement.query_map([screen], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, Option<String>>(10)?,
                    (
                        row.get::<_, i64>(11)?,
                        row.get::<_, String>(12)?,
                        row.get::<_, Option<String>>(13)?,
                        row.get::<_, Option<String>>(14)?,
                        row.get::<_, bool>(15)?,
                        row.get::<_, String>(16)?,
                    ),
                    Recorded {
                        campaign: row.get(17)?,
                        scheduled_end: row.get(18)?,
                        manifest_version: row.get(19)?,
                        player_version: row.get(20)?,
                        display: row.get(21)?,
                        price_cents: row.get(22)?,
                        currency: row.get(23)?,
                        previous: row.get(24)?,
                    },
                ))
            })?;
            let mut impressions = Vec::new();
            for row in rows {
                let (
                    id,
                    screen,
                    playlist,
                    version,
                    item_id,
                    sha256,
                    started_at,
                    duration_ms,
                    offer_campaign,
                    offer_id,
                    offer_arm,
                    (sequence, zone, scheduled_start, ended_at, completed, clock),
                    recorded,
                ) = row?;
                let corrupt = |what: &str, error: &dyn std::fmt::Display| {
                    StorageError::CorruptRow(format!("impression {id}: {what}: {error}"))
                };
                let started_at: Timestamp = started_at
                    .parse()
                    .map_err(|error| corrupt("started_at", &error))?;
                // Rows stored before the full record keep their start as the scheduled one and
                // their duration as the end.
                let ended_at = match ended_at {
                    Some(text) => text.parse().map_err(|error| corrupt("ended_at", &error))?,
                    None => started_at
                        .checked_add(jiff::SignedDuration::from_millis(duration_ms))
                        .map_err(|error| corrupt("duration_ms", &error))?,
                };
                let offer_id_known = offer_id.is_some();
                impressions.push(Impression {
                    id: Uuid::parse_str(&id).map_err(|error| corrupt("id", &error))?,
                    sequence: from_sql_integer(sequence, "sequence")?,
                    screen,
                    playlist,
                    playlist_version: from_sql_integer(version, "playlist_version")?,
                    zone,
                    item_id,
                    media_sha256: sha256
                        .map(|text| text.parse())
                        .transpose()
                        .map_err(|error| corrupt("media_sha256", &error))?,
                    scheduled_start: match scheduled_start {
                        Some(text) => text
                            .parse()
                            .map_err(|error| corrupt("scheduled_start", &error))?,
                        None => started_at,
                    },
                    started_at,
                    scheduled_end: recorded
                        .scheduled_end
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .map_err(|error| corrupt("scheduled_end", &error))?,
                    ended_at,
                    completed,
                    clock: clock.parse().map_err(|error| corrupt("clock", &error))?,
                    offer: match (offer_id, offer_arm) {
                        (Some(offer_id), Some(arm)) => Some(OfferPlay {
                            offer_id,
                            campaign: offer_campaign,
                            arm: arm.parse().map_err(|error| corrupt("offer_arm", &error))?,
                            price: recorded.price(),
                        }),
                        _ => None,
                    },
                    campaign: recorded.fill_campaign(offer_id_known),
                    manifest_version: from_sql_integer(
                        recorded.manifest_version,
                        "manifest_version",
                    )?,
                    player_version: (!recorded.player_version.is_empty())
                        .then(|| recorded.player_version.clone()),
                    display: recorded
                        .display
                        .parse()
                        .map_err(|error| corrupt("display", &error))?,
                    previous: recorded
                        .previous
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .map_err(|error| corrupt("previous", &error))?,
                });
            }
            Ok(impressions)
        })
        .await
    }
}

/// The columns a play has besides the first proof-of-play record's.
pub(super) struct Recorded {
    pub campaign: String,
    pub scheduled_end: Option<String>,
    pub manifest_version: i64,
    pub player_version: String,
    pub display: String,
    pub price_cents: Option<i64>,
    pub currency: String,
    pub previous: Option<String>,
}

impl Recorded {
    /// The price an offer's card showed.
    pub fn price(&self) -> Option<vitrine_core::offer::CardPrice> {
        self.price_cents
            .map(|cents| vitrine_core::offer::CardPrice {
                cents,
                old_cents: None,
                currency: self.currency.clone(),
            })
    }

    /// The campaign of a fill play; an offer play's is its offer's.
    pub fn fill_campaign(&self, offer_play: bool) -> Option<String> {
        (!offer_play && !self.campaign.is_empty()).then(|| self.campaign.clone())
    }
}

/// One impression as its columns, made before the blocking closure so conversion errors need no
/// connection.
struct ImpressionRow {
    id: String,
    sequence: i64,
    screen: String,
    playlist: String,
    playlist_version: i64,
    zone: String,
    item_id: String,
    media_sha256: Option<String>,
    scheduled_start: String,
    scheduled_end: Option<String>,
    started_at: String,
    ended_at: String,
    duration_ms: i64,
    completed: bool,
    clock: &'static str,
    offer: Option<(Option<String>, String, String)>,
    manifest_version: i64,
    player_version: String,
    display: &'static str,
    price_cents: Option<i64>,
    currency: String,
    previous: Option<String>,
}

impl ImpressionRow {
    fn new(play: &IncomingPlay) -> Result<Self, StorageError> {
        let impression = &play.impression;
        let price = impression
            .offer
            .as_ref()
            .and_then(|offer| offer.price.as_ref());
        Ok(ImpressionRow {
            id: impression.id.hyphenated().to_string(),
            sequence: to_sql_integer(impression.sequence, "sequence")?,
            screen: impression.screen.clone(),
            playlist: impression.playlist.clone(),
            playlist_version: to_sql_integer(impression.playlist_version, "playlist_version")?,
            zone: impression.zone.clone(),
            item_id: impression.item_id.clone(),
            media_sha256: impression
                .media_sha256
                .as_ref()
                .map(|d| d.as_str().to_owned()),
            scheduled_start: sortable_timestamp(impression.scheduled_start),
            scheduled_end: impression.scheduled_end.map(sortable_timestamp),
            started_at: sortable_timestamp(impression.started_at),
            ended_at: sortable_timestamp(impression.ended_at),
            duration_ms: to_sql_integer(impression.duration_ms(), "duration_ms")?,
            completed: impression.completed,
            clock: impression.clock.as_str(),
            offer: impression.offer.as_ref().map(|offer| {
                (
                    offer.campaign.clone(),
                    offer.offer_id.clone(),
                    offer.arm.to_string(),
                )
            }),
            manifest_version: to_sql_integer(impression.manifest_version, "manifest_version")?,
            player_version: impression.player_version.clone().unwrap_or_default(),
            display: impression.display.as_str(),
            price_cents: price.map(|price| price.cents),
            currency: price
                .map(|price| price.currency.clone())
                .unwrap_or_default(),
            previous: impression.previous.as_ref().map(|d| d.as_str().to_owned()),
        })
    }
}

/// Checks the links of `screen`'s plays that wait for their predecessor, now that the batch may
/// have brought it (or brought plays whose predecessor was already held).
fn link_chain(connection: &Connection, screen: &str) -> Result<(), StorageError> {
    connection
        .prepare_cached(
            "UPDATE impressions
             SET chain = CASE WHEN impressions.previous = before.digest
                              THEN 'linked' ELSE 'broken' END
             FROM impressions AS before
             WHERE impressions.screen = ?1 AND impressions.chain = 'pending'
               AND before.screen = impressions.screen
               AND before.sequence = impressions.sequence - 1
               AND before.digest IS NOT NULL",
        )?
        .execute([screen])?;
    Ok(())
}

/// Moves `screen`'s highest gap-free sequence number forward over what is now held, stores it and
/// returns it. Numbers start at 1; a number held twice (a player whose database was made anew
/// before it learnt where to continue) counts once.
fn advance_sequence(connection: &Connection, screen: &str) -> Result<u64, StorageError> {
    let mut highest: i64 = connection
        .query_row(
            "SELECT highest FROM impression_sequences WHERE screen = ?1",
            [screen],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let before = highest;
    {
        let mut following = connection.prepare_cached(
            "SELECT DISTINCT sequence FROM impressions
             WHERE screen = ?1 AND sequence > ?2 ORDER BY sequence LIMIT 1000",
        )?;
        loop {
            let sequences = following
                .query_map(params![screen, highest], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let start = highest;
            for sequence in &sequences {
                if *sequence != highest + 1 {
                    break;
                }
                highest = *sequence;
            }
            if highest == start || sequences.len() < 1000 {
                break;
            }
        }
    }
    if highest != before {
        connection.execute(
            "INSERT INTO impression_sequences (screen, highest) VALUES (?1, ?2)
             ON CONFLICT (screen) DO UPDATE SET highest = excluded.highest",
            params![screen, highest],
        )?;
    }
    from_sql_integer(highest, "sequence")
}
