-- Newsletter subscribers: one row per person (subject), address and name
-- sealed under the person's key; consent proof kept beside the row.
CREATE TABLE newsletter_subscribers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL UNIQUE REFERENCES subjects(id),
    email BLOB NOT NULL,
    name BLOB,
    status TEXT NOT NULL,
    topics TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    unsubscribed_at INTEGER,
    consent_at INTEGER NOT NULL,
    consent_source TEXT NOT NULL,
    consent_policy TEXT NOT NULL,
    consent_ip_hash BLOB
);
CREATE INDEX newsletter_subscribers_status ON newsletter_subscribers(status, id);

-- Campaigns, written by staff; figures are counted from the outbox.
CREATE TABLE newsletter_campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by INTEGER,
    subject TEXT NOT NULL,
    from_name TEXT NOT NULL,
    reply_to TEXT NOT NULL,
    body TEXT NOT NULL,
    topics TEXT NOT NULL,
    commercial INTEGER NOT NULL DEFAULT 0,
    ad_label TEXT NOT NULL,
    status TEXT NOT NULL,
    scheduled_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    enqueued_through INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0,
    unsubscribed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX newsletter_campaigns_status ON newsletter_campaigns(status, scheduled_at);

-- Campaign figures are counted per outbox reason.
CREATE INDEX outbox_reason ON outbox(reason, status);
