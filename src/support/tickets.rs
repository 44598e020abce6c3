//! The rules of a ticket: creating one from the form (one transaction with
//! its acknowledgement mail), opening it for display, replies, notes,
//! status, assignment and merging.

use super::{
    TicketRef,
    db::{self, AttachmentMeta, MessageRow, SealedTicket, TicketRow},
    intake::NewTicket,
};
use crate::platform::webhooks;
use crate::{
    AppState,
    platform::{
        Platform,
        crypto::DataKey,
        db::Tx,
        mail::{self, EmailTemplate, OutgoingMail, Recipient},
        state::Refusal,
    },
    privacy::subjects::{self, Subject},
};
use anyhow::Context;
use chrono::Datelike;
use futures_util::future::BoxFuture;

pub const STATUSES: [&str; 4] = ["open", "pending", "solved", "closed"];
const CONVERSATION_PURPOSE: &str = "ticket-conversation";
const RECEIVED_PURPOSE: &str = "ticket-received";

crate::email_template!(pub struct ReceivedMail { name: String, reference: String, title: String, link: String, company: String }
    subject "email/ticket_received/subject.txt",
    text "email/ticket_received/body.txt",
    html "email/ticket_received/body.html",
);

crate::email_template!(pub struct ReplyMail { name: String, reference: String, title: String, link: String, company: String, agent: String, body: String }
    subject "email/ticket_reply/subject.txt",
    text "email/ticket_reply/body.txt",
    html "email/ticket_reply/body.html",
);

impl ReplyMail {
    /// Whether the agent's answer greets the person itself (a canned reply's
    /// "Hello {name},"): the mail then does not greet them twice.
    pub fn greets(&self) -> bool {
        crate::platform::mail::starts_with_greeting(&self.body)
    }
}

/// Whether this address (its keyed hash) may open another ticket now, by
/// the helpdesk's hourly and daily limits (for channels other than the form,
/// which explains which limit it met).
pub async fn within_intake_limits(
    state: &AppState,
    ip_hash: &[u8],
    now: i64,
) -> anyhow::Result<bool> {
    let limits = super::settings::load(&state.db).await?;
    let (hour, day) =
        db::count_intake(&state.db, ip_hash, now - 3_600_000, now - 86_400_000).await?;
    Ok(hour < limits.per_ip_hour && day < limits.per_ip_day)
}

/// The outcome of a submission.
pub enum Created {
    New {
        id: i64,
        reference: TicketRef,
    },
    /// The same form was sent again (a double click): the first ticket.
    Existing {
        id: i64,
        reference: TicketRef,
    },
}

/// How long a conversation link keeps working after its ticket is closed.
pub const LINK_DAYS_AFTER_CLOSE: i64 = 90;

/// A fresh link nonce, for a new ticket or a reissued link.
pub fn new_link_nonce() -> String {
    crate::platform::random_token(9)
}

/// Path of the visitor's conversation page (signed, no account needed):
/// the ticket and its link nonce, so reissuing the link kills this one.
pub fn conversation_path(state: &AppState, ticket_id: i64, link_nonce: &str) -> String {
    let data = if link_nonce.is_empty() {
        ticket_id.to_string()
    } else {
        format!("{ticket_id}~{link_nonce}")
    };
    format!(
        "/support/tickets/{}",
        state.keyring.sign(CONVERSATION_PURPOSE, &data)
    )
}

/// `(ticket, link nonce)` a conversation token was signed for (the nonce is
/// empty in links mailed before nonces existed).
pub fn verify_conversation<'a>(state: &AppState, token: &'a str) -> Option<(i64, &'a str)> {
    let data = state.keyring.verify(CONVERSATION_PURPOSE, token)?;
    let (id, nonce) = data.split_once('~').unwrap_or((data, ""));
    Some((id.parse().ok()?, nonce))
}

