-- An email a chatter typed is unverified until they open the link mailed to
-- it; only then do agents see that address's earlier tickets and chats.
ALTER TABLE chat_conversations ADD COLUMN email_verified_at INTEGER;
