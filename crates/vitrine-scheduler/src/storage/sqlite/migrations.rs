//! The SQLite schema.

use rusqlite_migration::M;

/// The schema, one entry per migration; rusqlite_migration records how far a database has come in
/// `user_version`. Never edit a released entry: append a new one.
pub(crate) const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
    CREATE TABLE screens (
        name TEXT NOT NULL PRIMARY KEY,
        -- Device tokens are stored only as the hex sha256 of the token, so a leaked database does
        -- not leak credentials.
        token_sha256 TEXT NOT NULL UNIQUE,
        playlist TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    CREATE TABLE playlists (
        name TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        file_name TEXT NOT NULL,
        source TEXT NOT NULL,
        -- The push's media map, file name as written in the playlist -> sha256, as a JSON object.
        media TEXT NOT NULL CHECK (json_valid(media)),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (name, version)
    ) STRICT;

    CREATE TABLE media (
        sha256 TEXT NOT NULL PRIMARY KEY,
        size INTEGER NOT NULL CHECK (size >= 0),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    CREATE TABLE impressions (
        id TEXT NOT NULL PRIMARY KEY,
        screen TEXT NOT NULL REFERENCES screens (name),
        playlist TEXT NOT NULL,
        playlist_version INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        media_sha256 TEXT NOT NULL,
        -- RFC 3339 in UTC with exactly nine fractional digits, so text order is time order.
        started_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    CREATE INDEX impressions_by_screen_and_start ON impressions (screen, started_at);
    "#,
    ),
    M::up(
        r#"
    -- The screen's IANA time zone; empty means the playlist's own `timezone`, else UTC.
    ALTER TABLE screens ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
    -- The fragments the playlist includes, path as written -> YAML text, as a JSON object.
    ALTER TABLE playlists ADD COLUMN includes TEXT NOT NULL DEFAULT '{}';
    -- The validated playlist as JSON, so serving a manifest never re-reads YAML.
    ALTER TABLE playlists ADD COLUMN compiled TEXT;

    -- Text and clock items show no media file: media_sha256 becomes optional. SQLite cannot drop
    -- NOT NULL in place, so the table is rebuilt.
    CREATE TABLE impressions_v2 (
        id TEXT NOT NULL PRIMARY KEY,
        screen TEXT NOT NULL REFERENCES screens (name),
        playlist TEXT NOT NULL,
        playlist_version INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        media_sha256 TEXT,
        started_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    INSERT INTO impressions_v2 SELECT * FROM impressions;
    DROP TABLE impressions;
    ALTER TABLE impressions_v2 RENAME TO impressions;
    CREATE INDEX impressions_by_screen_and_start ON impressions (screen, started_at);
    "#,
    ),
    M::up(
        r#"
    -- HQ: stores, their customers' segment mix, the product feed, campaigns and QR scans.
    CREATE TABLE stores (
        code TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        region TEXT NOT NULL DEFAULT '',
        -- A JSON array of tag names.
        tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
        timezone TEXT NOT NULL,
        locale TEXT NOT NULL,
        currency TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    CREATE TABLE store_segments (
        store TEXT NOT NULL REFERENCES stores (code),
        segment TEXT NOT NULL,
        -- The share of the store's customers in the segment, 0 to 1.
        share REAL NOT NULL CHECK (share >= 0 AND share <= 1),
        PRIMARY KEY (store, segment)
    ) STRICT;

    ALTER TABLE screens ADD COLUMN store TEXT REFERENCES stores (code);
    -- A JSON array of tag names.
    ALTER TABLE screens ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

    CREATE TABLE products (
        id TEXT NOT NULL PRIMARY KEY,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        link TEXT NOT NULL DEFAULT '',
        image_link TEXT NOT NULL DEFAULT '',
        -- Prices in the smallest unit of `currency`.
        price_cents INTEGER NOT NULL,
        sale_price_cents INTEGER,
        currency TEXT NOT NULL,
        availability TEXT NOT NULL DEFAULT 'in_stock',
        brand TEXT NOT NULL DEFAULT '',
        gtin TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;

    -- Local inventory: stock and, where it differs, the price in one store.
    CREATE TABLE inventory (
        store TEXT NOT NULL REFERENCES stores (code),
        product TEXT NOT NULL REFERENCES products (id),
        quantity INTEGER NOT NULL,
        price_cents INTEGER,
        sale_price_cents INTEGER,
        currency TEXT,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (store, product)
    ) STRICT;

    CREATE TABLE campaigns (
        name TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        file_name TEXT NOT NULL,
        source TEXT NOT NULL,
        -- The push's media map, file name as written -> sha256, as a JSON object.
        media TEXT NOT NULL CHECK (json_valid(media)),
        -- The validated campaign as JSON.
        compiled TEXT NOT NULL CHECK (json_valid(compiled)),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (name, version)
    ) STRICT;

    -- Which offer an impression showed, for the scan reports; empty for other items.
    ALTER TABLE impressions ADD COLUMN offer_campaign TEXT;
    ALTER TABLE impressions ADD COLUMN offer_id TEXT;
    ALTER TABLE impressions ADD COLUMN offer_arm TEXT;

    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL,
        screen TEXT NOT NULL,
        campaign TEXT NOT NULL,
        offer TEXT NOT NULL,
        arm TEXT NOT NULL CHECK (arm IN ('treatment', 'control')),
        played_at TEXT NOT NULL,
        scanned_at TEXT NOT NULL,
        user_agent TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX scans_by_campaign ON scans (campaign, offer, arm);
    "#,
    ),
    M::up(
        r#"
    -- The newest heartbeat of each screen: what it plays and how well it draws.
    CREATE TABLE screen_status (
        screen TEXT NOT NULL PRIMARY KEY REFERENCES screens (name),
        received_at TEXT NOT NULL,
        body TEXT NOT NULL CHECK (json_valid(body))
    ) STRICT;
    "#,
    ),
    M::up(
        r#"
    -- Who may do what: a revoked screen's token is refused at once (its row and its impressions
    -- stay), store staff hold tokens scoped to a list of stores, and pairing codes let a player
    -- get its token from a code shown on its screen.
    ALTER TABLE screens ADD COLUMN revoked_at TEXT;

    CREATE TABLE staff (
        name TEXT NOT NULL PRIMARY KEY,
        -- Only the hex sha256 of the token, like screens.
        token_sha256 TEXT NOT NULL UNIQUE,
        -- A JSON array of store codes the token may act on.
        stores TEXT NOT NULL CHECK (json_valid(stores)),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        revoked_at TEXT
    ) STRICT;

    CREATE TABLE pairings (
        code TEXT NOT NULL PRIMARY KEY,
        -- The sha256 of the secret only the player knows; it polls with the secret.
        secret_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        -- Set when an admin or staff member confirms the code. The screen's token is made only
        -- when the player, holding the secret, picks it up, so no usable token waits at rest.
        screen TEXT,
        delivered_at TEXT
    ) STRICT;
    "#,
    ),
    M::up(
        r#"
    -- The full proof-of-play record: the player's sequence number, the zone, the scheduled start,
    -- the end, whether the play completed its turn and how far the player trusted its clock.
    -- Rows from before keep what they had: sequence 0, no zone, their start as the scheduled one.
    ALTER TABLE impressions ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE impressions ADD COLUMN zone TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN scheduled_start TEXT;
    ALTER TABLE impressions ADD COLUMN ended_at TEXT;
    ALTER TABLE impressions ADD COLUMN completed INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE impressions ADD COLUMN clock TEXT NOT NULL DEFAULT 'unknown';
    CREATE INDEX impressions_by_screen_and_sequence ON impressions (screen, sequence);

    -- Per screen, the highest sequence number up to which every play is held: what each
    -- acknowledgement reports, advanced as gaps fill.
    CREATE TABLE impression_sequences (
        screen TEXT NOT NULL PRIMARY KEY REFERENCES screens (name),
        highest INTEGER NOT NULL CHECK (highest >= 0)
    ) STRICT;
    "#,
    ),
    M::up(
        r#"
    -- QR hits: the hashed shopper device, and whether the hit is its device's first of the code.
    ALTER TABLE scans ADD COLUMN device TEXT NOT NULL DEFAULT '';
    ALTER TABLE scans ADD COLUMN first_of_device INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX scans_by_token ON scans (token, device);

    -- Who a playlist belongs to: NULL for HQ, else a JSON array of the store codes of the staff
    -- member who first pushed it. Staff assign and push only their stores' playlists.
    ALTER TABLE playlists ADD COLUMN owner_stores TEXT CHECK (owner_stores IS NULL OR json_valid(owner_stores));
    -- The screen tags HQ lets a staff member put on screens, as a JSON array.
    ALTER TABLE staff ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));

    -- Pairing requests by address and network prefix, so one network cannot hold every code.
    ALTER TABLE pairings ADD COLUMN address TEXT NOT NULL DEFAULT '';
    ALTER TABLE pairings ADD COLUMN prefix TEXT NOT NULL DEFAULT '';

    -- The offers each screen's manifests carried, per playlist version, so proof of play can
    -- only claim an offer the screen was given.
    CREATE TABLE served_offers (
        screen TEXT NOT NULL,
        playlist_version INTEGER NOT NULL,
        campaign TEXT NOT NULL,
        offer TEXT NOT NULL,
        arm TEXT NOT NULL,
        PRIMARY KEY (screen, playlist_version, campaign, offer, arm)
    ) STRICT, WITHOUT ROWID;
    -- Why an impression's offer was not counted: it names an offer its screen was never given.
    ALTER TABLE impressions ADD COLUMN offer_refused TEXT;

    -- Which stores' staff uploaded a blob, for the per-store media quota; blobs that HQ uploads
    -- have no row.
    CREATE TABLE media_stores (
        sha256 TEXT NOT NULL,
        store TEXT NOT NULL,
        PRIMARY KEY (sha256, store)
    ) STRICT, WITHOUT ROWID;
    "#,
    ),
    M::up(
        r#"
    -- How the scan report finds a scan's play: screen, offer, arm and the scheduled start to the
    -- millisecond, written exactly as `reports::offer_counts` writes it so SQLite uses it.
    CREATE INDEX impressions_by_play ON impressions
        (screen, offer_id, offer_arm, substr(COALESCE(scheduled_start, started_at), 1, 23));
    "#,
    ),
    M::up(
        r#"
    -- The whole Merchant Center product: the sale window (`START/END` as checked on import),
    -- unit pricing, multipack, the variant group, and everything else the feed said as JSON.
    ALTER TABLE products ADD COLUMN sale_window TEXT;
    ALTER TABLE products ADD COLUMN unit_measure TEXT;
    ALTER TABLE products ADD COLUMN unit_base_measure TEXT;
    ALTER TABLE products ADD COLUMN multipack INTEGER;
    ALTER TABLE products ADD COLUMN item_group_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE products ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
    -- Which feed last listed the product (`upload`, or a URL feed's name), and in which import:
    -- a replacing import removes what its source no longer lists, by setting `removed_at`.
    ALTER TABLE products ADD COLUMN source TEXT NOT NULL DEFAULT 'upload';
    ALTER TABLE products ADD COLUMN import_id INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE products ADD COLUMN removed_at TEXT;
    -- The product image in the media store, and the `image_link` it was fetched from: it is
    -- shown only while the feed still gives that link.
    ALTER TABLE products ADD COLUMN image_sha256 TEXT;
    ALTER TABLE products ADD COLUMN image_size INTEGER;
    ALTER TABLE products ADD COLUMN image_fetched_from TEXT;
    CREATE INDEX products_by_source ON products (source, import_id);

    -- Local inventory in Google's and Criteo's columns: a row may give an availability instead
    -- of a count (`quantity_given` = 0), and a sale window of its own.
    ALTER TABLE inventory ADD COLUMN sale_window TEXT;
    ALTER TABLE inventory ADD COLUMN availability TEXT NOT NULL DEFAULT '';
    ALTER TABLE inventory ADD COLUMN pickup_method TEXT NOT NULL DEFAULT '';
    ALTER TABLE inventory ADD COLUMN pickup_sla TEXT NOT NULL DEFAULT '';
    ALTER TABLE inventory ADD COLUMN quantity_given INTEGER NOT NULL DEFAULT 1;

    -- Product feeds fetched from a URL on a schedule, with what the last fetch said.
    CREATE TABLE feed_sources (
        name TEXT NOT NULL PRIMARY KEY,
        url TEXT NOT NULL,
        interval_seconds INTEGER NOT NULL CHECK (interval_seconds > 0),
        etag TEXT,
        last_modified TEXT,
        last_attempt_at TEXT,
        last_success_at TEXT,
        -- Empty after a good fetch; else the HTTP status or error, which is the feed's alert.
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;
    "#,
    ),
    M::up(
        r#"
    -- Proof of play a retail-media buyer accepts. Each play keeps where it ran when it reached HQ
    -- (store, the hour in store time, the IAB venue zone and the audience multiplier), the
    -- campaign it counts for, the manifest and player versions, the display's power state, the
    -- price an offer card showed, and its link in its screen's hash chain.
    ALTER TABLE impressions ADD COLUMN store TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN local_hour TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN venue_zone TEXT NOT NULL DEFAULT 'other';
    ALTER TABLE impressions ADD COLUMN multiplier_milli INTEGER NOT NULL DEFAULT 1000;
    -- The campaign the play counts for: its offer's (unless refused), else its fill's.
    ALTER TABLE impressions ADD COLUMN campaign TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN scheduled_end TEXT;
    ALTER TABLE impressions ADD COLUMN manifest_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE impressions ADD COLUMN player_version TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN display TEXT NOT NULL DEFAULT 'unknown';
    ALTER TABLE impressions ADD COLUMN price_cents INTEGER;
    ALTER TABLE impressions ADD COLUMN currency TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN digest TEXT;
    ALTER TABLE impressions ADD COLUMN previous TEXT;
    ALTER TABLE impressions ADD COLUMN chain TEXT NOT NULL DEFAULT 'none';
    -- An offer play's product stock at its store when its manifest was built.
    ALTER TABLE impressions ADD COLUMN stock INTEGER;
    ALTER TABLE served_offers ADD COLUMN stock INTEGER;
    UPDATE impressions SET
        local_hour = substr(started_at, 1, 13),
        campaign = CASE WHEN offer_id IS NOT NULL AND offer_refused IS NULL
                        THEN COALESCE(offer_campaign, '') ELSE '' END;
    CREATE INDEX impressions_by_local_hour ON impressions (local_hour, id);
    CREATE INDEX impressions_waiting_for_a_link ON impressions (screen, sequence)
        WHERE chain = 'pending';
    CREATE INDEX scans_by_play ON scans (screen, offer, arm, substr(played_at, 1, 23));

    -- Where each screen (or one zone of it) stands in the store and how many people see it: the
    -- IAB in-store zone, the audience multiplier in thousandths, and where the multiplier comes
    -- from. Zone '' is the whole screen.
    CREATE TABLE screen_audience (
        screen TEXT NOT NULL,
        zone TEXT NOT NULL DEFAULT '',
        venue_zone TEXT NOT NULL
            CHECK (venue_zone IN ('exterior', 'entrance', 'checkout', 'in_aisle', 'other')),
        multiplier_milli INTEGER NOT NULL CHECK (multiplier_milli >= 0),
        source TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (screen, zone)
    ) STRICT, WITHOUT ROWID;

    -- Plays summed per store-local hour, screen, store, zone, item, creative, campaign, offer,
    -- arm and venue zone, in the transaction that stores the plays: reports read these, so they
    -- stay fast however many plays are kept, and they outlive the raw plays' retention.
    CREATE TABLE play_rollups (
        local_hour TEXT NOT NULL,
        screen TEXT NOT NULL,
        store TEXT NOT NULL,
        zone TEXT NOT NULL,
        playlist TEXT NOT NULL,
        item_id TEXT NOT NULL,
        creative TEXT NOT NULL,
        campaign TEXT NOT NULL,
        offer TEXT NOT NULL,
        arm TEXT NOT NULL,
        venue_zone TEXT NOT NULL,
        plays INTEGER NOT NULL,
        completed INTEGER NOT NULL,
        delivered INTEGER NOT NULL,
        display_off INTEGER NOT NULL,
        play_ms INTEGER NOT NULL,
        impressions_milli INTEGER NOT NULL,
        scanned INTEGER NOT NULL,
        PRIMARY KEY (local_hour, screen, store, zone, playlist, item_id, creative, campaign,
                     offer, arm, venue_zone)
    ) STRICT, WITHOUT ROWID;
    -- The same per store-local day, without the item: what campaign, store and day reports read.
    CREATE TABLE play_rollups_daily (
        local_day TEXT NOT NULL,
        screen TEXT NOT NULL,
        store TEXT NOT NULL,
        zone TEXT NOT NULL,
        campaign TEXT NOT NULL,
        offer TEXT NOT NULL,
        arm TEXT NOT NULL,
        venue_zone TEXT NOT NULL,
        plays INTEGER NOT NULL,
        completed INTEGER NOT NULL,
        delivered INTEGER NOT NULL,
        display_off INTEGER NOT NULL,
        play_ms INTEGER NOT NULL,
        impressions_milli INTEGER NOT NULL,
        scanned INTEGER NOT NULL,
        PRIMARY KEY (local_day, screen, store, zone, campaign, offer, arm, venue_zone)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX play_rollups_daily_by_campaign ON play_rollups_daily (campaign, local_day);
    -- The ids of raw plays deleted past their retention: a batch re-sent after that is still
    -- recognised, so it adds nothing to the rollups a second time.
    CREATE TABLE pruned_impressions (id TEXT NOT NULL PRIMARY KEY) STRICT, WITHOUT ROWID;

    -- The plays already held, summed (in UTC hours: their store's zone was not recorded).
    INSERT INTO play_rollups
    SELECT local_hour, screen, '', zone, playlist, item_id, COALESCE(media_sha256, ''), campaign,
           CASE WHEN campaign <> '' AND offer_id IS NOT NULL AND offer_refused IS NULL
                THEN offer_id ELSE '' END,
           CASE WHEN campaign <> '' AND offer_id IS NOT NULL AND offer_refused IS NULL
                THEN offer_arm ELSE '' END,
           'other', COUNT(*), SUM(completed), SUM(completed), 0, SUM(duration_ms),
           SUM(completed) * 1000,
           SUM(offer_id IS NOT NULL AND offer_refused IS NULL AND EXISTS (SELECT 1 FROM scans
                       WHERE scans.screen = impressions.screen
                         AND scans.offer = impressions.offer_id
                         AND scans.arm = impressions.offer_arm
                         AND substr(scans.played_at, 1, 23)
                             = substr(COALESCE(impressions.scheduled_start,
                                               impressions.started_at), 1, 23)))
    FROM impressions
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;
    INSERT INTO play_rollups_daily
    SELECT substr(local_hour, 1, 10), screen, store, zone, campaign, offer, arm, venue_zone,
           SUM(plays), SUM(completed), SUM(delivered), SUM(display_off), SUM(play_ms),
           SUM(impressions_milli), SUM(scanned)
    FROM play_rollups
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    "#,
    ),
    // The latest screenshot each screen sent (`PUT /v1/screenshot`): one row per screen, replaced
    // by the next, gone with the screen.
    M::up(
        r#"
    CREATE TABLE screenshots (
        screen TEXT NOT NULL PRIMARY KEY REFERENCES screens (name) ON DELETE CASCADE,
        taken_at TEXT NOT NULL,
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        jpeg BLOB NOT NULL
    ) STRICT;
    "#,
    ),
    M::up(
        r#"
    -- The web console's sign-in sessions, by the sha256 of the cookie: a leaked database holds no
    -- usable cookie. Each acts as the token it was signed in with, and ends with it.
    CREATE TABLE console_sessions (
        id_sha256 TEXT NOT NULL PRIMARY KEY,
        token_sha256 TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT, WITHOUT ROWID;
    -- The console's live fleet asks for the screens heard from since its last look.
    CREATE INDEX screen_status_by_time ON screen_status (received_at);
    "#,
    ),
];