/// Whether a genuine conversation link with `nonce` still works at `now`:
/// not reissued since, and its ticket not closed more than
/// [`LINK_DAYS_AFTER_CLOSE`] days ago.
pub fn link_alive(row: &TicketRow, nonce: &str, now: i64) -> bool {
    const DAY_MS: i64 = 86_400_000;
    nonce == row.link_nonce
        && row
            .closed_at
            .is_none_or(|closed| now <= closed + LINK_DAYS_AFTER_CLOSE * DAY_MS)
}

/// Path of the "we received it" page showing the reference.
pub fn received_path(state: &AppState, reference: &TicketRef) -> String {
    format!(
        "/contact/received/{}",
        state.keyring.sign(RECEIVED_PURPOSE, reference.as_str())
    )
}

pub fn verify_received(state: &AppState, token: &str) -> Option<TicketRef> {
    state.keyring.verify(RECEIVED_PURPOSE, token)?.parse().ok()
}

pub fn absolute(state: &AppState, path: &str) -> anyhow::Result<String> {
    Ok(state
        .config
        .base_url
        .join(path.trim_start_matches('/'))
        .context("building a link")?
        .to_string())
}

/// Creates the ticket, its first message and attachments, records the
/// submission for the rate limit and enqueues the acknowledgement: all in
/// one transaction, so nothing is half-saved.
pub async fn create(
    state: &AppState,
    new: &NewTicket,
    form_nonce: &str,
    ip_hash: &[u8],
) -> anyhow::Result<Created> {
    let mut tx = state.db.begin().await?;
    match create_in(
        state,
        &mut tx,
        new,
        form_nonce,
        ip_hash,
        Acknowledge::Request,
    )
    .await?
    {
        Some((id, reference)) => {
            tx.commit().await?;
            state.mail_wakeup.notify_one();
            Ok(Created::New { id, reference })
        }
        None => {
            tx.rollback().await?;
            let (id, reference) = db::ticket_by_nonce(&state.db, form_nonce)
                .await?
                .context("a ticket with this form nonce vanished")?;
            let reference = reference.context("ticket without reference")?.parse()?;
            Ok(Created::Existing { id, reference })
        }
    }
}

/// Whether a new ticket's acknowledgement is mailed, and what it answers.
/// It is marked as no person's writing (RFC 3834 `Auto-Submitted`), so
/// that well-behaved robots at the other end do not answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acknowledge<'a> {
    /// Kept back (a robot's mail, or a sender acknowledged within the hour).
    No,
    /// A request made on a page or through the API (`auto-generated`).
    Request,
    /// An email, by its Message-ID when it has one (`<id@host>`): the
    /// acknowledgement is its answer (`auto-replied`, `In-Reply-To`).
    Email(Option<&'a str>),
}

impl Acknowledge<'_> {
    fn headers(self) -> Vec<(String, String)> {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        match self {
            Acknowledge::No => vec![],
            Acknowledge::Request => vec![pair("Auto-Submitted", "auto-generated")],
            Acknowledge::Email(answers) => {
                let mut headers = vec![pair("Auto-Submitted", "auto-replied")];
                if let Some(id) = answers {
                    headers.push(pair("In-Reply-To", id));
                    headers.push(pair("References", id));
                }
                headers
            }
        }
    }
}

