-- The API request whose change an app account's desired state comes from,
-- so the executor's connector calls can be traced back to it.
ALTER TABLE app_accounts ADD COLUMN trace_id TEXT;
