//! Telling staff what needs them on tickets, through the one way to notify
//! a member (`staff::notifications::notify`: the bell and/or a mail, as
//! they chose): the requester of a ticket assigned to them answered, or
//! someone else assigned them a ticket. Mails name the ticket's reference
//! only, never what was written (the message stays in the back office,
//! under the requester's key).

use super::tickets::Ticket;
use crate::{
    AppState,
    platform::{db::Tx, subjects::Subject},
    staff::notifications::{self, Kind, Notice},
};

fn ticket_path(ticket: &Ticket) -> String {
    format!("/admin/tickets/{}", ticket.id)
}

/// Tells the ticket's assignee, if it has an active one, that the requester
/// answered, in the transaction that stored the answer; once per answer
/// (`message_id`).
pub async fn visitor_answered(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    message_id: i64,
) -> anyhow::Result<()> {
    let Some(assignee) = ticket.assignee_id else {
        return Ok(());
    };
    let notice = Notice {
        kind: Kind::VisitorAnswered,
        about: ticket.reference.clone(),
        detail: String::new(),
        person: Some((subject, &ticket.name)),
        link: ticket_path(ticket),
        key: format!("answer:{message_id}"),
    };
    notifications::notify(state, tx, assignee, &notice).await?;
    Ok(())
}

/// Who assigned a ticket, for "… was assigned to you by Sam".
pub enum AssignedBy<'a> {
    /// A staff member (their id and name): nobody is told of assigning
    /// themselves.
    Staff(i64, &'a str),
    /// A rule, in words ("the trigger “Finance”").
    Rule(&'a str),
}

/// Tells the new assignee of a ticket, unless they assigned it to
/// themselves or it already was theirs, in the transaction of the change.
pub async fn assigned(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    assignee: Option<i64>,
    by: AssignedBy<'_>,
) -> anyhow::Result<()> {
    let Some(assignee) = assignee else {
        return Ok(());
    };
    if ticket.assignee_id == Some(assignee) {
        return Ok(());
    }
    let detail = match by {
        AssignedBy::Staff(id, _) if id == assignee => return Ok(()),
        AssignedBy::Staff(_, name) => name.to_string(),
        AssignedBy::Rule(words) => words.to_string(),
    };
    let notice = Notice {
        kind: Kind::AssignedToYou,
        about: ticket.reference.clone(),
        detail,
        person: None,
        link: ticket_path(ticket),
        // Each assignment is news: the moment tells them apart.
        key: format!("assigned:{}:{}", ticket.id, state.clock.now()),
    };
    notifications::notify(state, tx, assignee, &notice).await?;
    Ok(())
}
