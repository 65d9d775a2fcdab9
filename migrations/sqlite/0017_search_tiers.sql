-- Search reads titles on their own: a hit with every term in its title ranks above a hit in the
-- text, and each tier is read newest first only until a page is full, so a common word costs
-- about as much as a rare one. The grams table gets a title column beside the body's.
--
-- Documents are derived data: they are emptied here and rebuilt at start-up from the records
-- (`search::index::fill_missing`), in batches while the app serves.
DROP TABLE search_grams;
DELETE FROM search_docs;
CREATE VIRTUAL TABLE search_grams USING fts5 (
    title,
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
