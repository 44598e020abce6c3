//! The mail outbox. Every mail is a row written in the same transaction as
//! the change that causes it; a worker delivers due rows through SMTP (or
//! writes `.eml` files when no SMTP URL is set), retrying with backoff.
//! A `dedupe_key` makes each (reason, recipient) mail exist once, and the
//! Message-ID is fixed at enqueue time so a retry is recognisably the same mail.

use crate::{
    AppState,
    platform::{
        crypto::{DataKey, Keyring},
        db::{Db, Tx},
        now_ms, random_token,
        settings::SiteSettings,
    },
    privacy::{
        inventory::{Category, Field, Retention, Table},
        subjects::{self, Subject},
    },
};
use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
};
use serde::{Deserialize, Serialize};
use std::{path::PathBuf, time::Duration};

pub const TABLES: &[Table] = &[Table {
    name: "outbox",
    feature: "emails we send you",
    subject_column: Some("subject_id"),
    created_column: Some("created_at"),
    retention: Retention::Days(30),
    personal: &[Field {
        column: "payload",
        label: "emails we send you (address, subject and text)",
        category: Category::Message,
        purpose: "to deliver the emails you asked for, and to prove they were sent",
        encrypted: true,
        shared_with: &[],
    }],
    other: &[
        "id",
        "created_at",
        "reason",
        "dedupe_key",
        "subject_id",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "last_error",
        "sent_at",
        "message_id",
    ],
}];

const PAYLOAD_CONTEXT: &str = "outbox.payload";
const MAX_ATTEMPTS: i64 = 10;
const BATCH: i64 = 10;

/// A mail to send; rendered before it is enqueued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Extra headers, say `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
}

/// Whose key encrypts the stored mail.
pub enum Recipient<'a> {
    /// A data subject: erasing them makes the pending mail unreadable and it is cancelled.
    Subject(&'a Subject),
    /// A staff member or a mail that must outlive erasure (the erasure confirmation).
    System,
}

/// Enqueues a mail inside the caller's transaction. Returns false when a
/// mail with this dedupe key already exists (nothing is added).
pub async fn enqueue(
    tx: &mut Tx,
    keyring: &Keyring,
    site: &SiteSettings,
    recipient: Recipient<'_>,
    reason: &str,
    dedupe_key: &str,
    mail: &OutgoingMail,
) -> anyhow::Result<bool> {
    let json = serde_json::to_vec(&with_postal_footer(site, mail)).context("serialising mail")?;
    let (subject_id, payload) = match recipient {
        Recipient::Subject(s) => (Some(s.id), s.key.encrypt(PAYLOAD_CONTEXT, &json)),
        Recipient::System => (None, keyring.system_key().encrypt(PAYLOAD_CONTEXT, &json)),
    };
    let message_id = format!("<{}@{}>", random_token(18), site.mail_domain());
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO outbox (created_at, reason, dedupe_key, subject_id, payload, next_attempt_at, message_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(now)
    .bind(reason)
    .bind(dedupe_key)
    .bind(subject_id)
    .bind(payload)
    .bind(now)
    .bind(message_id)
    .execute(&mut **tx)
    .await
    .context("enqueueing mail")?
    .rows_affected();
    Ok(inserted == 1)
}

/// Every mail carries the business's postal address (CAN-SPAM), whatever
/// its template says.
fn with_postal_footer(site: &SiteSettings, mail: &OutgoingMail) -> OutgoingMail {
    let mut mail = mail.clone();
    if !mail.text.contains(&site.postal_address) {
        mail.text.push_str(&format!(
            "\n\n-- \n{}\n{}\n",
            site.company_name, site.postal_address
        ));
    }
    if let Some(html) = &mut mail.html
        && !html.contains(&escape_html(&site.postal_address))
    {
        html.push_str(&format!(
            "<p style=\"color:#555;font-size:12px\">{}<br>{}</p>",
            escape_html(&site.company_name),
            escape_html(&site.postal_address)
        ));
    }
    mail
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Mails not yet delivered or given up.
pub async fn depth(db: &Db) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            .fetch_one(&db.pool)
            .await?,
    )
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder.
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("invalid OFFICECOMMS_SMTP_URL")?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            )),
            None => Ok(Transport::Files(data_dir.join("mail"))),
        }
    }
}

enum Failure {
    /// Worth trying again later.
    Transient(String),
    /// Will never succeed (bad address, rejected by the server for good).
    Permanent(String),
}

async fn send(transport: &Transport, outbox_id: i64, message: &Message) -> Result<(), Failure> {
    match transport {
        Transport::Smtp(smtp) => smtp.send(message.clone()).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                Failure::Permanent(e.to_string())
            } else {
                Failure::Transient(e.to_string())
            }
        }),
        Transport::Files(dir) => {
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(dir)?;
                let tmp = dir.join(format!(".{outbox_id}.eml.tmp"));
                std::fs::write(&tmp, message.formatted())?;
                std::fs::rename(tmp, dir.join(format!("{outbox_id:08}.eml")))
            };
            write().map_err(|e| Failure::Transient(e.to_string()))
        }
    }
}

fn build_message(
    site: &SiteSettings,
    mail: &OutgoingMail,
    message_id: &str,
) -> Result<Message, String> {
    let from = Mailbox::new(
        Some(site.company_name.clone()),
        site.contact_email
            .parse()
            .map_err(|e| format!("sender: {e}"))?,
    );
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .reply_to(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(message_id.to_string()));
    for (name, value) in &mail.headers {
        let name = HeaderName::new_from_ascii(name.clone()).map_err(|e| format!("header: {e}"))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    let result = match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => builder.body(mail.text.clone()),
    };
    result.map_err(|e| e.to_string())
}

