-- Consent proof ledger: append-only, each record's hash covers the previous
-- hash and its own content. prev_hash is unique, so the chain cannot fork.
CREATE TABLE consent_records (
    id BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    visitor TEXT NOT NULL,
    preferences BIGINT NOT NULL,
    analytics BIGINT NOT NULL,
    marketing BIGINT NOT NULL,
    policy_version TEXT NOT NULL,
    dnt BIGINT NOT NULL,
    gpc BIGINT NOT NULL,
    via TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX consent_records_visitor ON consent_records (visitor);
CREATE FUNCTION consent_records_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_records is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_records_no_change BEFORE UPDATE OR DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consent_records_append_only();

-- A person's copies of the records made in their browser, linked when they
-- opened their my-data page there; sealed under their key.
CREATE TABLE consent_receipts (
    id BIGSERIAL PRIMARY KEY,
    subject_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    record_hash TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    receipt BYTEA NOT NULL,
    UNIQUE (subject_id, record_id)
);

-- Traffic, aggregated: one row per day, dimension (total, path, referrer,
-- campaign, device, browser, goal) and key.
CREATE TABLE analytics_counts (
    day TEXT NOT NULL,
    dimension TEXT NOT NULL,
    key TEXT NOT NULL,
    views BIGINT NOT NULL DEFAULT 0,
    visitors BIGINT NOT NULL DEFAULT 0,
    entries BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dimension, key)
);

-- Today's salt for the visitor hash; deleted once the day is over.
CREATE TABLE analytics_salts (
    day TEXT PRIMARY KEY,
    salt BYTEA NOT NULL
);

-- Which (visitor, dimension, key) marks a day has counted, so a visitor is
-- counted once per day however many instances or restarts. Deleted the day
-- after; without the salt, a mark cannot be tied to an address.
CREATE TABLE analytics_seen (
    day TEXT NOT NULL,
    mark BYTEA NOT NULL,
    PRIMARY KEY (day, mark)
);
