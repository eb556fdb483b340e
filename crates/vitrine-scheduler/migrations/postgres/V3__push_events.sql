-- Interrupts, their cancels, triggers and commands, recorded so that every scheduler on the
-- database sends them to the screens streaming from it, with the same id: a screen that
-- reconnects to another replica replays what it missed. Rows are kept until a day after they end.
CREATE TABLE push_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    screens jsonb NOT NULL,
    data text NOT NULL,
    expires_at timestamptz NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_events_by_end ON push_events (expires_at);
