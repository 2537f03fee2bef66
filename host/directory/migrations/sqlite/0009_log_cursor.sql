-- PostgreSQL orders the log by (writing transaction, seq) so that paging
-- never skips an event that commits late. SQLite has one writer at a time,
-- so its numbering order is its commit order: tx is always 0 here.
ALTER TABLE system_log ADD COLUMN tx INTEGER NOT NULL DEFAULT 0;
CREATE INDEX system_log_by_cursor ON system_log (tx, seq);
