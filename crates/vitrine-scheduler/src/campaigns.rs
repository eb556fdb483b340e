//! HQ campaigns: pushed as YAML (validated by `vitrine_core::campaign`), stored with versions, and
//! folded into the manifest of every screen they target.
//!
//! # Layering
//!
//! A screen shows what one engine decides, `vitrine_core::schedule`: of the rules of a zone that
//! apply, the highest priority wins. Layering is therefore a matter of priority bands, set here when
//! a manifest is built, so that the player needs no notion of campaigns at all:
//!
//! | layer | rule priority in the manifest |
//! |---|---|
//! | interrupt (an emergency pushed over `/v1/events`) | shown over everything by the player; [`INTERRUPT_BAND`] and up is reserved for it |
//! | HQ-locked campaign (`layer: locked`, the default) | [`HQ_LOCKED_BAND`] + its `priority` |
//! | the store's own playlist rules | their `priority`, clamped to ±[`STORE_PRIORITY_LIMIT`] |
//! | HQ default campaign (`layer: default`) | [`HQ_DEFAULT_BAND`] + its `priority` |
//! | fallback | nothing applies: the player's fallback asset |
//!
//! A campaign's `priority` is clamped to ±[`CAMPAIGN_PRIORITY_LIMIT`], so it orders campaigns
//! within their layer and never crosses into another.
//!
//! # A campaign as a rule
//!
//! A campaign with `fill` items becomes one interrupt rule on its zone, named `campaign:NAME`,
//! carrying its dates, weekdays and dayparts (renamed `NAME/DAYPART` in the playlist's dayparts so
//! they cannot clash with the store's). Its period makes the share it asks for:
//! - `share_of_voice: P` -> every `fill length / P`, so the fill takes P of the zone's time;
//! - `loop_slots: N` -> every `store loop length / N + fill length`, so the fill comes back N times
//!   per store loop;
//! - a `frequency_cap` of `max` per `per` stretches the period to at least `per / max`.
//!
//! Offer pools fill the playlist's offer slots; see [`crate::offers`].

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use vitrine_core::campaign::{Campaign, Layer, Share, Targets};
use vitrine_core::manifest::StoreInfo;
use vitrine_core::playlist::{Content, Daypart, Item, Origin, Rule, RuleKind};
use vitrine_core::{ItemDuration, Manifest, parse_campaign};

use crate::AppState;
use crate::api::Publish;
use crate::auth::Admin;
use crate::catalog::{ScreenRecord, StoreRecord};
use crate::error::ApiError;
use crate::reads::Reads;
pub use crate::storage::campaigns::StoredCampaign;
use crate::storage::screens::Screen;
pub use vitrine_wire::campaigns::{
    CampaignDetail, CampaignList, CampaignStored, CampaignSummary, CampaignVersion, PushCampaign,
};

/// Priorities from here up are kept for interrupts; no campaign or store rule reaches them.
pub const INTERRUPT_BAND: i32 = 3_000_000;
/// HQ-locked campaigns: above every store rule.
pub const HQ_LOCKED_BAND: i32 = 2_000_000;
/// HQ default campaigns: below every store rule.
pub const HQ_DEFAULT_BAND: i32 = -2_000_000;
/// Store rule priorities are clamped to ± this in manifests.
pub const STORE_PRIORITY_LIMIT: i32 = 999_999;
/// Campaign priorities are clamped to ± this inside their band.
pub const CAMPAIGN_PRIORITY_LIMIT: i32 = 999_999;

/// The largest `POST /v1/campaigns` body.
pub const CAMPAIGN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The priority a campaign's rule gets in a manifest.
pub fn rule_priority(campaign: &Campaign) -> i32 {
    let own = campaign
        .priority
        .clamp(-CAMPAIGN_PRIORITY_LIMIT, CAMPAIGN_PRIORITY_LIMIT);
    match campaign.layer {
        Layer::Locked => HQ_LOCKED_BAND + own,
        Layer::Default => HQ_DEFAULT_BAND + own,
    }
}

