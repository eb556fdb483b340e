//! Proof of play as HQ's buyers read it: every play stored with where it ran (store, venue zone,
//! audience), its place in its screen's hash chain, and the hourly rollups that reports answer
//! from. Raw plays may be pruned after the retention period; rollups are kept.

use jiff::Timestamp;

/// One row of the raw ad log: one play, with everything a buyer reconciles against.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayLogRow {
    pub play_id: String,
    /// The screen's own count of its plays.
    pub sequence: u64,
    pub screen: String,
    /// The store the screen was in when the play reached HQ; empty for a screen of no store.
    pub store: String,
    /// The IAB in-store zone: `exterior`, `entrance`, `checkout`, `in_aisle` or `other`.
    pub venue_zone: String,
    /// The screen's zone (its layout's region) the item played in.
    pub zone: String,
    pub playlist: String,
    pub playlist_version: u64,
    pub item_id: String,
    /// The HQ campaign the play belongs to (an offer's, or the fill's); empty for store content.
    pub campaign: String,
    pub offer: String,
    /// `treatment` or `control`; empty for a play of no offer.
    pub arm: String,
    /// The sha256 of the media file shown; empty for generated content (text, clocks).
    pub creative: String,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Option<Timestamp>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub duration_ms: u64,
    pub completed: bool,
    /// `on`, `off` or `unknown`.
    pub display: String,
    /// Completed on a display not known to be off: a delivered spot.
    pub delivered: bool,
    /// `synced`, `estimated` or `unknown`.
    pub clock: String,
    pub manifest_version: u64,
    pub player_version: String,
    /// The price the offer's card showed, in the currency's smallest unit.
    pub price_cents: Option<i64>,
    pub currency: String,
    /// The store's stock of the offer's product when the manifest that carried the offer was
    /// built (what the card's eligibility was decided on); empty for an offer of no product.
    pub stock: Option<i64>,
    /// The screen's audience multiplier when the play reached HQ, and gross impressions:
    /// `delivered × multiplier`.
    pub audience_multiplier: f64,
    pub gross_impressions: f64,
    /// `linked`, `broken`, `restart`, `pending` or `none`; see [`ChainState`].
    pub chain: String,
}

/// One page of the raw ad log.
#[derive(Clone, Debug, Default)]
pub struct PlayLogPage {
    pub rows: Vec<PlayLogRow>,
    /// The last row's store-local hour and id, to ask for the page after it; `None` when this
    /// page is the last.
    pub next: Option<(String, String)>,
}

/// Where a play stands in its screen's hash chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainState {
    /// Its `previous` is the digest of the screen's play numbered one less (or it is play 1).
    Linked,
    /// Its `previous` is not that digest: a record was altered or replaced.
    Broken,
    /// It starts a new chain after play 1: the player's journal was made anew.
    Restart,
    /// Its predecessor has not reached HQ yet.
    Pending,
    /// From a player that does not chain its plays.
    None,
}

impl ChainState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainState::Linked => "linked",
            ChainState::Broken => "broken",
            ChainState::Restart => "restart",
            ChainState::Pending => "pending",
            ChainState::None => "none",
        }
    }
}

/// A play as it reaches storage: the record the screen signed, its digest, and where it ran,
/// resolved by the ingest when the batch arrived.
#[derive(Clone, Debug)]
pub struct IncomingPlay {
    pub impression: vitrine_core::Impression,
    /// [`vitrine_core::Impression::digest`] of the record as received.
    pub digest: String,
    /// What the chain says before its neighbours are looked at: [`ChainState::Pending`] when the
    /// record names a predecessor, else `Linked` (play 1), `Restart` or `None`.
    pub chain: ChainState,
    /// The screen's store, or empty.
    pub store: String,
    /// The hour the play started, in the store's time: `YYYY-MM-DDTHH`.
    pub local_hour: String,
    pub venue_zone: String,
    /// The audience multiplier in thousandths.
    pub multiplier_milli: i64,
}

impl IncomingPlay {
    /// The campaign the play counts for: its offer's unless the offer was refused, else the
    /// campaign whose fill it was, else none (empty).
    pub fn counted_campaign(&self, offer_refused: bool) -> String {
        match &self.impression.offer {
            Some(offer) if !offer_refused => offer.campaign.clone().unwrap_or_default(),
            _ => self.impression.campaign.clone().unwrap_or_default(),
        }
    }

