-- When an admin asked for the app to be deleted. A retiring app is assigned
-- to no one: each of its accounts is deprovisioned, and the app's row (with
-- its accounts and assignments) is deleted once every one of them is
-- settled, so no leaver keeps an account Provisio no longer watches.
ALTER TABLE apps ADD COLUMN retiring_since BIGINT;
