-- Which connector version an app runs, whether it is pinned there (kept out
-- of upgrades that move an install's apps along), and the version it ran
-- before (for a roll back).
ALTER TABLE apps ADD COLUMN connector_pinned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN previous_connector_version TEXT;