    /// Completed on a display not known to be off.
    pub fn delivered(&self) -> bool {
        self.impression.completed && self.impression.display != vitrine_core::DisplayPower::Off
    }
}

/// The key of one hourly rollup row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub local_hour: String,
    pub screen: String,
    pub store: String,
    pub zone: String,
    pub playlist: String,
    pub item_id: String,
    pub creative: String,
    pub campaign: String,
    pub offer: String,
    pub arm: String,
    pub venue_zone: String,
}

impl RollupKey {
    /// The key of the daily row this hourly row adds to.
    pub fn daily(&self) -> DailyKey {
        DailyKey {
            local_day: self
                .local_hour
                .get(..10)
                .unwrap_or(&self.local_hour)
                .to_owned(),
            screen: self.screen.clone(),
            store: self.store.clone(),
            zone: self.zone.clone(),
            campaign: self.campaign.clone(),
            offer: self.offer.clone(),
            arm: self.arm.clone(),
            venue_zone: self.venue_zone.clone(),
        }
    }
}

/// The key of one daily rollup row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DailyKey {
    pub local_day: String,
    pub screen: String,
    pub store: String,
    pub zone: String,
    pub campaign: String,
    pub offer: String,
    pub arm: String,
    pub venue_zone: String,
}

/// What a set of plays adds to a rollup row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub plays: u64,
    pub completed: u64,
    /// Completed on a display not known to be off.
    pub delivered: u64,
    /// Plays on a display known to be off: recorded, never delivered.
    pub display_off: u64,
    pub play_ms: u64,
    /// Gross impressions in thousandths: delivered plays × the audience multiplier.
    pub impressions_milli: u64,
    /// Plays whose QR code was scanned at least once.
    pub scanned: u64,
}

impl Figures {
    /// The figures as SQL integers, in the rollup tables' column order.
    pub fn to_columns(&self) -> Result<[i64; 7], super::StorageError> {
        let column = |value: u64| super::to_sql_integer(value, "rollup figure");
        Ok([
            column(self.plays)?,
            column(self.completed)?,
            column(self.delivered)?,
            column(self.display_off)?,
            column(self.play_ms)?,
            column(self.impressions_milli)?,
            column(self.scanned)?,
        ])
    }

    /// The figures from SQL integers in the rollup tables' column order (a missing sum is 0).
    pub fn from_columns(columns: [Option<i64>; 7]) -> Result<Figures, super::StorageError> {
        let [
            plays,
            completed,
            delivered,
            display_off,
            play_ms,
            impressions_milli,
            scanned,
        ] = columns.map(|value| super::from_sql_integer(value.unwrap_or(0), "rollup figure"));
        Ok(Figures {
            plays: plays?,
            completed: completed?,
            delivered: delivered?,
            display_off: display_off?,
            play_ms: play_ms?,
            impressions_milli: impressions_milli?,
            scanned: scanned?,
        })
    }

    pub fn add(&mut self, other: &Figures) {
        self.plays += other.plays;
        self.completed += other.completed;
        self.delivered += other.delivered;
        self.display_off += other.display_off;
        self.play_ms += other.play_ms;
        self.impressions_milli += other.impressions_milli;
        self.scanned += other.scanned;
    }
}

/// A new play as stored, with what storage decided about it: whether its offer was refused and
/// whether its code had already been scanned.
pub struct StoredPlay<'a> {
    pub play: &'a IncomingPlay,
    pub offer_refused: bool,
    pub scanned: bool,
}

