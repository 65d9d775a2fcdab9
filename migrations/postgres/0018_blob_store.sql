-- Attachment contents are kept behind a store (`collab::storage`): the `blobs` table is the
-- database store's own, and an attachment names its content by hash only, so a store outside the
-- database can hold the bytes.
ALTER TABLE attachments DROP CONSTRAINT attachments_sha256_fkey;
ALTER TABLE attachments DROP CONSTRAINT attachments_thumb_sha256_fkey;
ALTER TABLE attachments ADD CONSTRAINT attachments_sha256_is_a_hash CHECK (length(sha256) = 64);
ALTER TABLE attachments ADD CONSTRAINT attachments_thumb_sha256_is_a_hash CHECK (length(thumb_sha256) = 64);
