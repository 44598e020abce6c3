-- Priorities and tags on tickets (issue 25), both filterable in the inbox.
ALTER TABLE tickets ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
CREATE INDEX tickets_priority ON tickets(priority, created_at);

-- A tag is a short label staff give a ticket ("billing", "vip"); it carries
-- the ticket's subject so erasure finds it with the rest.
CREATE TABLE ticket_tags (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags(tag, ticket_id);
CREATE INDEX ticket_tags_subject ON ticket_tags(subject_id);
