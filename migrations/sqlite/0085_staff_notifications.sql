-- What each staff member is told, and how (issue 25): one row per kind a
-- member changed from its default; a missing row means the defaults.
CREATE TABLE staff_notification_choices (
    user_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    by_mail INTEGER NOT NULL,
    in_app INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- The back office's notifications: words made from a reference, a staff
-- member's name or a wait, a link inside /admin; the requester's name (for
-- "Dana Whitfield answered …") only sealed under their key, so erasing them
-- removes the notification too. One per (member, key).
CREATE TABLE staff_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    about TEXT NOT NULL,
    detail TEXT NOT NULL,
    link TEXT NOT NULL,
    subject_id INTEGER REFERENCES subjects(id) ON DELETE CASCADE,
    person BLOB,
    dedupe_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    UNIQUE (user_id, dedupe_key)
);
CREATE INDEX staff_notifications_unread ON staff_notifications(user_id, read_at);
CREATE INDEX staff_notifications_subject ON staff_notifications(subject_id);

-- A waiting chat's agents are told once.
ALTER TABLE chat_conversations ADD COLUMN waiting_notified_at INTEGER;
