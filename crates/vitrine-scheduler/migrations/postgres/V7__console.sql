-- The web console's sign-in sessions, by the sha256 of the cookie: a leaked database holds no
-- usable cookie. Each acts as the token it was signed in with, and ends with it. Every replica
-- reads them, so a browser may land on any.
CREATE TABLE console_sessions (
    id_sha256 text NOT NULL PRIMARY KEY,
    token_sha256 text NOT NULL,
    csrf text NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The console's live fleet asks for the screens heard from since its last look.
CREATE INDEX screen_status_by_time ON screen_status (received_at);
