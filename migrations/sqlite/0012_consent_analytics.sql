-- Consent proof ledger: append-only, each record's hash covers the previous
-- hash and its own content. prev_hash is unique, so the chain cannot fork.
CREATE TABLE consent_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    visitor TEXT NOT NULL,
    preferences INTEGER NOT NULL,
    analytics INTEGER NOT NULL,
    marketing INTEGER NOT NULL,
    policy_version TEXT NOT NULL,
    dnt INTEGER NOT NULL,
    gpc INTEGER NOT NULL,
    via TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX consent_records_visitor ON consent_records (visitor);
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;

-- A person's copies of the records made in their browser, linked when they
-- opened their my-data page there; sealed under their key.
CREATE TABLE consent_receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    record_hash TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    receipt BLOB NOT NULL,
    UNIQUE (subject_id, record_id)
);

-- Traffic, aggregated: one row per day, dimension (total, path, referrer,
-- campaign, device, browser, goal) and key.
CREATE TABLE analytics_counts (
    day TEXT NOT NULL,
    dimension TEXT NOT NULL,
    key TEXT NOT NULL,
    views INTEGER NOT NULL DEFAULT 0,
    visitors INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dimension, key)
);

-- Today's salt for the visitor hash; deleted once the day is over.
CREATE TABLE analytics_salts (
    day TEXT PRIMARY KEY,
    salt BLOB NOT NULL
);

-- Which (visitor, dimension, key) marks a day has counted, so a visitor is
-- counted once per day however many instances or restarts. Deleted the day
-- after; without the salt, a mark cannot be tied to an address.
CREATE TABLE analytics_seen (
    day TEXT NOT NULL,
    mark BLOB NOT NULL,
    PRIMARY KEY (day, mark)
);
