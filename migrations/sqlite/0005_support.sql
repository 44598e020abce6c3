-- Support requests. Every personal field is sealed under the requester's
-- subject key; only references, statuses and timestamps are in the clear.
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    reference TEXT UNIQUE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    form_nonce TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    product TEXT NOT NULL,
    assignee_id INTEGER,
    first_response_at INTEGER,
    last_visitor_at INTEGER NOT NULL,
    merged_into INTEGER REFERENCES tickets(id),
    name BLOB NOT NULL,
    email BLOB NOT NULL,
    phone BLOB,
    phone_e164 BLOB,
    product_other BLOB,
    title BLOB NOT NULL
);
CREATE INDEX tickets_status ON tickets(status, created_at);
CREATE INDEX tickets_subject ON tickets(subject_id);

CREATE TABLE ticket_messages (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    created_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    staff_id INTEGER,
    body BLOB NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);

CREATE TABLE ticket_attachments (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES ticket_messages(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    created_at INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    filename BLOB NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments(ticket_id);

-- Accepted submissions per keyed hash of the sender's IP, for the hourly and daily limits.
CREATE TABLE support_intake (
    id INTEGER PRIMARY KEY,
    ip_hash BLOB NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX support_intake_ip ON support_intake(ip_hash, at);

CREATE TABLE support_canned_replies (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
