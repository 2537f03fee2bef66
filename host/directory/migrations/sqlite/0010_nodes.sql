-- Every process run of `provisio serve` on this directory: its lease owner
-- name (node id / run id), when it started, when it last said it was alive,
-- and when it stopped cleanly. Shown to operators with the work each holds.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    version TEXT NOT NULL,
    listen TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    stopped_at BIGINT
);