/// The rollup rows the new plays add to, summed per key.
pub fn rollup_deltas(plays: &[StoredPlay<'_>]) -> Vec<(RollupKey, Figures)> {
    let mut sums: std::collections::BTreeMap<RollupKey, Figures> = Default::default();
    for stored in plays {
        let play = stored.play;
        let impression = &play.impression;
        let (offer, arm) = match (&impression.offer, stored.offer_refused) {
            (Some(offer), false) => (offer.offer_id.clone(), offer.arm.to_string()),
            _ => (String::new(), String::new()),
        };
        let key = RollupKey {
            local_hour: play.local_hour.clone(),
            screen: impression.screen.clone(),
            store: play.store.clone(),
            zone: impression.zone.clone(),
            playlist: impression.playlist.clone(),
            item_id: impression.item_id.clone(),
            creative: impression
                .media_sha256
                .as_ref()
                .map(|digest| digest.as_str().to_owned())
                .unwrap_or_default(),
            campaign: play.counted_campaign(stored.offer_refused),
            offer,
            arm,
            venue_zone: play.venue_zone.clone(),
        };
        let delivered = play.delivered();
        let figures = Figures {
            plays: 1,
            completed: u64::from(impression.completed),
            delivered: u64::from(delivered),
            display_off: u64::from(impression.display == vitrine_core::DisplayPower::Off),
            play_ms: impression.duration_ms(),
            impressions_milli: if delivered {
                play.multiplier_milli.unsigned_abs()
            } else {
                0
            },
            scanned: u64::from(stored.scanned && !stored.offer_refused),
        };
        sums.entry(key).or_default().add(&figures);
    }
    sums.into_iter().collect()
}

/// The daily rows the hourly deltas add to.
pub fn daily_deltas(hourly: &[(RollupKey, Figures)]) -> Vec<(DailyKey, Figures)> {
    let mut sums: std::collections::BTreeMap<DailyKey, Figures> = Default::default();
    for (key, figures) in hourly {
        sums.entry(key.daily()).or_default().add(figures);
    }
    sums.into_iter().collect()
}

/// The IAB / IAB Europe in-store retail media zones.
pub const VENUE_ZONES: [&str; 5] = ["exterior", "entrance", "checkout", "in_aisle", "other"];

/// Where one screen (or one zone of it) stands and how many people see each play.
#[derive(Clone, Debug, PartialEq)]
pub struct AudienceRow {
    pub screen: String,
    /// Empty for the whole screen.
    pub zone: String,
    pub venue_zone: String,
    pub multiplier_milli: i64,
    /// Where the multiplier comes from, like `door counter, Nov 2026 average`.
    pub source: String,
}

/// A dimension reports group and filter by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    Campaign,
    Offer,
    Arm,
    Creative,
    Playlist,
    Item,
    Store,
    Region,
    Screen,
    Zone,
    VenueZone,
    Hour,
    Day,
}

impl Dim {
    pub const ALL: [Dim; 13] = [
        Dim::Campaign,
        Dim::Offer,
        Dim::Arm,
        Dim::Creative,
        Dim::Playlist,
        Dim::Item,
        Dim::Store,
        Dim::Region,
        Dim::Screen,
        Dim::Zone,
        Dim::VenueZone,
        Dim::Hour,
        Dim::Day,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Campaign => "campaign",
            Dim::Offer => "offer",
            Dim::Arm => "arm",
            Dim::Creative => "creative",
            Dim::Playlist => "playlist",
            Dim::Item => "item",
            Dim::Store => "store",
            Dim::Region => "region",
            Dim::Screen => "screen",
            Dim::Zone => "zone",
            Dim::VenueZone => "venue_zone",
            Dim::Hour => "hour",
            Dim::Day => "day",
        }
    }

    pub fn parse(name: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|dim| dim.name() == name)
    }

    /// Whether the daily rollups carry it.
    fn in_daily(self) -> bool {
        !matches!(self, Dim::Creative | Dim::Playlist | Dim::Item | Dim::Hour)
    }

    /// The SQL expression of the dimension over the rollup table `r` joined with `stores s`.
    fn column(self, daily: bool) -> &'static str {
        match self {
            Dim::Campaign => "r.campaign",
            Dim::Offer => "r.offer",
            Dim::Arm => "r.arm",
            Dim::Creative => "r.creative",
            Dim::Playlist => "r.playlist",
            Dim::Item => "r.item_id",
            Dim::Store => "r.store",
            Dim::Region => "COALESCE(s.region, '')",
            Dim::Screen => "r.screen",
            Dim::Zone => "r.zone",
            Dim::VenueZone => "r.venue_zone",
            Dim::Hour => "r.local_hour",
            Dim::Day if daily => "r.local_day",
            Dim::Day => "substr(r.local_hour, 1, 10)",
        }
    }
}

