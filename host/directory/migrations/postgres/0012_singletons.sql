-- Work that must run on one node at a time (the retention sweep, the hook
-- fan-out, the duplicate sweep, the import schedulers): held under a lease
-- by one run of `provisio serve` (nodes.id), renewed while it lives, taken
-- over when it lapses. `fence` grows with every change of holder, so a
-- holder that lost the lease cannot record a run as its own; `last_run_at`
-- keeps a periodic job's schedule across handovers.
CREATE TABLE singletons (
    name TEXT PRIMARY KEY,
    holder TEXT,
    fence BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    runs BIGINT NOT NULL DEFAULT 0
);