type ClaimedRow = (i64, Option<i64>, Option<Vec<u8>>, i64, String);

/// Claims and delivers the due mails; returns how many were handled.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let db = &state.db;
    let now = now_ms();
    let claim = db.pick(
        "UPDATE outbox SET claimed_until = $1 WHERE id IN (SELECT id FROM outbox \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
         ORDER BY id LIMIT $3) RETURNING id, subject_id, payload, attempts, message_id",
        "UPDATE outbox SET claimed_until = $1 WHERE id IN (SELECT id FROM outbox \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, subject_id, payload, attempts, message_id",
    );
    let rows: Vec<ClaimedRow> = sqlx::query_as(claim)
        .bind(now + 120_000)
        .bind(now)
        .bind(BATCH)
        .fetch_all(&db.pool)
        .await
        .context("claiming outbox rows")?;
    let site = state.site();
    for (n, (id, subject_id, payload, attempts, message_id)) in rows.iter().enumerate() {
        // Shutting down: the mail in hand was finished; hand the rest back
        // at once rather than when the claim expires.
        if state.stopping() {
            release(db, rows[n..].iter().map(|r| r.0)).await?;
            return Ok(n);
        }
        let key: Option<DataKey> = match subject_id {
            Some(sid) => subjects::key(db, &state.keyring, *sid).await?,
            None => Some(state.keyring.system_key().clone()),
        };
        let mail = match (key, payload) {
            (Some(key), Some(payload)) => {
                let json = key.decrypt(PAYLOAD_CONTEXT, payload)?;
                serde_json::from_slice::<OutgoingMail>(&json).context("outbox payload")?
            }
            // The recipient erased their data before we could send.
            _ => {
                finish(db, *id, "cancelled", None).await?;
                continue;
            }
        };
        let outcome = match build_message(&site, &mail, message_id) {
            Ok(message) => send(&state.mail_transport, *id, &message).await,
            Err(e) => Err(Failure::Permanent(e)),
        };
        match outcome {
            Ok(()) => finish(db, *id, "sent", None).await?,
            Err(Failure::Permanent(e)) => {
                tracing::warn!(outbox_id = id, error = %e, "mail failed permanently");
                finish(db, *id, "failed", Some(&e)).await?
            }
            Err(Failure::Transient(e)) if attempts + 1 >= MAX_ATTEMPTS => {
                tracing::warn!(outbox_id = id, error = %e, "mail failed after {MAX_ATTEMPTS} attempts");
                finish(db, *id, "failed", Some(&e)).await?
            }
            Err(Failure::Transient(e)) => {
                let backoff = (30_000i64 << attempts.min(&9)).min(6 * 3_600_000);
                tracing::info!(outbox_id = id, error = %e, "mail delivery will be retried");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, claimed_until = NULL, \
                     last_error = $2 WHERE id = $3",
                )
                .bind(now_ms() + backoff)
                .bind(&e)
                .bind(id)
                .execute(&db.pool)
                .await?;
            }
        }
    }
    Ok(rows.len())
}

async fn release(db: &Db, ids: impl Iterator<Item = i64>) -> anyhow::Result<()> {
    for id in ids {
        sqlx::query("UPDATE outbox SET claimed_until = NULL WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .execute(&db.pool)
            .await
            .context("releasing an outbox claim")?;
    }
    Ok(())
}

async fn finish(db: &Db, id: i64, status: &str, error: Option<&str>) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = $1, attempts = attempts + 1, sent_at = $2, last_error = $3, \
         claimed_until = NULL WHERE id = $4",
    )
    .bind(status)
    .bind(now_ms())
    .bind(error)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Runs the outbox worker until shutdown.
pub async fn run_worker(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let handled = match deliver_due(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = ?e, "outbox worker");
                0
            }
        };
        if handled > 0 {
            continue;
        }
        tokio::select! {
            _ = state.mail_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A mail rendered from `templates/email/<name>/{subject.txt,body.txt,body.html}`.
pub trait EmailTemplate {
    fn subject(&self) -> anyhow::Result<String>;
    fn text(&self) -> anyhow::Result<String>;
    fn html(&self) -> anyhow::Result<String>;

    fn to_mail(&self, to: &str) -> anyhow::Result<OutgoingMail> {
        Ok(OutgoingMail {
            to: to.to_string(),
            subject: self.subject()?.trim().to_string(),
            text: self.text()?,
            html: Some(self.html()?),
            headers: vec![],
        })
    }
}

/// Declares the three templates of an email and implements [`EmailTemplate`].
#[macro_export]
macro_rules! email_template {
    ($vis:vis struct $name:ident { $($field:ident : $ty:ty),* $(,)? }
     subject $subject:literal, text $text:literal, html $html:literal $(,)?) => {
        $vis struct $name { $(pub $field: $ty),* }
        const _: () = {
            #[derive(askama::Template)]
            #[template(path = $subject)]
            struct Subject<'a> { m: &'a $name }
            #[derive(askama::Template)]
            #[template(path = $text)]
            struct Text<'a> { m: &'a $name }
            #[derive(askama::Template)]
            #[template(path = $html)]
            struct Html<'a> { m: &'a $name }
            impl $crate::platform::mail::EmailTemplate for $name {
                fn subject(&self) -> anyhow::Result<String> { Ok(askama::Template::render(&Subject { m: self })?) }
                fn text(&self) -> anyhow::Result<String> { Ok(askama::Template::render(&Text { m: self })?) }
                fn html(&self) -> anyhow::Result<String> { Ok(askama::Template::render(&Html { m: self })?) }
            }
        };
    };
}
