-- Fencing: every claim of an account takes the next token, and every outcome
-- is accepted only with the token it was claimed under, so an attempt that
-- outlived its lease can never overwrite the attempt that replaced it.
ALTER TABLE app_accounts ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
-- An operation whose outcome is unknown (a call abandoned at its deadline, a
-- lease that ran out with the call in flight) may still land in the app until
-- this time: no new attempt on the account starts before it.
ALTER TABLE app_accounts ADD COLUMN settle_until BIGINT;
