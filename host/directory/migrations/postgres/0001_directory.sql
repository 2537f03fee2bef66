-- The directory: users, groups, apps, assignments, app accounts, plans, system log.
-- Never edit a migration once released: add a new one.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL,
    login_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('staged', 'active', 'suspended', 'deprovisioned')),
    profile TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL
);

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE connector_packages (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    contract TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    connector_name TEXT NOT NULL,
    connector_version TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets BYTEA,
    grants TEXT NOT NULL,
    mappings TEXT NOT NULL,
    policy TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'quarantined')),
    paused_until BIGINT,
    quarantine_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (connector_name, connector_version) REFERENCES connector_packages (name, version)
);

CREATE TABLE app_user_assignments (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE app_group_assignments (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    priority BIGINT NOT NULL DEFAULT 0,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id)
);

CREATE TABLE app_accounts (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_id TEXT,
    desired_state TEXT NOT NULL CHECK (desired_state IN ('absent', 'active', 'inactive', 'deleted')),
    desired_profile TEXT NOT NULL,
    desired_generation BIGINT NOT NULL,
    pushed_state TEXT NOT NULL CHECK (pushed_state IN ('absent', 'active', 'inactive', 'deleted')),
    pushed_profile TEXT NOT NULL,
    pushed_generation BIGINT NOT NULL,
    intent TEXT,
    operation_id TEXT,
    attempt BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    deactivated_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_accounts_due ON app_accounts (next_attempt_at) WHERE desired_generation > pushed_generation;
CREATE UNIQUE INDEX app_accounts_external ON app_accounts (app_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE plans (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'approved', 'rejected', 'applied')),
    summary TEXT NOT NULL,
    operations TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);

CREATE TABLE system_log (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX system_log_by_time ON system_log (at);
CREATE INDEX system_log_by_target ON system_log (target_type, target_id);
