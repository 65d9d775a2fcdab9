-- One token bucket per intake source, kept in the database so that every server instance grants
-- the same rate together (the buckets used to live in each process). Times in Unix milliseconds.
CREATE TABLE intake_rate (
    source_id INTEGER PRIMARY KEY NOT NULL REFERENCES intake_sources (id) ON DELETE CASCADE,
    tokens    REAL NOT NULL,
    at_ms     INTEGER NOT NULL
) STRICT;
