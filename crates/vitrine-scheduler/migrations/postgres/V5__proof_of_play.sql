-- Proof of play a retail-media buyer accepts. Each play keeps where it ran when it reached HQ
-- (store, the hour in store time, the IAB venue zone and the audience multiplier), the campaign
-- it counts for, the manifest and player versions, the display's power state, the price an offer
-- card showed, and its link in its screen's hash chain.
ALTER TABLE impressions
    ADD COLUMN store text NOT NULL DEFAULT '',
    ADD COLUMN local_hour text NOT NULL DEFAULT '',
    ADD COLUMN venue_zone text NOT NULL DEFAULT 'other',
    ADD COLUMN multiplier_milli bigint NOT NULL DEFAULT 1000,
    -- The campaign the play counts for: its offer's (unless refused), else its fill's.
    ADD COLUMN campaign text NOT NULL DEFAULT '',
    ADD COLUMN scheduled_end timestamptz,
    ADD COLUMN manifest_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN player_version text NOT NULL DEFAULT '',
    ADD COLUMN display text NOT NULL DEFAULT 'unknown',
    ADD COLUMN price_cents bigint,
    ADD COLUMN currency text NOT NULL DEFAULT '',
    ADD COLUMN digest text,
    ADD COLUMN previous text,
    ADD COLUMN chain text NOT NULL DEFAULT 'none',
    -- An offer play's product stock at its store when its manifest was built.
    ADD COLUMN stock bigint;
ALTER TABLE served_offers ADD COLUMN stock bigint;
UPDATE impressions SET
    local_hour = to_char(timezone('UTC', started_at), 'YYYY-MM-DD"T"HH24'),
    campaign = CASE WHEN offer_id IS NOT NULL AND offer_refused IS NULL
                    THEN COALESCE(offer_campaign, '') ELSE '' END;
CREATE INDEX impressions_by_local_hour ON impressions (local_hour, id);
CREATE INDEX impressions_waiting_for_a_link ON impressions (screen, sequence)
    WHERE chain = 'pending';
CREATE INDEX scans_by_play ON scans
    (screen, offer, arm, date_trunc('milliseconds', timezone('UTC', played_at)));

-- Where each screen (or one zone of it) stands in the store and how many people see it: the IAB
-- in-store zone, the audience multiplier in thousandths, and where the multiplier comes from.
-- Zone '' is the whole screen.
CREATE TABLE screen_audience (
    screen text NOT NULL,
    zone text NOT NULL DEFAULT '',
    venue_zone text NOT NULL
        CHECK (venue_zone IN ('exterior', 'entrance', 'checkout', 'in_aisle', 'other')),
    multiplier_milli bigint NOT NULL CHECK (multiplier_milli >= 0),
    source text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (screen, zone)
);

-- Plays summed per store-local hour, screen, store, zone, item, creative, campaign, offer, arm
-- and venue zone, in the transaction that stores the plays: reports read these, so they stay
-- fast however many plays are kept, and they outlive the raw plays' retention.
CREATE TABLE play_rollups (
    local_hour text NOT NULL,
    screen text NOT NULL,
    store text NOT NULL,
    zone text NOT NULL,
    playlist text NOT NULL,
    item_id text NOT NULL,
    creative text NOT NULL,
    campaign text NOT NULL,
    offer text NOT NULL,
    arm text NOT NULL,
    venue_zone text NOT NULL,
    plays bigint NOT NULL,
    completed bigint NOT NULL,
    delivered bigint NOT NULL,
    display_off bigint NOT NULL,
    play_ms bigint NOT NULL,
    impressions_milli bigint NOT NULL,
    scanned bigint NOT NULL,
    PRIMARY KEY (local_hour, screen, store, zone, playlist, item_id, creative, campaign, offer,
                 arm, venue_zone)
);
-- The same per store-local day, without the item: what campaign, store and day reports read.
CREATE TABLE play_rollups_daily (
    local_day text NOT NULL,
    screen text NOT NULL,
    store text NOT NULL,
    zone text NOT NULL,
    campaign text NOT NULL,
    offer text NOT NULL,
    arm text NOT NULL,
    venue_zone text NOT NULL,
    plays bigint NOT NULL,
    completed bigint NOT NULL,
    delivered bigint NOT NULL,
    display_off bigint NOT NULL,
    play_ms bigint NOT NULL,
    impressions_milli bigint NOT NULL,
    scanned bigint NOT NULL,
    PRIMARY KEY (local_day, screen, store, zone, campaign, offer, arm, venue_zone)
);
CREATE INDEX play_rollups_daily_by_campaign ON play_rollups_daily (campaign, local_day);

-- The plays already held, summed (in UTC hours: their store's zone was not recorded).
INSERT INTO play_rollups
SELECT local_hour, screen, '', zone, playlist, item_id, COALESCE(media_sha256, ''), campaign,
       CASE WHEN campaign <> '' AND offer_id IS NOT NULL AND offer_refused IS NULL
            THEN offer_id ELSE '' END,
       CASE WHEN campaign <> '' AND offer_id IS NOT NULL AND offer_refused IS NULL
            THEN offer_arm ELSE '' END,
       'other', COUNT(*), COUNT(*) FILTER (WHERE completed), COUNT(*) FILTER (WHERE completed),
       0, SUM(duration_ms), COUNT(*) FILTER (WHERE completed) * 1000,
       COUNT(*) FILTER (WHERE offer_id IS NOT NULL AND offer_refused IS NULL AND EXISTS (
           SELECT 1 FROM scans
           WHERE scans.screen = impressions.screen
             AND scans.offer = impressions.offer_id
             AND scans.arm = impressions.offer_arm
             AND date_trunc('milliseconds', timezone('UTC', scans.played_at))
                 = date_trunc('milliseconds', timezone('UTC',
                       COALESCE(impressions.scheduled_start, impressions.started_at)))))
FROM impressions
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;
INSERT INTO play_rollups_daily
SELECT substr(local_hour, 1, 10), screen, store, zone, campaign, offer, arm, venue_zone,
       SUM(plays), SUM(completed), SUM(delivered), SUM(display_off), SUM(play_ms),
       SUM(impressions_milli), SUM(scanned)
FROM play_rollups
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
