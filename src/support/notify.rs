//! Telling staff what needs them: a mail through the outbox when the
//! requester of a ticket assigned to them answers. The mail names the
//! ticket's reference only, never what was written (the message stays in
//! the back office, under the requester's key).

use super::tickets::Ticket;
use crate::{
    AppState,
    platform::{
        db::Tx,
        mail::{self, EmailTemplate, Recipient},
    },
};
use anyhow::Context;

crate::email_template!(pub struct AnswerMail { reference: String, link: String, company: String }
    subject "email/staff_ticket_answer/subject.txt",
    text "email/staff_ticket_answer/body.txt",
    html "email/staff_ticket_answer/body.html",
);

/// Enqueues the "new answer" mail to the ticket's assignee, if it has an
/// active one, in the transaction that stored the answer. `message_id`
/// keeps one mail per answer.
pub async fn visitor_answered(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    message_id: i64,
) -> anyhow::Result<()> {
    let Some(assignee) = ticket.assignee_id else {
        return Ok(());
    };
    let Some((email, _, disabled)) = crate::staff::db::user_state(tx, assignee).await? else {
        return Ok(());
    };
    if disabled != 0 {
        return Ok(());
    }
    let site = state.site();
    let link = state
        .config
        .base_url
        .join(&format!("admin/tickets/{}", ticket.id))
        .context("building the ticket's link")?
        .to_string();
    let mail = AnswerMail {
        reference: ticket.reference.clone(),
        link,
        company: site.company_name.clone(),
    };
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::System,
        "staff-ticket-answer",
        &format!("staff-ticket-answer:{message_id}"),
        &mail.to_mail(&email)?,
    )
    .await?;
    Ok(())
}
