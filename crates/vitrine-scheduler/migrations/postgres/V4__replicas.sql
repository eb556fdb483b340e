-- The schedulers serving this database, by the origin their change notifications carry, with when
-- each last said it was alive: they share each rate limit among those alive.
CREATE TABLE replicas (
    origin bigint NOT NULL PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
