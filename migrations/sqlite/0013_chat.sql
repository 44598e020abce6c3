-- Live chat. Personal fields are sealed under the conversation's subject key
-- (the visitor's subject when they gave an email, otherwise a subject of its
-- own with no email index); seq numbers and times are in the clear.
CREATE TABLE chat_conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting',
    agent_id INTEGER,
    closed_at INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0,
    visitor_read_seq INTEGER NOT NULL DEFAULT 0,
    staff_read_seq INTEGER NOT NULL DEFAULT 0,
    ticket_reference TEXT,
    name BLOB NOT NULL,
    email BLOB,
    page BLOB
);
CREATE INDEX chat_conversations_status ON chat_conversations(status, updated_at);
CREATE INDEX chat_conversations_subject ON chat_conversations(subject_id);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    staff_id INTEGER,
    client_id TEXT,
    created_at INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_id)
);

-- One row per open staff console connection; stale rows (a crashed
-- instance) stop counting once `seen_at` is older than the heartbeat window.
CREATE TABLE chat_presence (
    connection_id TEXT PRIMARY KEY,
    staff_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);
