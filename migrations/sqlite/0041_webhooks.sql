-- Webhooks (Standard Webhooks): endpoints admins add, and an outbox of
-- deliveries written in the same transaction as the event that causes
-- them. The signing secret is sealed under the system key; a delivery's
-- payload under its person's key when it concerns one (erasure deletes
-- those rows, so nothing queued for them is sent), else the system key.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret BLOB NOT NULL,
    events TEXT NOT NULL,
    include_personal INTEGER NOT NULL DEFAULT 0,
    allow_private INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    failing_since INTEGER,
    disabled_at INTEGER,
    disabled_reason TEXT
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    subject_id INTEGER REFERENCES subjects(id),
    payload BLOB,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    claimed_until INTEGER,
    last_attempt_at INTEGER,
    last_status INTEGER,
    last_latency_ms INTEGER,
    last_error TEXT,
    delivered_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (subject_id);