/// What a report asks the rollups: the figures grouped by `dims`, over plays whose store-local
/// hour is in `[from_hour, to_hour)` (`YYYY-MM-DDTHH`), matching every filter, on the screens of
/// `stores` only when given (staff).
#[derive(Clone, Debug, Default)]
pub struct RollupQuery {
    pub dims: Vec<Dim>,
    pub filters: Vec<(Dim, String)>,
    pub from_hour: String,
    pub to_hour: String,
    pub stores: Option<Vec<String>>,
}

/// Whether a campaign, store, screen or region is one reports know: the SQL (its one parameter
/// `$1`, which SQLite reads as well as PostgreSQL) for `dim`, or `None` for a dimension any value
/// of which is accepted.
pub fn known_sql(dim: Dim) -> Option<&'static str> {
    Some(match dim {
        Dim::Campaign => {
            "SELECT EXISTS (SELECT 1 FROM play_rollups_daily WHERE campaign = $1)
             OR EXISTS (SELECT 1 FROM campaigns WHERE name = $1)"
        }
        Dim::Store => {
            "SELECT EXISTS (SELECT 1 FROM play_rollups_daily WHERE store = $1)
             OR EXISTS (SELECT 1 FROM stores WHERE code = $1)"
        }
        Dim::Screen => {
            "SELECT EXISTS (SELECT 1 FROM play_rollups_daily WHERE screen = $1)
             OR EXISTS (SELECT 1 FROM screens WHERE name = $1)"
        }
        Dim::Region => "SELECT EXISTS (SELECT 1 FROM stores WHERE region = $1)",
        _ => return None,
    })
}

/// One group of a rollup query: the dims' values, in the query's order, and the figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RollupRow {
    pub values: Vec<String>,
    pub figures: Figures,
}

