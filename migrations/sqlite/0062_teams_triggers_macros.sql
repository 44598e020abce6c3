-- Teams, triggers and macros (issue 25). Staff configuration only: no
-- personal data of visitors.
CREATE TABLE support_teams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE support_team_members (
    team_id INTEGER NOT NULL REFERENCES support_teams(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL,
    PRIMARY KEY (team_id, staff_id)
);

ALTER TABLE tickets ADD COLUMN team_id INTEGER;

-- Rules tried, in position order, on each new ticket ('created') or each
-- answer from its requester ('updated'). Empty conditions match anything.
CREATE TABLE support_triggers (
    id INTEGER PRIMARY KEY,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    on_event TEXT NOT NULL,
    if_product TEXT NOT NULL,
    if_channel TEXT NOT NULL,
    if_words TEXT NOT NULL,
    if_domain TEXT NOT NULL,
    set_team_id INTEGER,
    set_assignee_id INTEGER,
    set_priority TEXT NOT NULL,
    add_tag TEXT NOT NULL,
    canned_id INTEGER,
    created_at INTEGER NOT NULL
);

-- One click on a ticket: a canned reply, a status and an assignment.
CREATE TABLE support_macros (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    canned_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    assignee TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
