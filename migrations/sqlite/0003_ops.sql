-- What the integrity scan found: one row per (item, rule, detail), kept
-- open until a later scan no longer sees it.
CREATE TABLE integrity_findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX integrity_findings_open ON integrity_findings (resolved_at);

-- Every scan run, for the admin page and the daily schedule.
CREATE TABLE integrity_scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    started_by TEXT NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    findings INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT ''
);
