-- The latest screenshot each screen sent (`PUT /v1/screenshot`): one row per screen, replaced by
-- the next, gone with the screen.
CREATE TABLE screenshots (
    screen text NOT NULL PRIMARY KEY REFERENCES screens (name) ON DELETE CASCADE,
    taken_at timestamptz NOT NULL,
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0),
    jpeg bytea NOT NULL
);