/// Every media file a campaign names.
pub fn campaign_media(campaign: &Campaign) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = campaign
        .fill
        .iter()
        .filter_map(|item| item.file().map(str::to_owned))
        .collect();
    for pool in &campaign.offer_pools {
        for offer in &pool.offers {
            files.extend(offer.image.clone());
            if let Some(control) = &offer.control {
                files.extend(control.image.clone());
            }
        }
    }
    files
}

/// `POST /v1/campaigns`: validates a campaign and stores it as the next version of its name. A
/// refused campaign changes nothing, and every screen it targets hears of a stored one.
#[utoipa::path(
    post,
    path = "/v1/campaigns",
    tag = "hq",
    request_body = crate::campaigns::PushCampaign,
    responses(
        (status = 201, description = "Stored as a new version", body = crate::campaigns::CampaignStored),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `missing_media`, `validation_timeout`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn push_campaign(
    State(state): State<AppState>,
    admin: Admin,
    body: Result<Json<PushCampaign>, JsonRejection>,
) -> Result<(StatusCode, Json<CampaignStored>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, CAMPAIGN_BODY_LIMIT))?;
    let stored = store_campaign(&state, &admin, request, Publish::Store).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `POST /v1/campaigns`'s work, for the API and the console alike: parses and checks `request`,
/// then stores it as the next version of its name unless `publish` says only to check (the
/// answer's version is then 0). Only the admin may: hence the [`Admin`] it takes.
pub async fn store_campaign(
    state: &AppState,
    _admin: &Admin,
    request: PushCampaign,
    publish: Publish,
) -> Result<CampaignStored, ApiError> {
    let parsed = crate::validation::off_worker({
        let (file_name, source) = (request.file_name.clone(), request.source.clone());
        move || parse_campaign(&file_name, &source)
    })
    .await?
    .map_err(ApiError::invalid_playlist)?;
    let campaign = parsed.value;
    let stored = state
        .storage()
        .stored_media(request.media.values().cloned().collect())
        .await?;
    let missing: Vec<String> = campaign_media(&campaign)
        .into_iter()
        .filter(|file| {
            !request
                .media
                .get(file)
                .is_some_and(|sha256| stored.contains(sha256))
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_media",
            format!(
                "campaign `{}` names media the scheduler does not have: {}; upload each with \
                 `PUT /v1/media/{{sha256}}` and list it in the request's media map \
                 (`vitrine campaign push` does both)",
                campaign.name,
                missing.join(", ")
            ),
        ));
    }
    if publish == Publish::Check {
        return Ok(CampaignStored {
            name: campaign.name,
            version: 0,
            warnings: parsed.warnings,
        });
    }
    let compiled = serde_json::to_string(&campaign)
        .map_err(|error| ApiError::internal("serialising a campaign", error))?;
    let version = state
        .storage()
        .insert_campaign(
            campaign.name.clone(),
            request.file_name,
            request.source,
            request.media,
            compiled,
        )
        .await?;
    tracing::info!(campaign = %campaign.name, version, "stored a campaign");
    Ok(CampaignStored {
        name: campaign.name,
        version,
        warnings: parsed.warnings,
    })
}

