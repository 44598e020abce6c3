-- When a waiting chat went unanswered past the support setting (or nobody
-- was online) and the visitor was asked to leave an email: it then becomes
-- a support ticket instead of waiting for nobody.
ALTER TABLE chat_conversations ADD COLUMN unanswered_at BIGINT;