/// [`create`] inside the caller's transaction, for other channels (mail in):
/// `None` when a ticket with this nonce exists (the caller rolls back).
pub async fn create_in(
    state: &AppState,
    tx: &mut Tx,
    new: &NewTicket,
    form_nonce: &str,
    ip_hash: &[u8],
    acknowledge: Acknowledge<'_>,
) -> anyhow::Result<Option<(i64, TicketRef)>> {
    let subject = subjects::find_or_create(tx, &state.keyring, new.email.as_str()).await?;
    let seal = |column: &str, value: &str| subject.seal("tickets", column, value);
    let sealed = SealedTicket {
        subject_id: subject.id,
        form_nonce: form_nonce.to_string(),
        product: new.product.clone(),
        name: seal("name", &new.name),
        email: seal("email", new.email.as_str()),
        phone: new.phone.as_deref().map(|p| seal("phone", p)),
        phone_e164: new.phone_e164.as_deref().map(|p| seal("phone_e164", p)),
        product_other: new
            .product_other
            .as_deref()
            .map(|p| seal("product_other", p)),
        title: seal("title", &new.title),
        link_nonce: new_link_nonce(),
    };
    // The platform's clock, which tests move (a ticket in summer, one in winter).
    let now = state.clock.now();
    let Some(id) = db::insert_ticket(tx, &sealed, now).await? else {
        return Ok(None);
    };
    let year = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.year())
        .unwrap_or(2026);
    let reference = TicketRef::new(year, id);
    db::set_reference(tx, id, reference.as_str()).await?;
    let message_id = db::insert_message(
        tx,
        id,
        subject.id,
        "visitor",
        None,
        &subject.seal("ticket_messages", "body", &new.details),
    )
    .await?;
    for a in &new.attachments {
        db::insert_attachment(
            tx,
            id,
            message_id,
            subject.id,
            a.content_type,
            a.bytes.len() as i64,
            &subject.seal("ticket_attachments", "filename", &a.filename),
            &subject.key.encrypt("ticket_attachments.content", &a.bytes),
        )
        .await?;
    }
    let fields = super::search::Fields {
        reference: reference.as_str(),
        name: &new.name,
        email: new.email.as_str(),
        phone: new.phone.as_deref(),
        phone_e164: new.phone_e164.as_deref(),
        product: &new.product,
        product_other: new.product_other.as_deref(),
        title: &new.title,
    };
    super::search::index_ticket(state, tx, id, subject.id, &fields, &new.details).await?;
    let mut ticket = Ticket {
        id,
        reference: reference.to_string(),
        subject_id: subject.id,
        created_at: now,
        updated_at: now,
        status: "open".into(),
        product: match &new.product_other {
            Some(other) => format!("{other} (typed)"),
            None => new.product.clone(),
        },
        assignee_id: None,
        first_response_at: None,
        last_visitor_at: now,
        merged_into: None,
        link_nonce: sealed.link_nonce.clone(),
        closed_at: None,
        priority: "normal".into(),
        channel: super::automations::channel_of(form_nonce),
        team_id: None,
        awaiting_since: None,
        name: new.name.clone(),
        email: new.email.as_str().to_string(),
        phone: new.phone.clone().unwrap_or_default(),
        phone_e164: new.phone_e164.clone().unwrap_or_default(),
        title: new.title.clone(),
    };
    super::automations::run_triggers(state, tx, &mut ticket, &subject, "created").await?;
    db::record_intake(tx, ip_hash, now).await?;
    webhooks::enqueue(
        tx,
        &state.keyring,
        now,
        webhooks::Event {
            kind: "ticket.created",
            subject: Some(&subject),
            data: serde_json::json!({
                "ticket_id": id,
                "reference": reference.as_str(),
                "product": new.product,
                "status": "open",
            }),
            personal: serde_json::json!({
                "requester": { "name": new.name, "email": new.email.as_str() },
                "title": new.title,
            }),
        },
    )
    .await?;
    if acknowledge != Acknowledge::No {
        let site = state.site();
        let ack = ReceivedMail {
            name: new.name.clone(),
            reference: reference.to_string(),
            title: new.title.clone(),
            link: absolute(state, &conversation_path(state, id, &sealed.link_nonce))?,
            company: site.company_name.clone(),
        };
        mail::enqueue(
            tx,
            &state.keyring,
            &site,
            Recipient::Subject(&subject),
            "ticket-received",
            &format!("ticket-received:{id}"),
            &OutgoingMail {
                headers: acknowledge.headers(),
                ..ack.to_mail(new.email.as_str())?
            },
        )
        .await?;
    }
    Ok(Some((id, reference)))
}

