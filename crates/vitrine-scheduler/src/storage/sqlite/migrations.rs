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
];
