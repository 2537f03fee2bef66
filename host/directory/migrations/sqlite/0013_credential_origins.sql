-- Where each of an app's credentials may be sent, as its operator granted
-- it (credential name -> origins), beside the sealed secrets: origins are
-- not secret, and the operator must see them. '{}' = the origins the
-- connector binds each credential to exactly (its base URL).
ALTER TABLE apps ADD COLUMN credential_origins TEXT NOT NULL DEFAULT '{}';
