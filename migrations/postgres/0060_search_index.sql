-- Blind word indexes (issue 25): the words of sealed records, stored only as
-- keyed 64-bit hashes beside the record and its data subject (erasure deletes
-- them by subject). See docs/search.md for what they reveal.
CREATE TABLE ticket_search_terms (
    hash BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    subject_id BIGINT NOT NULL,
    PRIMARY KEY (hash, record_id)
);
CREATE INDEX ticket_search_terms_subject ON ticket_search_terms(subject_id, record_id);

-- Orders are kept two years: each word carries its order's time for the purge.
CREATE TABLE order_search_terms (
    hash BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    subject_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (hash, record_id)
);
CREATE INDEX order_search_terms_subject ON order_search_terms(subject_id, record_id);
CREATE INDEX order_search_terms_created ON order_search_terms(created_at);

-- Records with an id below the mark were stored before their index existed;
-- the server indexes them at start (the key is not in the database) and
-- lowers the mark as it goes.
CREATE TABLE search_backfill (
    name TEXT PRIMARY KEY,
    below BIGINT NOT NULL
);
INSERT INTO search_backfill (name, below) SELECT 'tickets', COALESCE(MAX(id), 0) + 1 FROM tickets;
INSERT INTO search_backfill (name, below) SELECT 'orders', COALESCE(MAX(id), 0) + 1 FROM orders;
