-- The system log's events are named one way, `<object>[.<part>].<verb>`,
-- and hooks subscribe to those same names. Subscriptions and the outbox
-- move to the new names; events already in the log keep the names they
-- were written with (the log is append-only; docs/operators.md lists the
-- old names beside the new).
UPDATE event_hooks SET events =
    REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(events,
        '"user.deprovisioned"', '"user.lifecycle.deactivate"'),
        '"task.created"', '"task.create"'),
        '"plan.held"', '"plan.hold"'),
        '"app.quarantined"', '"app.lifecycle.quarantine"'),
        '"provisioning.error"', '"account.fail"');
UPDATE hook_outbox SET event_type = CASE event_type
    WHEN 'user.deprovisioned' THEN 'user.lifecycle.deactivate'
    WHEN 'task.created' THEN 'task.create'
    WHEN 'plan.held' THEN 'plan.hold'
    WHEN 'app.quarantined' THEN 'app.lifecycle.quarantine'
    WHEN 'provisioning.error' THEN 'account.fail'
    ELSE event_type END;
