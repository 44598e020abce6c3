-- Chats in the blind word index and routed to teams (issue 25). The words
-- of each chat (visitor's name, email and topic, every message of the
-- visitor and the agents) as keyed 64-bit hashes beside the chat and its
-- data subject; each row carries the chat's start so the one-year
-- retention deletes it with the chat. See docs/search.md.
CREATE TABLE chat_search_terms (
    hash INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    subject_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (hash, record_id)
) WITHOUT ROWID;
CREATE INDEX chat_search_terms_subject ON chat_search_terms(subject_id, record_id);
CREATE INDEX chat_search_terms_created ON chat_search_terms(created_at);

-- The topic the visitor picked (one of the support form's products) and the
-- team the chat is routed to (by a trigger on the channel "chat", or an agent).
ALTER TABLE chat_conversations ADD COLUMN topic TEXT;
ALTER TABLE chat_conversations ADD COLUMN team_id INTEGER;

-- Chats stored before the index are indexed at start, from the newest down.
INSERT INTO search_backfill (name, below) SELECT 'chats', COALESCE(MAX(id), 0) + 1 FROM chat_conversations;
