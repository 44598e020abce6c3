-- Who must never be written to again (unsubscribed or erased): keyed hashes only.
CREATE TABLE suppressions (
    email_index BLOB PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Every erasure, so a restore of an older backup can replay it.
CREATE TABLE erasure_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL,
    erased_at INTEGER NOT NULL,
    requested_via TEXT NOT NULL
);
