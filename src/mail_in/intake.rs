//! One message in, whichever way it came (IMAP or the MTA pipe): a new
//! ticket, an answer on a ticket, a bounce or complaint, deliberately
//! ignored, or quarantined. Each is one transaction that also remembers
//! the message, so a message taken twice counts once.

use super::{
    db,
    parse::{self, File, Incoming, Kind, Report},
};
use crate::{
    AppState, newsletter,
    platform::{forms::EmailAddress, mail, now_ms},
    privacy::subjects::{self, Subject},
    staff::audit::{self, Actor},
    support::{
        self,
        intake::{
            Attachment, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, MAX_DETAILS_CHARS, NewTicket,
            OTHER_PRODUCT, sniff,
        },
        tickets::{self, Acknowledge, Ticket},
    },
};
use anyhow::Context;
use std::fmt;

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new ticket, by reference.
    Ticket(String),
    /// An answer that joined this ticket.
    Reply(String),
    /// A delivery report, and what it changed.
    Bounce(String),
    /// A complaint (ARF), and what it changed.
    Complaint(String),
    /// Taken and deliberately left alone, with why.
    Ignored(String),
    /// Taken before (the same Message-ID).
    Duplicate,
    /// Unreadable, kept for staff with why.
    Quarantined(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ticket(r) => write!(f, "new ticket {r}"),
            Outcome::Reply(r) => write!(f, "answer on ticket {r}"),
            Outcome::Bounce(what) => write!(f, "bounce: {what}"),
            Outcome::Complaint(what) => write!(f, "complaint: {what}"),
            Outcome::Ignored(why) => write!(f, "ignored: {why}"),
            Outcome::Duplicate => f.write_str("already taken"),
            Outcome::Quarantined(why) => write!(f, "quarantined: {why}"),
        }
    }
}

const SEALED_CONTEXT: &str = "mail_quarantine.raw";
const HOUR_MS: i64 = 3_600_000;

/// Takes one raw message. An error means nothing was stored (the database
/// could not be reached, say): the message should be offered again.
pub async fn take(state: &AppState, raw: &[u8]) -> anyhow::Result<Outcome> {
    let incoming = match parse::parse(raw) {
        Ok(m) => m,
        Err(why) => return quarantine(state, raw, why.label()).await,
    };
    let hash = state.keyring.blind_index("mail-in", &incoming.key);
    if db::seen(&state.db, &hash).await? {
        return Ok(Outcome::Duplicate);
    }
    match &incoming.kind {
        Kind::Bounce(r) => report(state, &incoming, r, false, &hash).await,
        Kind::Complaint(r) => report(state, &incoming, r, true, &hash).await,
        Kind::Person => person(state, incoming, raw, &hash).await,
    }
}

/// [`take`], with a panic turned into an error (so it counts as a failed
/// attempt instead of ending the reader or the process).
pub async fn attempt(state: &AppState, raw: &[u8]) -> anyhow::Result<Outcome> {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(take(state, raw))
        .catch_unwind()
        .await
    {
        Ok(taken) => taken,
        Err(_) => Err(anyhow::anyhow!("taking the message panicked")),
    }
}