/// `GET /v1/campaigns`: the newest version of every campaign.
#[utoipa::path(
    get,
    path = "/v1/campaigns",
    tag = "hq",
    responses(
        (status = 200, description = "Every campaign", body = crate::campaigns::CampaignList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_campaigns(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<CampaignList>, ApiError> {
    let campaigns = state
        .storage()
        .latest_campaigns()
        .await?
        .into_iter()
        .map(|stored| CampaignSummary {
            name: stored.campaign.name.clone(),
            version: stored.version,
            layer: stored.campaign.layer,
            priority: stored.campaign.priority,
            from: stored.campaign.from,
            until: stored.campaign.until,
            offers: stored
                .campaign
                .offer_pools
                .iter()
                .map(|pool| pool.offers.len())
                .sum(),
            targets: stored.campaign.targets,
            created_at: stored.created_at,
        })
        .collect();
    Ok(Json(CampaignList { campaigns }))
}

/// `GET /v1/campaigns/{name}`: the newest version of one campaign, its source and its history.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{name}",
    tag = "hq",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "The campaign's newest version and its history", body = crate::campaigns::CampaignDetail),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `campaign_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn show_campaign(
    State(state): State<AppState>,
    _admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignDetail>, ApiError> {
    let Path(name) = path?;
    let Some(stored) = state.storage().campaign_detail(name.clone()).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "campaign_not_found",
            format!(
                "no campaign called `{}`; `vitrine campaign list` shows those stored",
                name.chars().take(80).collect::<String>()
            ),
        ));
    };
    Ok(Json(CampaignDetail {
        name: stored.name,
        version: stored.version,
        file_name: stored.file_name,
        source: stored.source,
        media: stored.media,
        campaign: stored.campaign,
        created_at: stored.created_at,
        versions: stored
            .versions
            .into_iter()
            .map(|version| CampaignVersion {
                version: version.version,
                created_at: version.created_at,
            })
            .collect(),
    }))
}

/// Why a campaign targets a screen, or `None` when it does not.
pub fn targeting_reason(
    targets: &Targets,
    screen: &ScreenRecord,
    store: Option<&StoreRecord>,
) -> Option<String> {
    if targets.all {
        return Some("it targets all screens".into());
    }
    if targets.screens.contains(&screen.name) {
        return Some(format!("it targets screen `{}`", screen.name));
    }
    if let Some(store) = store {
        if targets.stores.contains(&store.code) {
            return Some(format!("it targets store `{}`", store.code));
        }
        if !store.region.is_empty() && targets.regions.contains(&store.region) {
            return Some(format!("it targets region `{}`", store.region));
        }
    }
    let store_tags = store.map(|store| store.tags.as_slice()).unwrap_or_default();
    screen
        .tags
        .iter()
        .chain(store_tags)
        .find(|tag| targets.tags.contains(tag))
        .map(|tag| format!("it targets tag `{tag}`"))
}

/// The key under which a campaign's media file goes into a manifest's `media`, so that it can
/// never clash with a file of the store's playlist.
pub fn media_key(campaign: &str, file: &str) -> String {
    format!("campaign/{campaign}/{file}")
}

/// Everything about a screen that campaigns and offers depend on.
#[derive(Clone, Debug)]
pub struct ScreenContext {
    pub screen: ScreenRecord,
    pub store: Option<StoreRecord>,
    pub segments: BTreeMap<String, f64>,
    /// The campaigns that target it, with why.
    pub campaigns: Vec<(StoredCampaign, String)>,
    /// Those that do not, with the reason for explain.
    pub not_targeted: Vec<String>,
}

/// Loads a screen's context: its store, the store's segment mix, and the campaigns targeting it.
pub async fn screen_context(
    state: &AppState,
    name: &str,
) -> Result<Option<ScreenContext>, ApiError> {
    screen_context_from(state, &Reads::new(state), name).await
}

/// [`screen_context`], reading what many screens share through `reads`.
pub async fn screen_context_from(
    state: &AppState,
    reads: &Reads,
    name: &str,
) -> Result<Option<ScreenContext>, ApiError> {
    let Some(screen) = reads.screen(state, name).await? else {
        return Ok(None);
    };
    let store = match &screen.store {
        Some(code) => reads.store(state, code).await?,
        None => None,
    };
    let segments = match &store {
        Some(store) => reads.segments(state, &store.code).await?,
        None => BTreeMap::new(),
    };
    let mut campaigns = Vec::new();
    let mut not_targeted = Vec::new();
    for stored in reads.campaigns(state).await?.iter() {
        match targeting_reason(&stored.campaign.targets, &screen, store.as_ref()) {
            Some(reason) => campaigns.push((stored.clone(), reason)),
            None => not_targeted.push(stored.campaign.name.clone()),
        }
    }
    Ok(Some(ScreenContext {
        screen,
        store,
        segments,
        campaigns,
        not_targeted,
    }))
}

/// The store's stock of each offer's product a manifest was built with, by campaign and offer.
pub type OfferStocks = BTreeMap<(String, String), i64>;

/// Adds HQ's layer to a screen's manifest: the store's time zone and currency, the campaigns that
/// target the screen as rules in their priority band, and the offer rotations of its slots. `now`
/// fixes the days the offers' validity windows cover. Returns the stock each offer was included
/// with, which proof of play records beside the price a card showed.
pub async fn apply(
    state: &AppState,
    reads: &Reads,
    screen: &Screen,
    manifest: &mut Manifest,
    now: Timestamp,
) -> Result<OfferStocks, ApiError> {
    let Some(context) = screen_context_from(state, reads, &screen.name).await? else {
        return Ok(OfferStocks::new());
    };
    if let Some(store) = &context.store {
        // The screen's own zone wins; a screen without one takes its store's.
        if screen.timezone.is_empty() {
            manifest.timezone = store.timezone.clone();
        }
        manifest.store = Some(StoreInfo {
            code: store.code.clone(),
            locale: store.locale.clone(),
            currency: store.currency.clone(),
        });
    }
    manifest.qr_base_url = state.public_url().map(str::to_owned);
    for zone in &mut manifest.playlist.zones {
        for rule in &mut zone.rules {
            rule.priority = rule
                .priority
                .clamp(-STORE_PRIORITY_LIMIT, STORE_PRIORITY_LIMIT);
        }
    }
    for (stored, _) in &context.campaigns {
        add_campaign_rule(manifest, stored);
    }
    let build = crate::offers::build(state, reads, &context, manifest, now).await?;
    for (slot, rotation) in build.rotations {
        manifest.offers.insert(slot, rotation);
    }
    for (key, entry) in build.media {
        manifest.media.insert(key, entry);
    }
    Ok(build
        .included
        .into_iter()
        .filter_map(|included| {
            let stock = included.stock?;
            Some(((included.campaign, included.offer_id), stock))
        })
        .collect())
}

/// Adds a campaign's fill as an interrupt rule on its zone, in its layer's band.
fn add_campaign_rule(manifest: &mut Manifest, stored: &StoredCampaign) {
    let campaign = &stored.campaign;
    if campaign.fill.is_empty() {
        return;
    }
    let Some(zone_index) = manifest
        .playlist
        .zones
        .iter()
        .position(|zone| zone.name == campaign.zone)
    else {
        tracing::debug!(
            campaign = %campaign.name,
            zone = %campaign.zone,
            "the screen's playlist has no such zone; the campaign's fill is left out"
        );
        return;
    };
    let audio_zone = manifest.playlist.zones[zone_index].audio_only;
    let mut items = Vec::new();
    for item in &campaign.fill {
        // Sound goes to an audio-only zone and pictures to the others: an audio fill in a zone
        // with a picture would hold the screen on its last frame, silent, for its whole turn.
        if matches!(item.content, Content::Audio { .. }) != audio_zone {
            tracing::warn!(
                campaign = %campaign.name,
                zone = %campaign.zone,
                item = %item.id,
                "a fill item that does not fit the zone (sound in a zone with a picture, or a \
                 picture in an audio-only zone) is left out"
            );
            continue;
        }
        let mut item: Item = item.clone();
        item.id = format!("{}/{}", campaign.name, item.id);
        if let Some(file) = item.file().map(str::to_owned) {
            let key = media_key(&campaign.name, &file);
            let Some(entry) = stored.media.get(&file) else {
                // Checked at push; a blob gone since is skipped rather than breaking the manifest.
                continue;
            };
            manifest.media.insert(key.clone(), entry.clone());
            match &mut item.content {
                Content::Image { media, .. }
                | Content::Video { media, .. }
                | Content::Audio { media, .. } => media.file = key,
                Content::Text { .. } | Content::Clock { .. } | Content::Offer { .. } => {}
            }
        }
        items.push(item);
    }
    if items.is_empty() {
        return;
    }
    let fill_ms: u64 = items.iter().map(|item| item.duration.as_millis()).sum();
    let zone = &manifest.playlist.zones[zone_index];
    let mut every_ms = match campaign.share {
        Share::Voice(percent) => fill_ms * 10_000 / u64::from(percent.hundredths().max(1)),
        Share::LoopSlots(slots) => {
            let store_loop_ms = zone
                .rules
                .iter()
                .filter(|rule| !rule.is_interrupt())
                .map(Rule::total_duration_ms)
                .max()
                .unwrap_or(0);
            store_loop_ms / u64::from(slots.max(1)) + fill_ms
        }
    };
    if let Some(cap) = campaign.frequency_cap {
        every_ms = every_ms.max(cap.per.as_millis() / u64::from(cap.max.max(1)));
    }
    let day_ms = 24 * 3_600_000;
    let every_ms = every_ms.clamp(fill_ms, day_ms);
    let mut daypart_names = Vec::new();
    for daypart in &campaign.dayparts {
        let name = format!("{}/{}", campaign.name, daypart.name);
        if manifest.playlist.daypart(&name).is_none() {
            manifest.playlist.dayparts.push(Daypart {
                name: name.clone(),
                span: daypart.span,
                origin: Origin::default(),
            });
        }
        daypart_names.push(name);
    }
    manifest.playlist.zones[zone_index].rules.push(Rule {
        name: format!("campaign:{}", campaign.name),
        kind: RuleKind::Interrupt {
            every: ItemDuration::from_millis(every_ms),
        },
        priority: rule_priority(campaign),
        from: Some(campaign.from),
        until: campaign.until,
        weekdays: campaign.weekdays,
        dayparts: daypart_names,
        items,
        origin: Origin::default(),
    });
}

#[cfg(test)]
mod tests {
    use vitrine_core::{MediaEntry, Sha256Hex};

    use super::*;

    fn screen(name: &str, store: Option<&str>, tags: &[&str]) -> ScreenRecord {
        ScreenRecord {
            name: name.into(),
            playlist: "p".into(),
            timezone: String::new(),
            store: store.map(str::to_owned),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            created_at: String::new(),
        }
    }

    fn store(code: &str, region: &str, tags: &[&str]) -> StoreRecord {
        StoreRecord {
            code: code.into(),
            name: code.into(),
            region: region.into(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            timezone: "Europe/Paris".into(),
            locale: "fr-FR".into(),
            currency: "EUR".into(),
        }
    }

    #[test]
    fn the_targeting_matrix() {
        let paris = store("paris-11", "ile-de-france", &["city"]);
        let lyon = store("lyon-2", "auvergne-rhone-alpes", &[]);
        let entrance = screen("paris-11.entrance", Some("paris-11"), &["entrance"]);
        let checkout = screen("lyon-2.checkout", Some("lyon-2"), &["checkout"]);
        let loose = screen("lobby", None, &[]);
        let targets = |all, stores: &[&str], regions: &[&str], tags: &[&str], screens: &[&str]| {
            let owned = |list: &[&str]| list.iter().map(|item| (*item).to_owned()).collect();
            Targets {
                all,
                stores: owned(stores),
                regions: owned(regions),
                tags: owned(tags),
                screens: owned(screens),
            }
        };
        let cases = [
            (targets(true, &[], &[], &[], &[]), [true, true, true]),
            (
                targets(false, &["paris-11"], &[], &[], &[]),
                [true, false, false],
            ),
            (
                targets(false, &[], &["ile-de-france"], &[], &[]),
                [true, false, false],
            ),
            (
                targets(false, &[], &[], &["checkout"], &[]),
                [false, true, false],
            ),
            // A store's tags count for its screens.
            (
                targets(false, &[], &[], &["city"], &[]),
                [true, false, false],
            ),
            (
                targets(false, &[], &[], &[], &["lobby"]),
                [false, false, true],
            ),
            (
                targets(false, &["nowhere"], &["mars"], &["x"], &["y"]),
                [false, false, false],
            ),
        ];
        for (targets, expected) in cases {
            let actual = [
                targeting_reason(&targets, &entrance, Some(&paris)).is_some(),
                targeting_reason(&targets, &checkout, Some(&lyon)).is_some(),
                targeting_reason(&targets, &loose, None).is_some(),
            ];
            assert_eq!(actual, expected, "{targets:?}");
        }
    }

    #[test]
    fn an_audio_fill_plays_in_the_audio_zone_and_pictures_stay_out_of_it() {
        let playlist = vitrine_core::parse_playlist(
            "shop.yaml",
            "version: 1\nname: shop\nlayout:\n  main:\n    items: [text: { text: Hello, duration: 30s }]\n  music:\n    audio_only: true\n    items: [audio: { file: song.ogg, duration: 3m }]\n",
        )
        .unwrap();
        let stored = |source: &str, media: &[&str]| StoredCampaign {
            version: 1,
            campaign: parse_campaign("c.yaml", source).unwrap().value,
            media: media
                .iter()
                .map(|file| {
                    let entry = MediaEntry {
                        sha256: Sha256Hex::of_bytes(file.as_bytes()),
                        size: 6,
                    };
                    ((*file).to_owned(), entry)
                })
                .collect(),
            created_at: String::new(),
        };
        let campaign = |name: &str, zone: &str, item: &str| {
            format!(
                "version: 1\nname: {name}\ntargets: {{ all: true }}\nfrom: 2026-01-01\nzone: {zone}\nshare_of_voice: 5%\nfill:\n  - {item}\n"
            )
        };
        let jingle = "audio: { file: jingle.ogg, duration: 6s }";
        let banner = "text: { text: Sale, duration: 6s }";
        let rule = |campaign: &StoredCampaign| {
            let mut manifest = Manifest::build("s", "Europe/Paris", &playlist, 1, |_| {
                Some(MediaEntry {
                    sha256: Sha256Hex::of_bytes(b"song"),
                    size: 1,
                })
            })
            .unwrap();
            add_campaign_rule(&mut manifest, campaign);
            let zone = manifest.playlist.zone(&campaign.campaign.zone).unwrap();
            let rule = zone
                .rules
                .iter()
                .find(|rule| rule.name.starts_with("campaign:"))?;
            Some((rule.items[0].id.clone(), rule.kind))
        };
        // In the music zone the jingle interrupts the songs, 6 s in every 2 min (5% of the time).
        let (item, kind) = rule(&stored(&campaign("j", "music", jingle), &["jingle.ogg"])).unwrap();
        assert_eq!(item, "j/item-1");
        assert_eq!(
            kind,
            RuleKind::Interrupt {
                every: ItemDuration::from_millis(120_000)
            }
        );
        // Aimed at the zone with a picture it is left out, rather than freeze the screen silent;
        // a picture aimed at the music zone is left out too.
        assert_eq!(
            rule(&stored(&campaign("j", "main", jingle), &["jingle.ogg"])),
            None
        );
        assert_eq!(rule(&stored(&campaign("b", "music", banner), &[])), None);
        assert!(rule(&stored(&campaign("b", "main", banner), &[])).is_some());
        // A fill that mixes both is refused when it is pushed.
        let mixed = "version: 1\nname: m\ntargets: { all: true }\nfrom: 2026-01-01\nzone: music\nshare_of_voice: 5%\nfill:\n  - audio: { file: jingle.ogg, duration: 6s }\n  - text: { text: Sale, duration: 6s }\n";
        let error = parse_campaign("m.yaml", mixed).unwrap_err().to_string();
        assert!(error.contains("mixes audio items with pictures"), "{error}");
    }

    #[test]
    fn layers_never_cross() {
        let campaign = |layer, priority| {
            let mut campaign = parse_campaign(
                "c.yaml",
                "version: 1\nname: c\ntargets: { all: true }\nfrom: 2026-01-01\nloop_slots: 1\nfill:\n  - text: { text: Hi, duration: 5s }\n",
            )
            .unwrap()
            .value;
            campaign.layer = layer;
            campaign.priority = priority;
            campaign
        };
        let lowest_locked = rule_priority(&campaign(Layer::Locked, i32::MIN));
        let highest_default = rule_priority(&campaign(Layer::Default, i32::MAX));
        assert!(lowest_locked > STORE_PRIORITY_LIMIT);
        assert!(highest_default < -STORE_PRIORITY_LIMIT);
        assert!(rule_priority(&campaign(Layer::Locked, i32::MAX)) < INTERRUPT_BAND);
    }
}
