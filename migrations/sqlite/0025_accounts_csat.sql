-- A visitor's account without a password: a sign-in link mailed to their
-- address (single-use, claimed by the first browser to open it), and the
-- sessions it starts. Tokens are stored hashed; the address a link was sent
-- to and a session's device label are sealed under the person's key.
CREATE TABLE account_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    token_hash TEXT NOT NULL UNIQUE,
    email BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    claim_hash TEXT,
    claimed_at INTEGER,
    used_at INTEGER
);
CREATE TABLE account_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    token_hash TEXT NOT NULL UNIQUE,
    email BLOB NOT NULL,
    device BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX account_sessions_subject ON account_sessions (subject_id);

-- Satisfaction ratings: at most one request per ticket, ever (the unique
-- ticket_id), whatever happens to the ticket later.
CREATE TABLE csat_ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL UNIQUE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    agent_id INTEGER,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rating INTEGER,
    comment BLOB,
    rated_at INTEGER
);
CREATE INDEX csat_ratings_rated ON csat_ratings (rated_at);
