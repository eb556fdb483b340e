-- The PostgreSQL schema: the same model as the SQLite one (src/storage/sqlite/migrations.rs), in
-- PostgreSQL's own types. refinery records how far a database has come in
-- `refinery_schema_history`. Never edit a released file: add the next `V<n>__<what>.sql`.
--
-- Times are `timestamptz`, JSON documents `jsonb`, flags `boolean`. Uniqueness that SQLite gets
-- from a writer lock is a constraint here: two replicas inserting the same version of a playlist
-- collide on the primary key and the loser tries the next number.

-- part: catalog
-- HQ's stores and their customers' segment mix.
CREATE TABLE stores (
    code text NOT NULL PRIMARY KEY,
    name text NOT NULL,
    region text NOT NULL DEFAULT '',
    -- Tag names, as a JSON array.
    tags jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    timezone text NOT NULL,
    locale text NOT NULL,
    currency text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE store_segments (
    store text NOT NULL REFERENCES stores (code),
    segment text NOT NULL,
    -- The share of the store's customers in the segment, 0 to 1.
    share double precision NOT NULL CHECK (share >= 0 AND share <= 1),
    PRIMARY KEY (store, segment)
);

-- part: screens
CREATE TABLE screens (
    name text NOT NULL PRIMARY KEY,
    -- Only the hex sha256 of the device token, so a leaked database does not leak credentials.
    token_sha256 text NOT NULL UNIQUE,
    playlist text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The screen's IANA time zone; empty means the playlist's own `timezone`, else UTC.
    timezone text NOT NULL DEFAULT '',
    store text REFERENCES stores (code),
    -- Tag names, as a JSON array.
    tags jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    revoked_at timestamptz
);

-- The newest heartbeat of each screen: what it plays and how well it draws.
CREATE TABLE screen_status (
    screen text NOT NULL PRIMARY KEY REFERENCES screens (name),
    received_at timestamptz NOT NULL,
    body jsonb NOT NULL
);

-- part: playlists
CREATE TABLE playlists (
    name text NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    file_name text NOT NULL,
    source text NOT NULL,
    -- The push's media map, file name as written in the playlist -> sha256.
    media jsonb NOT NULL CHECK (jsonb_typeof(media) = 'object'),
    -- The fragments the playlist includes, path as written -> YAML text.
    includes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(includes) = 'object'),
    -- The validated playlist as JSON, so serving a manifest never re-reads YAML.
    compiled text,
    -- NULL for HQ, else the store codes of the staff member who first pushed it.
    owner_stores jsonb CHECK (owner_stores IS NULL OR jsonb_typeof(owner_stores) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- part: media
CREATE TABLE media (
    sha256 text NOT NULL PRIMARY KEY,
    size bigint NOT NULL CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Which stores' staff uploaded a blob, for the per-store media quota; HQ's blobs have no row.
CREATE TABLE media_stores (
    sha256 text NOT NULL,
    store text NOT NULL,
    PRIMARY KEY (sha256, store)
);
CREATE INDEX media_stores_by_store ON media_stores (store);

-- part: impressions
-- Proof of play, partitioned by the day (UTC) the play started: a partition per day is created
-- before the first row of that day is written (`impressions_YYYYMMDD`), so old days can be
-- detached or dropped whole. The primary key must hold the partition key; `impression_ids` keeps
-- each id once across all partitions, which is what makes a re-sent batch count once.
CREATE TABLE impression_ids (
    id text NOT NULL PRIMARY KEY
);

CREATE TABLE impressions (
    id text NOT NULL,
    screen text NOT NULL REFERENCES screens (name),
    playlist text NOT NULL,
    playlist_version bigint NOT NULL,
    item_id text NOT NULL,
    -- Text and clock items show no media file.
    media_sha256 text,
    started_at timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- Which offer the play showed, for the scan reports; NULL for other items.
    offer_campaign text,
    offer_id text,
    offer_arm text,
    -- Why the offer was not counted: it names an offer its screen was never given.
    offer_refused text,
    -- The player's sequence number, the zone, the scheduled start, the end, whether the play
    -- completed its turn and how far the player trusted its clock.
    sequence bigint NOT NULL DEFAULT 0,
    zone text NOT NULL DEFAULT '',
    scheduled_start timestamptz,
    ended_at timestamptz,
    completed boolean NOT NULL DEFAULT true,
    clock text NOT NULL DEFAULT 'unknown',
    PRIMARY KEY (id, started_at)
) PARTITION BY RANGE (started_at);

CREATE INDEX impressions_by_screen_and_start ON impressions (screen, started_at);
CREATE INDEX impressions_by_screen_and_sequence ON impressions (screen, sequence);
CREATE INDEX impressions_by_offer ON impressions (screen, offer_id, offer_arm);
-- How the scan report finds a scan's play: screen, offer, arm and the scheduled start to the
-- millisecond, written exactly as `reports::offer_counts` writes it so the planner uses it.
CREATE INDEX impressions_by_play ON impressions
    (screen, offer_id, offer_arm,
     date_trunc('milliseconds', timezone('UTC', COALESCE(scheduled_start, started_at))));

-- Per screen, the highest sequence number up to which every play is held.
CREATE TABLE impression_sequences (
    screen text NOT NULL PRIMARY KEY REFERENCES screens (name),
    highest bigint NOT NULL CHECK (highest >= 0)
);

-- The offers each screen's manifests carried, per playlist version, so proof of play can only
-- claim an offer the screen was given.
CREATE TABLE served_offers (
    screen text NOT NULL,
    playlist_version bigint NOT NULL,
    campaign text NOT NULL,
    offer text NOT NULL,
    arm text NOT NULL,
    PRIMARY KEY (screen, playlist_version, campaign, offer, arm)
);

-- part: catalog
CREATE TABLE products (
    id text NOT NULL PRIMARY KEY,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    link text NOT NULL DEFAULT '',
    image_link text NOT NULL DEFAULT '',
    -- Prices in the smallest unit of `currency`.
    price_cents bigint NOT NULL,
    sale_price_cents bigint,
    currency text NOT NULL,
    availability text NOT NULL DEFAULT 'in_stock',
    brand text NOT NULL DEFAULT '',
    gtin text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The sale window (`START/END` as checked on import), unit pricing, multipack, the variant
    -- group, and everything else the feed said.
    sale_window text,
    unit_measure text,
    unit_base_measure text,
    multipack bigint,
    item_group_id text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}',
    -- Which feed last listed the product (`upload`, or a URL feed's name), and in which import:
    -- a replacing import removes what its source no longer lists, by setting `removed_at`.
    source text NOT NULL DEFAULT 'upload',
    import_id bigint NOT NULL DEFAULT 0,
    removed_at timestamptz,
    -- The product image in the media store, and the `image_link` it was fetched from.
    image_sha256 text,
    image_size bigint,
    image_fetched_from text
);
CREATE INDEX products_by_source ON products (source, import_id);

-- Local inventory: stock and, where it differs, the price in one store.
CREATE TABLE inventory (
    store text NOT NULL REFERENCES stores (code),
    product text NOT NULL REFERENCES products (id),
    quantity bigint NOT NULL,
    price_cents bigint,
    sale_price_cents bigint,
    currency text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    sale_window text,
    availability text NOT NULL DEFAULT '',
    pickup_method text NOT NULL DEFAULT '',
    pickup_sla text NOT NULL DEFAULT '',
    -- false when the row gave an availability instead of a count.
    quantity_given boolean NOT NULL DEFAULT true,
    PRIMARY KEY (store, product)
);

-- part: feeds
-- Product feeds fetched from a URL on a schedule, with what the last fetch said.
CREATE TABLE feed_sources (
    name text NOT NULL PRIMARY KEY,
    url text NOT NULL,
    interval_seconds bigint NOT NULL CHECK (interval_seconds > 0),
    etag text,
    last_modified text,
    last_attempt_at timestamptz,
    last_success_at timestamptz,
    -- Empty after a good fetch; else the HTTP status or error, which is the feed's alert.
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- part: campaigns
CREATE TABLE campaigns (
    name text NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    file_name text NOT NULL,
    source text NOT NULL,
    -- The push's media map, file name as written -> sha256.
    media jsonb NOT NULL CHECK (jsonb_typeof(media) = 'object'),
    -- The validated campaign as JSON.
    compiled text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- part: scans
CREATE TABLE scans (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token text NOT NULL,
    screen text NOT NULL,
    campaign text NOT NULL,
    offer text NOT NULL,
    arm text NOT NULL CHECK (arm IN ('treatment', 'control')),
    played_at timestamptz NOT NULL,
    scanned_at timestamptz NOT NULL,
    user_agent text NOT NULL DEFAULT '',
    -- The hashed shopper device, and whether the hit is its device's first of the code.
    device text NOT NULL DEFAULT '',
    first_of_device boolean NOT NULL DEFAULT true
);
CREATE INDEX scans_by_campaign ON scans (campaign, offer, arm);
CREATE INDEX scans_by_token ON scans (token, device);

-- part: access
CREATE TABLE staff (
    name text NOT NULL PRIMARY KEY,
    -- Only the hex sha256 of the token, like screens.
    token_sha256 text NOT NULL UNIQUE,
    -- The store codes the token may act on.
    stores jsonb NOT NULL CHECK (jsonb_typeof(stores) = 'array'),
    -- The screen tags HQ lets the staff member put on screens.
    tags jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- part: pairing
CREATE TABLE pairings (
    code text NOT NULL PRIMARY KEY,
    -- The sha256 of the secret only the player knows; it polls with the secret.
    secret_sha256 text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    -- Set when an admin or staff member confirms the code; the token is made only when the
    -- player, holding the secret, picks it up.
    screen text,
    delivered_at timestamptz,
    -- Pairing requests by address and network prefix, so one network cannot hold every code.
    address text NOT NULL DEFAULT '',
    prefix text NOT NULL DEFAULT ''
);
-- Storing a code counts the codes of its address and of its prefix.
CREATE INDEX pairings_by_address ON pairings (address);
CREATE INDEX pairings_by_prefix ON pairings (prefix);
