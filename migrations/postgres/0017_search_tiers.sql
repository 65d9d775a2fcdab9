-- Search reads titles on their own: a hit with every term in its title ranks above a hit in the
-- text, and each tier is read newest first only until a page is full. The title's grams get
-- their own column and GIN index beside the whole document's.
--
-- Documents are derived data: they are emptied here and rebuilt at start-up from the records
-- (`search::index::fill_missing`), in batches while the app serves.
DELETE FROM search_docs;
ALTER TABLE search_docs ADD COLUMN title_grams TEXT[] NOT NULL;
CREATE INDEX search_docs_title_grams ON search_docs USING GIN (title_grams);
