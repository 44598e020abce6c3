-- Two-step sign-in for staff (TOTP, RFC 6238). The shared secret is sealed
-- under the installation's system key; `enabled_at` is NULL while the member
-- has not yet confirmed it with a first code. `last_step` is the newest time
-- step a code was accepted for: a code is never accepted twice.
CREATE TABLE staff_two_factor (
    user_id INTEGER PRIMARY KEY REFERENCES staff_users(id) ON DELETE CASCADE,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    enabled_at INTEGER,
    last_step INTEGER NOT NULL DEFAULT 0
);
-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE staff_recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX staff_recovery_codes_user ON staff_recovery_codes (user_id);
