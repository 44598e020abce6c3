-- SLA escalation (issue 25): the next-response clock. `awaiting_since` is
-- when the requester's oldest message that no public staff reply has
-- answered yet arrived; NULL when nothing of theirs waits for us. A staff
-- reply clears it, an internal note or an automatic reply does not.
ALTER TABLE tickets ADD COLUMN awaiting_since INTEGER;

-- Tickets answered once and written to again before this column existed:
-- their oldest message after the latest reply a person sent.
UPDATE tickets SET awaiting_since = (
    SELECT MIN(v.created_at) FROM ticket_messages v
    WHERE v.ticket_id = tickets.id AND v.kind = 'visitor'
      AND v.created_at > COALESCE(
          (SELECT MAX(r.created_at) FROM ticket_messages r
           WHERE r.ticket_id = tickets.id AND r.kind = 'reply' AND r.staff_id IS NOT NULL),
          tickets.first_response_at)
)
WHERE first_response_at IS NOT NULL;

CREATE INDEX tickets_awaiting ON tickets(status, awaiting_since);