impl RollupQuery {
    /// The SQL and its text parameters, with placeholders written by `placeholder(n)` (1-based):
    /// `?n` for SQLite, `$n` for PostgreSQL. Reads the daily rollups when every dimension and
    /// filter is in them and the range is whole days.
    pub fn sql(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<String>) {
        let whole_days = self.from_hour.ends_with("T00") && self.to_hour.ends_with("T00");
        let daily = whole_days
            && self.dims.iter().all(|dim| dim.in_daily())
            && self.filters.iter().all(|(dim, _)| dim.in_daily());
        let table = if daily {
            "play_rollups_daily"
        } else {
            "play_rollups"
        };
        let mut parameters = Vec::new();
        let bind = |value: String, parameters: &mut Vec<String>| {
            parameters.push(value);
            placeholder(parameters.len())
        };
        let mut conditions = Vec::new();
        if daily {
            let from = bind(self.from_hour[..10].to_owned(), &mut parameters);
            let to = bind(self.to_hour[..10].to_owned(), &mut parameters);
            conditions.push(format!("r.local_day >= {from} AND r.local_day < {to}"));
        } else {
            let from = bind(self.from_hour.clone(), &mut parameters);
            let to = bind(self.to_hour.clone(), &mut parameters);
            conditions.push(format!("r.local_hour >= {from} AND r.local_hour < {to}"));
        }
        for (dim, value) in &self.filters {
            let value = bind(value.clone(), &mut parameters);
            conditions.push(format!("{} = {value}", dim.column(daily)));
        }
        let stores = store_condition(&self.stores, &mut parameters, "r.store", &placeholder);
        if let Some(condition) = stores.strip_prefix(" AND ") {
            conditions.push(condition.to_owned());
        }
        let columns: Vec<&str> = self.dims.iter().map(|dim| dim.column(daily)).collect();
        let mut select: Vec<String> = columns.iter().map(|column| (*column).to_owned()).collect();
        select.extend(
            [
                "plays",
                "completed",
                "delivered",
                "display_off",
                "play_ms",
                "impressions_milli",
                "scanned",
            ]
            .iter()
            .map(|measure| format!("CAST(SUM(r.{measure}) AS BIGINT)")),
        );
        let group = if columns.is_empty() {
            String::new()
        } else {
            format!(
                " GROUP BY {}",
                (1..=columns.len())
                    .map(|index| index.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let join = if self.dims.contains(&Dim::Region)
            || self.filters.iter().any(|(dim, _)| *dim == Dim::Region)
        {
            " LEFT JOIN stores s ON s.code = r.store"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {} FROM {table} r{join} WHERE {}{group}",
            select.join(", "),
            conditions.join(" AND ")
        );
        (sql, parameters)
    }
}

/// ` AND column IN (…)` for the stores a staff member may read (nothing for the admin), with the
/// stores added to `parameters` and written by `placeholder(n)`; no store at all matches nothing.
pub fn store_condition(
    stores: &Option<Vec<String>>,
    parameters: &mut Vec<String>,
    column: &str,
    placeholder: impl Fn(usize) -> String,
) -> String {
    match stores {
        None => String::new(),
        Some(stores) if stores.is_empty() => " AND 1 = 0".to_owned(),
        Some(stores) => {
            let list: Vec<String> = stores
                .iter()
                .map(|store| {
                    parameters.push(store.clone());
                    placeholder(parameters.len())
                })
                .collect();
            format!(" AND {column} IN ({})", list.join(", "))
        }
    }
}

/// Where one screen's chain stands on one store-local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainDay {
    pub screen: String,
    pub day: String,
    pub plays: u64,
    pub linked: u64,
    pub broken: u64,
    pub restarts: u64,
    pub pending: u64,
    pub unchained: u64,
    /// The first play of the day whose link does not hold (broken or restart): its sequence
    /// number and state.
    pub first_break: Option<(u64, String)>,
}

/// A [`ChainDay`] from its counts (plays, linked, broken, restarts, pending, unchained) and its
/// first break as `SEQUENCE STATE`, the sequence zero-padded so the text's minimum is the lowest.
pub fn chain_day(
    screen: String,
    day: String,
    counts: [i64; 6],
    first_break: Option<String>,
) -> Result<ChainDay, super::StorageError> {
    let count = |index: usize| super::from_sql_integer(counts[index], "chain count");
    let first_break = match first_break {
        None => None,
        Some(text) => {
            let (sequence, state) = text
                .trim()
                .split_once(' ')
                .ok_or_else(|| super::StorageError::CorruptRow(format!("chain break `{text}`")))?;
            let sequence = sequence.trim().parse().map_err(|error| {
                super::StorageError::CorruptRow(format!("chain break `{text}`: {error}"))
            })?;
            Some((sequence, state.to_owned()))
        }
    };
    Ok(ChainDay {
        screen,
        day,
        plays: count(0)?,
        linked: count(1)?,
        broken: count(2)?,
        restarts: count(3)?,
        pending: count(4)?,
        unchained: count(5)?,
        first_break,
    })
}

/// Reports, audiences, the raw ad log and the chain, over the plays and their rollups.
#[async_trait::async_trait]
pub trait PlayStore: Send + Sync {
    /// Sets the audience of each row's screen (or zone), replacing what it had. Returns how many
    /// rows were written.
    async fn set_audiences(&self, rows: Vec<AudienceRow>) -> Result<u64, super::StorageError>;

    /// The audience rows of `screen`, or of every screen, by screen and zone.
    async fn audiences(
        &self,
        screen: Option<String>,
    ) -> Result<Vec<AudienceRow>, super::StorageError>;

    /// The figures `query` asks for, from the rollups.
    async fn rollup(&self, query: RollupQuery) -> Result<Vec<RollupRow>, super::StorageError>;

    /// Whether any rollup row has `value` for `dim` (a campaign or store that once played).
    async fn rollups_know(&self, dim: Dim, value: String) -> Result<bool, super::StorageError>;

    /// One page of the raw ad log, plays in `[from_hour, to_hour)` of store time, ordered by
    /// hour then id, after `after` (the last page's [`PlayLogPage::next`]), at most `limit`.
    async fn play_log(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<PlayLogPage, super::StorageError>;

    /// Each screen's chain per store-local day in `[from_hour, to_hour)`.
    async fn chain_days(
        &self,
        from_hour: String,
        to_hour: String,
        stores: Option<Vec<String>>,
    ) -> Result<Vec<ChainDay>, super::StorageError>;

    /// Deletes raw plays of store-local hours before `before_hour`; rollups stay, and so do the
    /// plays' ids, so a batch re-sent later adds nothing. Returns how many went.
    async fn prune_plays(&self, before_hour: String) -> Result<u64, super::StorageError>;
}
