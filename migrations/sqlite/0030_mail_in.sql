-- Mail in (IMAP or the MTA pipe). Each message taken is remembered by a
-- keyed hash of its Message-ID, in the transaction that takes it, so a
-- message read twice (after a crash, or an MTA retrying) is taken once.
CREATE TABLE mail_in_seen (
    id INTEGER PRIMARY KEY,
    message_hash BLOB NOT NULL UNIQUE,
    received_at INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX mail_in_seen_at ON mail_in_seen(received_at);

-- Acknowledgements mailed, per keyed hash of the sender: one an hour at most.
CREATE TABLE mail_in_acks (
    id INTEGER PRIMARY KEY,
    sender_hash BLOB NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX mail_in_acks_sender ON mail_in_acks(sender_hash, at);

-- Mail that could not be read, sealed under the system key, kept 30 days.
CREATE TABLE mail_quarantine (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX mail_quarantine_at ON mail_quarantine(received_at);

-- Soft bounces of marketing mail per person, until the limit suppresses them.
CREATE TABLE mail_soft_bounces (
    subject_id INTEGER PRIMARY KEY REFERENCES subjects(id),
    bounces INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);

-- The IMAP reader's place in each mailbox: UIDVALIDITY and the last UID taken.
CREATE TABLE mail_in_cursor (
    mailbox TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
