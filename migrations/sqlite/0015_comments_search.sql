-- Comments on incidents (with their edit history), a counter of what happened around an incident
-- besides gate actions, and the search index.

-- One comment: the text as typed and its rendered, sanitised HTML (rendered once, when written).
-- Never deleted: an admin hides it (the text stays here and in the audit record).
CREATE TABLE comments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id),
    author_id     INTEGER NOT NULL REFERENCES users (id),
    body          TEXT NOT NULL,
    html          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    edited_at     TEXT,
    hidden_at     TEXT,
    hidden_by     INTEGER REFERENCES users (id),
    hidden_reason TEXT NOT NULL DEFAULT '',
    CHECK ((hidden_at IS NULL) = (hidden_by IS NULL))
) STRICT;
CREATE INDEX comments_by_incident ON comments (incident_id, id);

-- The text a comment had before each edit.
CREATE TABLE comment_edits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    comment_id INTEGER NOT NULL REFERENCES comments (id),
    body       TEXT NOT NULL,
    replaced_at TEXT NOT NULL
) STRICT;
CREATE INDEX comment_edits_by_comment ON comment_edits (comment_id, id);

-- Bumped by every comment, edit and hiding: open pages redraw on it, while `version` (which gate
-- forms are checked against) moves only with the process.
ALTER TABLE incidents ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;

-- What search reads: one row per incident, comment and pool item, with its text folded for the
-- substring check. Rows are written with the record they index, in its transaction; records that
-- predate the index are added at start-up (`search::index::fill_missing`).
CREATE TABLE search_docs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('incident', 'comment', 'pool')),
    ref_id      INTEGER NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    at          TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    folded_title TEXT NOT NULL,
    folded      TEXT NOT NULL,
    UNIQUE (kind, ref_id)
) STRICT;
CREATE INDEX search_docs_by_incident ON search_docs (incident_id);

-- The index: each document's character n-grams (trigrams, and two-character words and Chinese
-- bigrams) as tokens, under the document's id. Contentless: the text is in `search_docs`.
CREATE VIRTUAL TABLE search_grams USING fts5 (
    grams,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
