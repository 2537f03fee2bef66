-- A held plan keeps the directory change it would make, so approving it
-- applies that change (recomputed against the directory as it is then).
ALTER TABLE plans ADD COLUMN change TEXT NOT NULL DEFAULT '{}';
CREATE INDEX plans_by_status ON plans (status, created_at);