/// For the MTA pipe, which offers a message again only when told to: takes
/// it, trying once more after a failure; when it still fails while the
/// database answers, it is quarantined for staff (a message that fails for
/// good must not come back forever). `Err` only when nothing could be
/// stored: the database is unreachable, and the MTA should try later.
pub async fn take_or_quarantine(state: &AppState, raw: &[u8]) -> anyhow::Result<Outcome> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match attempt(state, raw).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        if !db::reachable(&state.db).await {
            return Err(error);
        }
        tracing::error!(attempts, error = ?error, "mail in: a message could not be taken");
        if attempts >= 2 {
            return quarantine_failed(state, raw, attempts).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Quarantines a message that failed to be taken `attempts` times (the
/// errors are in the log: they may quote what the message held).
pub async fn quarantine_failed(
    state: &AppState,
    raw: &[u8],
    attempts: impl fmt::Display,
) -> anyhow::Result<Outcome> {
    quarantine(
        state,
        raw,
        &format!("it could not be taken after {attempts} attempts (see the log)"),
    )
    .await
}

/// Keeps an unreadable message, sealed, for staff (30 days).
async fn quarantine(state: &AppState, raw: &[u8], why: &str) -> anyhow::Result<Outcome> {
    use sha2::Digest;
    let key = format!("sha256:{}", hex::encode(sha2::Sha256::digest(raw)));
    let hash = state.keyring.blind_index("mail-in", &key);
    let mut tx = state.db.begin().await?;
    if !db::mark_seen(&mut tx, &hash, now_ms(), "quarantined").await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let sealed = state.keyring.system_key().encrypt(SEALED_CONTEXT, raw);
    db::quarantine(&mut tx, now_ms(), why, raw.len() as i64, &sealed)
        .await
        .context("quarantining a message")?;
    tx.commit().await?;
    tracing::warn!(
        reason = why,
        size = raw.len(),
        "mail in: message quarantined"
    );
    Ok(Outcome::Quarantined(why.to_string()))
}

/// Opens a quarantined message for staff.
pub fn open_quarantined(state: &AppState, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    state.keyring.system_key().decrypt(SEALED_CONTEXT, sealed)
}

async fn ignored(state: &AppState, hash: &[u8], why: String) -> anyhow::Result<Outcome> {
    let mut tx = state.db.begin().await?;
    if !db::mark_seen(&mut tx, hash, now_ms(), "ignored").await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    tx.commit().await?;
    Ok(Outcome::Ignored(why))
}

/// A message a person (or their robot) wrote.
async fn person(
    state: &AppState,
    mut incoming: Incoming,
    raw: &[u8],
    hash: &[u8],
) -> anyhow::Result<Outcome> {
    let written = incoming.from.clone().unwrap_or_default();
    let email: EmailAddress = match written.parse() {
        Ok(e) => e,
        Err(_) => return quarantine(state, raw, "a sender address we cannot answer").await,
    };
    let sender = subjects::normalise_email(email.as_str());
    let site = state.site();
    let domain = site.mail_domain().to_ascii_lowercase();
    let ours = sender == subjects::normalise_email(&site.contact_email)
        || (sender.starts_with("bounces+") && sender.ends_with(&format!("@{domain}")));
    if ours {
        return ignored(
            state,
            hash,
            "it comes from our own address (a mail loop)".into(),
        )
        .await;
    }
    let full = incoming.text.trim().to_string();
    let (mut body, mut original) = match parse::trim_quoted(&full) {
        Some(trimmed) => (trimmed, Some(full.clone())),
        None => (full.clone(), None),
    };
    if body.chars().count() > MAX_DETAILS_CHARS {
        body = body
            .chars()
            .take(MAX_DETAILS_CHARS - 80)
            .collect::<String>()
            + "\n[…] (shortened: the whole mail is in a note for staff)";
        original = Some(full.clone());
    }
    if body.is_empty() {
        body = "(This email had no text.)".into();
    }
    let original = original.map(|o| {
        let o: String = o.chars().take(100_000).collect();
        format!("The email as received, before its quoted history was trimmed:\n\n{o}")
    });
    let (attachments, left_out) =
        check_files(std::mem::take(&mut incoming.files), incoming.parts_skipped);
    if let Some((ticket, subject)) = thread(state, &incoming, &sender).await? {
        if let Some(why) = incoming.robot {
            return ignored(
                state,
                hash,
                format!("an automatic answer on {}: {why}", ticket.reference),
            )
            .await;
        }
        let mut tx = state.db.begin().await?;
        if !db::mark_seen(&mut tx, hash, now_ms(), "reply").await? {
            tx.rollback().await?;
            return Ok(Outcome::Duplicate);
        }
        tickets::mail_reply(
            state,
            &mut tx,
            &ticket,
            &subject,
            &body,
            original.as_deref(),
            &attachments,
        )
        .await?;
        if !left_out.is_empty() {
            tickets::system_note(&mut tx, ticket.id, &subject, &left_out_note(&left_out)).await?;
        }
        tx.commit().await?;
        return Ok(Outcome::Reply(ticket.reference));
    }
    let name = if incoming.from_name.is_empty() {
        sender.split('@').next().unwrap_or("").to_string()
    } else {
        incoming.from_name.clone()
    };
    let new = NewTicket {
        name,
        email,
        phone: None,
        phone_e164: None,
        product: OTHER_PRODUCT.to_string(),
        product_other: None,
        title: if incoming.subject.is_empty() {
            "(no subject)".into()
        } else {
            incoming.subject.clone()
        },
        details: body,
        attachments,
    };
    let sender_hash = state.keyring.blind_index("mail-sender", &sender);
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if !db::mark_seen(&mut tx, hash, now, "ticket").await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let mut notes = Vec::new();
    let acknowledge = match incoming.robot {
        Some(why) => {
            notes.push(format!("No acknowledgement was mailed: {why}."));
            Acknowledge::No
        }
        None if db::acks_since(&mut tx, &sender_hash, now - HOUR_MS).await? > 0 => {
            notes.push(
                "No acknowledgement was mailed: this address had one within the hour.".into(),
            );
            Acknowledge::No
        }
        None => Acknowledge::Email(incoming.message_id.as_deref()),
    };
    let acknowledged = !matches!(acknowledge, Acknowledge::No);
    if crate::staff::db::email_taken(&mut tx, &sender).await? {
        notes.push(
            "The From line names one of our staff accounts. Anyone can write any From line: \
             treat this as a message from outside, not from a colleague."
                .into(),
        );
    }
    let nonce = format!("mail:{}", hex::encode(&hash[..hash.len().min(16)]));
    let Some((id, reference)) =
        tickets::create_in(state, &mut tx, &new, &nonce, &sender_hash, acknowledge).await?
    else {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    };
    if acknowledged {
        db::record_ack(&mut tx, &sender_hash, now).await?;
    }
    audit::record(
        &mut tx,
        Actor::System("email in"),
        "create",
        "ticket",
        id,
        &format!("{reference} opened by an email"),
    )
    .await?;
    if !left_out.is_empty() {
        notes.push(left_out_note(&left_out));
    }
    let subject = subjects::find_or_create(&mut tx, &state.keyring, new.email.as_str()).await?;
    if let Some(original) = &original {
        tickets::system_note(&mut tx, id, &subject, original).await?;
    }
    if !notes.is_empty() {
        tickets::system_note(&mut tx, id, &subject, &notes.join("\n\n")).await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Outcome::Ticket(reference.to_string()))
}

/// The ticket a message answers: one of our mails it names (In-Reply-To,
/// References) or the reference in its subject, and only when its sender
/// is that ticket's requester (a stranger's forged header joins nothing).
async fn thread(
    state: &AppState,
    incoming: &Incoming,
    sender: &str,
) -> anyhow::Result<Option<(Ticket, Subject)>> {
    let mut candidates = Vec::new();
    if let Some(sent) = mail::sent_by_message_id(&state.db, &incoming.answers).await?
        && let Some(id) = tickets::ticket_of_mail(state, &sent.dedupe_key).await?
    {
        candidates.push(id);
    }
    if let Some(reference) = parse::reference_in(&incoming.subject)
        && let Some(row) = support::db::ticket_by_reference(&state.db, &reference).await?
    {
        candidates.push(row.id);
    }
    for id in candidates {
        if let Some((ticket, subject)) = tickets::open_following_merge(state, id).await?
            && subjects::normalise_email(&ticket.email) == sender
        {
            return Ok(Some((ticket, subject)));
        }
    }
    Ok(None)
}

/// The files a ticket may hold (the form's types and limits) and a line
/// for each one kept out.
fn check_files(files: Vec<File>, skipped: usize) -> (Vec<Attachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for file in files {
        let name = file
            .name
            .rsplit(['/', '\\'])
            .next()
            .map(|n| parse::one_line(n, 120))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "attachment".into());
        if file.bytes.is_empty() {
            continue;
        }
        if kept.len() >= MAX_ATTACHMENTS {
            left_out.push(format!("{name}: more than {MAX_ATTACHMENTS} files"));
        } else if file.bytes.len() > MAX_ATTACHMENT_BYTES {
            left_out.push(format!("{name}: larger than 5 MB"));
        } else if let Some(content_type) = sniff(&file.bytes) {
            kept.push(Attachment {
                filename: name,
                content_type,
                bytes: file.bytes.into(),
            });
        } else {
            left_out.push(format!(
                "{name}: not an image, a PDF or plain text (judged by its content)"
            ));
        }
    }
    if skipped > 0 {
        left_out.push(format!("{skipped} more parts of the mail were not read"));
    }
    (kept, left_out)
}

fn left_out_note(left_out: &[String]) -> String {
    format!(
        "Files in the email that were not kept (ask the sender for another way if you need them):\n{}",
        left_out
            .iter()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// A mail that went this long without a bounce reached its mailbox: an
/// MTA gives up on a temporary failure after five days (Postfix's
/// `maximal_queue_lifetime`) and reports it then.
const DELIVERED_AFTER_MS: i64 = 7 * 24 * HOUR_MS;

/// Soft bounces count temporary failures in a row: once one of our mails
/// (other than `bouncing`) reached the person after their last soft bounce,
/// that is, was accepted and a week passed without a bounce, the count
/// starts over. (Acceptance by our relay alone proves nothing: a weekly
/// campaign would reset the count before each bounce came back.)
async fn forget_bounces_after_a_delivery(
    tx: &mut crate::platform::db::Tx,
    subject_id: i64,
    bouncing: i64,
    now: i64,
) -> anyhow::Result<()> {
    if let Some(last) = db::last_soft_bounce(tx, subject_id).await?
        && mail::delivered_between(tx, subject_id, last, now - DELIVERED_AFTER_MS, bouncing).await?
    {
        db::forget_soft_bounces(tx, subject_id).await?;
    }
    Ok(())
}

/// A bounce or a complaint about one of our mails, matched by the VERP
/// address it came back to or the original's Message-ID. Only the outcome
/// is kept, never the report.
async fn report(
    state: &AppState,
    incoming: &Incoming,
    report: &Report,
    complaint: bool,
    hash: &[u8],
) -> anyhow::Result<Outcome> {
    let domain = state.site().mail_domain().to_string();
    let mut sent = None;
    for address in &incoming.delivered_to {
        if let Some((local, d)) = address.rsplit_once('@')
            && d.eq_ignore_ascii_case(&domain)
            && let Some(token) = local.strip_prefix("bounces+")
        {
            sent = mail::sent_by_verp_token(&state.db, token, &domain).await?;
            if sent.is_some() {
                break;
            }
        }
    }
    if sent.is_none() {
        sent = mail::sent_by_message_id(&state.db, &report.original).await?;
    }
    let what = if complaint { "complaint" } else { "bounce" };
    let Some(sent) = sent else {
        return ignored(
            state,
            hash,
            format!("a {what} about a mail we do not know (or no longer keep)"),
        )
        .await;
    };
    let hard = complaint || report.is_hard();
    if !hard && !report.is_soft() {
        return ignored(
            state,
            hash,
            "a delivery notice that is not a failure".into(),
        )
        .await;
    }
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if !db::mark_seen(&mut tx, hash, now, what).await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    if hard && !complaint {
        let detail = format!(
            "bounced ({})",
            if report.status.is_empty() {
                "failed"
            } else {
                &report.status
            }
        );
        mail::mark_bounced(&mut tx, sent.id, &detail).await?;
    }
    let campaign = newsletter::public::campaign_of_reason(&sent.reason);
    let done = match (campaign, sent.subject_id) {
        (Some(campaign), Some(subject_id)) => {
            let stop = hard || {
                let now = state.clock.now();
                forget_bounces_after_a_delivery(&mut tx, subject_id, sent.id, now).await?;
                let limit = support::settings::load(&state.db)
                    .await?
                    .soft_bounce_limit(state.config.soft_bounce_limit);
                db::count_soft_bounce(&mut tx, subject_id, now).await? >= limit
            };
            if stop {
                newsletter::public::stop_after_bounce(state, &mut tx, subject_id, Some(campaign))
                    .await?;
                "the address gets no more marketing mail".to_string()
            } else {
                "a soft bounce counted".to_string()
            }
        }
        _ if hard && !complaint => {
            let status = if report.status.is_empty() {
                String::new()
            } else {
                format!(" (status {})", report.status)
            };
            match tickets::note_undelivered(state, &mut tx, &sent.dedupe_key, &status).await? {
                Some(reference) => format!("the mail on {reference} is marked failed"),
                None => "the mail is marked failed".to_string(),
            }
        }
        _ => "noted".to_string(),
    };
    tx.commit().await?;
    Ok(if complaint {
        Outcome::Complaint(done)
    } else {
        Outcome::Bounce(done)
    })
}
