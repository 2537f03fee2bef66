-- Manual deprovisioning tasks, event hooks, and their deliveries. Hookable
-- events enter an outbox in the same transaction as the system-log event
-- they come from, so a crash never loses or invents a notification.

CREATE TABLE manual_tasks (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    login TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('deactivate', 'delete', 'reactivate')),
    generation BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT,
    UNIQUE (app_id, user_id, generation, action)
);
CREATE INDEX manual_tasks_open ON manual_tasks (status, created_at);

CREATE TABLE event_hooks (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE hook_outbox (
    log_id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE hook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    hook_id TEXT NOT NULL REFERENCES event_hooks (id) ON DELETE CASCADE,
    log_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (hook_id, log_id)
);
CREATE INDEX hook_deliveries_due ON hook_deliveries (status, next_attempt_at);