/// The ticket one of our mails was about, from its outbox dedupe key
/// (`ticket-received:{ticket}` or `ticket-reply:{message}`).
pub async fn ticket_of_mail(state: &Platform, dedupe_key: &str) -> anyhow::Result<Option<i64>> {
    if let Some(id) = dedupe_key.strip_prefix("ticket-received:") {
        return Ok(id.parse().ok());
    }
    if let Some(Ok(message)) = dedupe_key
        .strip_prefix("ticket-reply:")
        .map(str::parse::<i64>)
    {
        return Ok(db::ticket_of_message(&state.db, message).await?);
    }
    Ok(None)
}

/// A ticket by id, decrypted, following a merge to the ticket it went into;
/// `None` when there is none or its requester was erased.
pub async fn open_following_merge(
    state: &Platform,
    id: i64,
) -> anyhow::Result<Option<(Ticket, Subject)>> {
    let mut id = id;
    for _ in 0..5 {
        let Some(row) = db::ticket(&state.db, id).await? else {
            return Ok(None);
        };
        match row.merged_into {
            Some(target) => id = target,
            None => return Ticket::open(state, row),
        }
    }
    Ok(None)
}

/// The requester's answer by mail, in the caller's transaction: a message
/// from them (trimmed of quoted history) and, when trimming took something,
/// the mail as received as a note for staff; attachments go with the message.
/// Indexed, announced and followed by triggers and the assignee's notice as
/// an answer on the conversation page is.
pub async fn mail_reply(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    body: &str,
    original: Option<&str>,
    attachments: &[super::intake::Attachment],
) -> anyhow::Result<i64> {
    let message_id = db::insert_message(
        tx,
        ticket.id,
        subject.id,
        "visitor",
        None,
        &subject.seal("ticket_messages", "body", body),
    )
    .await?;
    for a in attachments {
        db::insert_attachment(
            tx,
            ticket.id,
            message_id,
            subject.id,
            a.content_type,
            a.bytes.len() as i64,
            &subject.seal("ticket_attachments", "filename", &a.filename),
            &subject.key.encrypt("ticket_attachments.content", &a.bytes),
        )
        .await?;
    }
    if let Some(original) = original {
        system_note(tx, ticket.id, subject, original).await?;
    }
    super::search::index_message(state, tx, ticket.id, subject.id, body).await?;
    db::mark_visitor_reply(tx, ticket.id, state.clock.now()).await?;
    status_moved(state, tx, ticket, subject, "open", "requester").await?;
    raise(
        state,
        tx,
        "ticket.replied",
        ticket,
        Some(subject),
        serde_json::json!({ "message_id": message_id, "from": "requester" }),
        serde_json::json!({ "body": body }),
    )
    .await?;
    let mut saved = ticket.clone();
    super::automations::run_triggers(state, tx, &mut saved, subject, "updated").await?;
    super::notify::visitor_answered(state, tx, &saved, subject, message_id).await?;
    Ok(message_id)
}

/// A note for staff written by the system itself (no agent), say "our
/// mail to the requester bounced".
/// One of our mails about a ticket was not delivered (`why`: " (status
/// 5.1.1)", say): staff read so on the ticket. The ticket's reference, when
/// the mail was about one.
pub async fn note_undelivered(
    state: &Platform,
    tx: &mut Tx,
    dedupe_key: &str,
    why: &str,
) -> anyhow::Result<Option<String>> {
    let Some(id) = ticket_of_mail(state, dedupe_key).await? else {
        return Ok(None);
    };
    let Some((ticket, subject)) = open_following_merge(state, id).await? else {
        return Ok(None);
    };
    system_note(
        tx,
        ticket.id,
        &subject,
        &format!(
            "Our email to the requester could not be delivered{why}: they have not seen it. \
             Check the address, or reach them another way."
        ),
    )
    .await?;
    Ok(Some(ticket.reference))
}

