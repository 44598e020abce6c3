-- Requests to see or erase one's data, with the verification link's state.
CREATE TABLE privacy_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    via TEXT NOT NULL,
    status TEXT NOT NULL,
    subject_id INTEGER,
    email BLOB,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    claim_hash TEXT,
    claimed_at INTEGER,
    completed_at INTEGER
);

-- Data breach incidents and the notices they caused.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    discovered_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    categories TEXT NOT NULL,
    scope TEXT NOT NULL,
    published_at INTEGER,
    created_by INTEGER
);

CREATE TABLE incident_recipients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL,
    email BLOB NOT NULL,
    notified_at INTEGER
);
CREATE INDEX incident_recipients_subject ON incident_recipients(subject_id);

-- Every version of the generated policy, so earlier ones stay readable.
CREATE TABLE policy_versions (
    version TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    markdown TEXT NOT NULL
);
