-- Admins, the groups a group admin is given, and their API tokens. A token
-- is kept only as its SHA-256: the value is shown once, when it is made.

CREATE TABLE admins (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL,
    login_key TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('super-admin', 'app-admin', 'group-admin', 'read-only')),
    status TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE admin_groups (
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (admin_id, group_id)
);
CREATE INDEX admin_groups_by_group ON admin_groups (group_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_by_admin ON api_tokens (admin_id);
