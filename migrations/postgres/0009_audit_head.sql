-- The head of the audit chain in a row of its own (PostgreSQL only; on SQLite the write lock of
-- the transaction already serialises appends). An append locks this row with SELECT ... FOR
-- UPDATE, which waits for the previous append to commit and then returns the head it wrote: one
-- round trip instead of an advisory lock plus a read of the log's last entry, inside the window
-- in which appends from every instance queue behind each other.
--
-- Every instance must run a version with this migration: an older one would append without
-- moving this head.
SELECT pg_advisory_xact_lock(7089075310399944036); -- the key older versions appended under

CREATE TABLE audit_head (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    seq       BIGINT NOT NULL CHECK (seq >= 0),
    hash      TEXT NOT NULL
);

INSERT INTO audit_head (seq, hash)
SELECT COALESCE((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000');
