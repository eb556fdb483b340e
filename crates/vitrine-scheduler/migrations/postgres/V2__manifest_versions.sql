-- Each screen's manifest version, shared by every scheduler on the database: the sha256 of the
-- content it was last given (the manifest with version 0) and that content's version. Replicas
-- building the same manifest give it the same version, so its ETag is the same whichever replica
-- a player asks, and a player never sees the version go down.
CREATE TABLE manifest_versions (
    screen text NOT NULL PRIMARY KEY,
    content_sha256 text NOT NULL,
    version bigint NOT NULL CHECK (version > 0)
);
