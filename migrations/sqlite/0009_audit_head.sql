-- PostgreSQL keeps the head of the audit chain in a row of its own (`audit_head`), locked by each
-- append. SQLite needs none: its write transaction holds the database's only write lock, so the
-- last entry of the log is the head every append extends. This migration keeps both folders in
-- step and changes nothing.
SELECT 1;
