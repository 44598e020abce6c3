-- The IMAP reader's memory of a message that keeps failing (so that after
-- a few attempts it is quarantined instead of blocking the mailbox), and
-- the highest UID of a mailbox met on first start or after a UIDVALIDITY
-- change: up to it only unseen mail is new.
ALTER TABLE mail_in_cursor ADD COLUMN catch_up_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mail_in_cursor ADD COLUMN failing_uid BIGINT;
ALTER TABLE mail_in_cursor ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
