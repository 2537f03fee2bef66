-- Sequence numbers are taken at insert, not at commit: a transaction that
-- took number 5 may commit after the one that took 6, and a reader paging
-- "after 6" would never see 5. Each event also records the id of the
-- transaction that wrote it; readers order by (tx, seq) and see only the
-- events of transactions older than every one still running, so what
-- becomes visible later always sorts after what was already read.
ALTER TABLE system_log ADD COLUMN tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX system_log_by_cursor ON system_log (tx, seq);