/// A server refused the requester's address for one of the ticket's
/// mails. Registered as a [`crate::platform::state::RefusalHook`].
pub fn recipient_refused<'a>(
    state: &'a Platform,
    tx: &'a mut Tx,
    refusal: &'a Refusal<'a>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        let why = format!(" (refused: {})", refusal.error.trim());
        note_undelivered(state, tx, refusal.dedupe_key, &why).await?;
        Ok(())
    })
}

pub async fn system_note(
    tx: &mut Tx,
    ticket_id: i64,
    subject: &Subject,
    body: &str,
) -> anyhow::Result<i64> {
    let id = db::insert_message(
        tx,
        ticket_id,
        subject.id,
        "note",
        None,
        &subject.seal("ticket_messages", "body", body),
    )
    .await?;
    db::touch(tx, ticket_id).await?;
    Ok(id)
}

/// A ticket's fields, decrypted for display.
#[derive(Clone, Debug)]
pub struct Ticket {
    pub id: i64,
    pub reference: String,
    pub subject_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: String,
    pub product: String,
    pub assignee_id: Option<i64>,
    pub first_response_at: Option<i64>,
    pub last_visitor_at: i64,
    pub merged_into: Option<i64>,
    pub link_nonce: String,
    pub closed_at: Option<i64>,
    pub priority: String,
    /// `form`, `email` or `chat`: where the ticket came from.
    pub channel: &'static str,
    pub team_id: Option<i64>,
    /// Since when the requester's unanswered message waits (`sla`).
    pub awaiting_since: Option<i64>,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub phone_e164: String,
    pub title: String,
}

impl Ticket {
    /// Opens a row with its subject's key; `None` when the subject was erased.
    pub fn open(state: &Platform, row: TicketRow) -> anyhow::Result<Option<(Ticket, Subject)>> {
        let Some(wrapped) = &row.wrapped_key else {
            return Ok(None);
        };
        let subject = Subject {
            id: row.subject_id,
            key: state.keyring.unwrap(row.subject_id, wrapped)?,
        };
        let open = |column: &str, v: &[u8]| subject.open("tickets", column, v);
        let maybe = |column: &str, v: &Option<Vec<u8>>| -> anyhow::Result<String> {
            v.as_deref()
                .map(|v| open(column, v))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let product = match &row.product_other {
            Some(other) => format!("{} (typed)", open("product_other", other)?),
            None => row.product.clone(),
        };
        let ticket = Ticket {
            id: row.id,
            reference: row.reference.clone().unwrap_or_default(),
            subject_id: row.subject_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            status: row.status.clone(),
            product,
            assignee_id: row.assignee_id,
            first_response_at: row.first_response_at,
            last_visitor_at: row.last_visitor_at,
            merged_into: row.merged_into,
            link_nonce: row.link_nonce.clone(),
            closed_at: row.closed_at,
            priority: row.priority.clone(),
            channel: super::automations::channel_of(&row.form_nonce),
            team_id: row.team_id,
            awaiting_since: row.awaiting_since,
            name: open("name", &row.name)?,
            email: open("email", &row.email)?,
            phone: maybe("phone", &row.phone)?,
            phone_e164: maybe("phone_e164", &row.phone_e164)?,
            title: open("title", &row.title)?,
        };
        Ok(Some((ticket, subject)))
    }

    /// Whether `q` (lower-cased) matches what staff may search for.
    pub fn matches(&self, q: &str) -> bool {
        [
            &self.reference,
            &self.name,
            &self.email,
            &self.title,
            &self.product,
            &self.phone,
            &self.phone_e164,
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(q))
    }
}

/// One message of a conversation, decrypted.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: i64,
    pub at: i64,
    /// `visitor`, `reply` or `note`.
    pub kind: String,
    pub staff_id: Option<i64>,
    pub author: String,
    pub body: String,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Clone, Debug)]
