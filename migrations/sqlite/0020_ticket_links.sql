-- A ticket's conversation link carries its link_nonce (random; '' for the
-- links mailed before it existed): staff reissuing the link draw a new one,
-- which kills every older link, and an id SQLite hands out again after an
-- erasure never opens with an old link. The link expires 90
-- days after closed_at (when the ticket was last closed; NULL while open).
ALTER TABLE tickets ADD COLUMN link_nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN closed_at INTEGER;
UPDATE tickets SET closed_at = updated_at WHERE status = 'closed';