pub struct AttachmentView {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

impl AttachmentView {
    pub fn size_label(&self) -> String {
        if self.size >= 1024 * 1024 {
            format!("{:.1} MB", self.size as f64 / (1024.0 * 1024.0))
        } else {
            format!("{} KB", (self.size + 1023) / 1024)
        }
    }
}

/// The conversation of a ticket, decrypted; notes only for staff.
pub async fn conversation(
    state: &AppState,
    ticket: &Ticket,
    subject: &Subject,
    with_notes: bool,
    staff_names: &(dyn Fn(Option<i64>) -> String + Sync),
) -> anyhow::Result<Vec<Message>> {
    let rows: Vec<MessageRow> = db::messages(&state.db, ticket.id, with_notes).await?;
    let metas: Vec<AttachmentMeta> = db::attachments(&state.db, ticket.id).await?;
    rows.into_iter()
        .map(|m| {
            let attachments = metas
                .iter()
                .filter(|a| a.message_id == m.id)
                .map(|a| {
                    Ok(AttachmentView {
                        id: a.id,
                        filename: subject.open("ticket_attachments", "filename", &a.filename)?,
                        content_type: a.content_type.clone(),
                        size: a.size,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let author = match m.kind.as_str() {
                "visitor" => ticket.name.clone(),
                _ => staff_names(m.staff_id),
            };
            Ok(Message {
                id: m.id,
                at: m.created_at,
                body: subject.open("ticket_messages", "body", &m.body)?,
                kind: m.kind,
                staff_id: m.staff_id,
                author,
                attachments,
            })
        })
        .collect()
}

/// A person's tickets, decrypted, newest first.
pub async fn of_subject(state: &AppState, subject_id: i64) -> anyhow::Result<Vec<Ticket>> {
    let mut out = Vec::new();
    for row in db::by_subject(&state.db, subject_id).await? {
        if let Some((ticket, _)) = Ticket::open(state, row)? {
            out.push(ticket);
        }
    }
    Ok(out)
}

/// Raises a webhook event about a ticket in the caller's transaction:
/// its id, reference and status with `extra`; `personal` only for the
/// endpoints allowed personal data.
pub async fn raise(
    state: &AppState,
    tx: &mut Tx,
    kind: &'static str,
    ticket: &Ticket,
    subject: Option<&Subject>,
    extra: serde_json::Value,
    personal: serde_json::Value,
) -> anyhow::Result<()> {
    let mut data = serde_json::json!({
        "ticket_id": ticket.id,
        "reference": ticket.reference,
    });
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    webhooks::enqueue(
        tx,
        &state.keyring,
        state.clock.now(),
        webhooks::Event {
            kind,
            subject,
            data,
            personal,
        },
    )
    .await?;
    Ok(())
}

/// Raises `ticket.status_changed` when `ticket` (as it was before) moves to
/// `status`; nothing when it stays. `cause` says what moved it: `staff`
/// (set on the ticket or through the API), `reply` (a reply or a macro
/// with a status), `requester` (their answer reopened it), `merge` or
/// `bulk`.
pub async fn status_moved(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    status: &str,
    cause: &str,
) -> anyhow::Result<()> {
    if ticket.status == status {
        return Ok(());
    }
    raise(
        state,
        tx,
        "ticket.status_changed",
        ticket,
        Some(subject),
        serde_json::json!({ "from": ticket.status, "status": status, "cause": cause }),
        serde_json::json!({}),
    )
    .await
}

/// A staff reply: stored, mailed to the visitor through the outbox, and the
/// ticket moved to `status` (normally pending: waiting for the visitor).
pub async fn reply(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    staff: &crate::staff::StaffUser,
    body: &str,
    status: &str,
) -> anyhow::Result<i64> {
    let message_id = db::insert_message(
        tx,
        ticket.id,
        subject.id,
        "reply",
        Some(staff.id),
        &subject.seal("ticket_messages", "body", body),
    )
    .await?;
    super::search::index_message(state, tx, ticket.id, subject.id, body).await?;
    // The platform's clock, which tests move (the SLA clocks read these).
    db::mark_staff_reply(tx, ticket.id, status, state.clock.now()).await?;
    status_moved(state, tx, ticket, subject, status, "reply").await?;
    raise(
        state,
        tx,
        "ticket.replied",
        ticket,
        Some(subject),
        serde_json::json!({ "message_id": message_id, "from": "staff", "status": status }),
        serde_json::json!({ "body": body, "agent": staff.display_name }),
    )
    .await?;
    let site = state.site();
    let mail = ReplyMail {
        name: ticket.name.clone(),
        reference: ticket.reference.clone(),
        title: ticket.title.clone(),
        link: absolute(
            state,
            &conversation_path(state, ticket.id, &ticket.link_nonce),
        )?,
        company: site.company_name.clone(),
        agent: staff.display_name.clone(),
        body: body.to_string(),
    };
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::Subject(subject),
        "ticket-reply",
        &format!("ticket-reply:{message_id}"),
        &mail.to_mail(&ticket.email)?,
    )
    .await?;
    Ok(message_id)
}

/// An internal note: stored for staff, never mailed, never shown to the visitor.
pub async fn note(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    staff_id: i64,
    body: &str,
) -> anyhow::Result<i64> {
    let id = db::insert_message(
        tx,
        ticket.id,
        subject.id,
        "note",
        Some(staff_id),
        &subject.seal("ticket_messages", "body", body),
    )
    .await?;
    super::search::index_message(state, tx, ticket.id, subject.id, body).await?;
    db::touch(tx, ticket.id).await?;
    Ok(id)
}

/// The visitor's answer from the conversation page: back to the agents.
pub async fn visitor_reply(
    state: &AppState,
    ticket: &Ticket,
    subject: &Subject,
    body: &str,
) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let message_id = db::insert_message(
        &mut tx,
        ticket.id,
        subject.id,
        "visitor",
        None,
        &subject.seal("ticket_messages", "body", body),
    )
    .await?;
    super::search::index_message(state, &mut tx, ticket.id, subject.id, body).await?;
    db::mark_visitor_reply(&mut tx, ticket.id, state.clock.now()).await?;
    status_moved(state, &mut tx, ticket, subject, "open", "requester").await?;
    raise(
        state,
        &mut tx,
        "ticket.replied",
        ticket,
        Some(subject),
        serde_json::json!({ "message_id": message_id, "from": "requester" }),
        serde_json::json!({ "body": body }),
    )
    .await?;
    let mut saved = ticket.clone();
    super::automations::run_triggers(state, &mut tx, &mut saved, subject, "updated").await?;
    super::notify::visitor_answered(state, &mut tx, &saved, subject, message_id).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Decrypts an attachment's content with the subject's key.
pub fn open_attachment(key: &DataKey, content: &[u8]) -> anyhow::Result<Vec<u8>> {
    key.decrypt("ticket_attachments.content", content)
}

/// One of a person's tickets by its reference; `None` when there is no such
/// ticket or it is someone else's (the caller answers 404 either way).
pub async fn of_subject_by_reference(
    state: &AppState,
    subject_id: i64,
    reference: &str,
) -> anyhow::Result<Option<(Ticket, Subject)>> {
    let Ok(reference) = reference.parse::<TicketRef>() else {
        return Ok(None);
    };
    match db::ticket_by_reference(&state.db, reference.as_str()).await? {
        Some(row) if row.subject_id == subject_id => Ticket::open(state, row),
        _ => Ok(None),
    }
}

/// The reference of the ticket a merged one went into.
pub async fn reference_of(state: &AppState, id: i64) -> anyhow::Result<Option<String>> {
    Ok(db::ticket(&state.db, id).await?.and_then(|t| t.reference))
}
