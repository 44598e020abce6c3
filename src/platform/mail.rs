//! The mail outbox. Every mail is a row written in the same transaction as
//! the change that causes it; a worker delivers due rows through SMTP (or
//! writes `.eml` files when no SMTP URL is set), retrying with backoff.
//! A `dedupe_key` makes each (reason, recipient) mail exist once, and the
//! Message-ID is fixed at enqueue time so a retry is recognisably the same mail.

use super::{
    crypto::Keyring,
    db::{Db, Tx, placeholders, trusted_sql},
    inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
    now_ms, random_token,
    settings::SiteSettings,
    state::{Platform, Refusal},
    subjects::{self, Subject},
};
use anyhow::Context;
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::{
    Message,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
};
use serde::{Deserialize, Serialize};
use std::{
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

pub const TABLES: &[Table] = &[Table {
    name: "outbox",
    feature: "emails we send you",
    title: "Emails we sent you",
    summary: "{payload} · sent {sent_at}",
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
    columns: &[
        Column::new(
            "payload",
            "Email",
            Shown::Mail,
            "A copy of the email (address, subject and text), kept so we can deliver it and show it was sent.",
        ),
        Column::new(
            "reason",
            "Why we sent it",
            Shown::Status,
            "What made us write (for example your support request).",
        ),
        Column::new(
            "status",
            "Delivery",
            Shown::Status,
            "Whether the email has been handed to your mail provider yet.",
        ),
        Column::new(
            "created_at",
            "Written",
            Shown::DateTime,
            "When we wrote the email.",
        ),
        Column::new(
            "sent_at",
            "Sent",
            Shown::DateTime,
            "When your mail provider accepted it.",
        ),
        Column::new(
            "attempts",
            "Delivery attempts",
            Shown::Number,
            "How many times our server tried to hand it over.",
        ),
        Column::new(
            "last_error",
            "Last delivery problem",
            Shown::Text,
            "What went wrong on the last failed attempt, if anything did.",
        ),
        Column::internal("id", ROW_ID),
        Column::internal("subject_id", SUBJECT_ID),
        Column::internal(
            "dedupe_key",
            "A key that makes sure the same email is never sent to you twice.",
        ),
        Column::internal(
            "next_attempt_at",
            "When our server tries again after a failed attempt.",
        ),
        Column::internal(
            "claimed_until",
            "A short lock our mail sender holds while it sends, so that two senders never send the same email.",
        ),
        Column::internal(
            "message_id",
            "The email's unique technical name (its Message-ID header).",
        ),
    ],
}];

const PAYLOAD_CONTEXT: &str = "outbox.payload";
/// The folder of the data dir that `.eml` files go to without SMTP.
pub const MAIL_DIR: &str = "mail";
const MAX_ATTEMPTS: i64 = 10;
/// A mail under the system key outlives erasure (the erasure confirmation
/// holds the erased address): once it is finished its content goes.
const PURGE_SYSTEM_PAYLOAD: &str =
    "payload = CASE WHEN subject_id IS NULL THEN NULL ELSE payload END";
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
    /// A staff member or a mail that must outlive erasure (the erasure
    /// confirmation); its content is purged once it is finished.
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
    let json = serde_json::to_vec(&with_postal_address(site, mail)).context("serialising mail")?;
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

/// Where the mail layout (`templates/email/layout.{html,txt}`) puts the
/// postal address; [`with_postal_address`] fills it in.
pub const POSTAL_ADDRESS_SLOT: &str = "{postal-address}";

/// The mail as it is stored and sent: every mail carries the business's
/// postal address (CAN-SPAM), in the layout's footer or, for a mail not on
/// the layout, after its text.
pub fn with_postal_address(site: &SiteSettings, mail: &OutgoingMail) -> OutgoingMail {
    let mut mail = mail.clone();
    let street = site.street_address();
    if mail.text.contains(POSTAL_ADDRESS_SLOT) {
        mail.text = mail.text.replace(POSTAL_ADDRESS_SLOT, street);
    } else if !mail.text.contains(street) {
        mail.text
            .push_str(&format!("\n\n-- \n{}\n{}\n", site.company_name, street));
    }
    if let Some(html) = &mut mail.html {
        if html.contains(POSTAL_ADDRESS_SLOT) {
            *html = html.replace(POSTAL_ADDRESS_SLOT, &escape_html(street));
        } else if !html.contains(&escape_html(street)) {
            html.push_str(&format!(
                "<p style=\"color:#555;font-size:12px\">{}<br>{}</p>",
                escape_html(&site.company_name),
                escape_html(street)
            ));
        }
    }
    mail
}

/// Whether a message opens with a greeting of its own ("Hello Ann,"), so
/// that the mail carrying it does not greet a second time.
pub fn starts_with_greeting(text: &str) -> bool {
    let first = text.trim_start().to_lowercase();
    [
        "hello",
        "hi ",
        "hi,",
        "hey ",
        "hey,",
        "dear ",
        "good morning",
        "good afternoon",
        "good evening",
    ]
    .iter()
    .any(|g| first.starts_with(g))
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
    Smtp(std::sync::Arc<super::smtp::SmtpServer>),
    /// `.eml` files in this folder.
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(std::sync::Arc::new(
                super::smtp::SmtpServer::from_url(url).context("invalid OFFICECOMMS_SMTP_URL")?,
            ))),
            None => Ok(Transport::Files(data_dir.join(MAIL_DIR))),
        }
    }
}

enum Failure {
    /// Worth trying again later.
    Transient(String),
    /// Will never succeed (a message we cannot build, refused for good).
    Permanent(String),
    /// The recipient's server refused the address for good: the features
    /// hear of it as of a hard bounce (see [`RefusalHook`]).
    Refused(String),
}

/// Delivers one message. `before_dot` runs when the server holds the whole
/// message but has not accepted it yet (SMTP), or once it is written (files).
async fn send(
    transport: &Transport,
    outbox_id: i64,
    subject_id: Option<i64>,
    message: &Message,
    before_dot: impl FnOnce(),
) -> Result<(), Failure> {
    match transport {
        Transport::Smtp(smtp) => smtp.send(message, before_dot).await.map_err(|e| match e {
            super::smtp::SendError::Permanent(e) => Failure::Permanent(e),
            super::smtp::SendError::Refused(e) => Failure::Refused(e),
            super::smtp::SendError::Transient(e) => Failure::Transient(e),
        }),
        Transport::Files(dir) => {
            let write = || -> std::io::Result<()> {
                private_dir(dir)?;
                let tmp = dir.join(format!(".{outbox_id}.eml.tmp"));
                write_private(&tmp, &message.formatted())?;
                before_dot();
                std::fs::rename(tmp, dir.join(file_name(outbox_id, subject_id)))
            };
            write().map_err(|e| Failure::Transient(e.to_string()))
        }
    }
}

/// `00000042.eml` for a staff or system mail, `00000042.subject-7.eml`
/// for a mail to data subject 7, so erasure finds their files by name.
fn file_name(outbox_id: i64, subject_id: Option<i64>) -> String {
    match subject_id {
        Some(sid) => format!("{outbox_id:08}.subject-{sid}.eml"),
        None => format!("{outbox_id:08}.eml"),
    }
}

/// The outbox id a mail file (or its temporary file) was written for.
fn outbox_id_of(name: &str) -> Option<i64> {
    let digits = name.trim_start_matches('.');
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    (name.contains(".eml") && end > 0)
        .then(|| digits[..end].parse().ok())
        .flatten()
}

/// Creates `dir` readable by the owner alone (and makes it so if it exists).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Writes a file readable by the owner alone, whatever the umask.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // A file left by an older version may have been created wider.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)
}

/// The mail files (and unfinished temporary files) in `data_dir/mail/`,
/// with the outbox id each was written for.
fn mail_files(data_dir: &Path) -> std::io::Result<Vec<(PathBuf, String, i64)>> {
    let entries = match std::fs::read_dir(data_dir.join(MAIL_DIR)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = outbox_id_of(&name)
            && entry.file_type()?.is_file()
        {
            files.push((entry.path(), name, id));
        }
    }
    Ok(files)
}

/// Deletes the mail files written to a data subject (on erasure); returns
/// how many.
pub fn remove_files_of(data_dir: &Path, subject_id: i64) -> std::io::Result<usize> {
    let suffix = format!(".subject-{subject_id}.eml");
    let mut removed = 0;
    for (path, name, _) in mail_files(data_dir)? {
        if name.ends_with(&suffix) {
            std::fs::remove_file(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Deletes the mail files whose outbox row is gone (erased, or past its
/// retention), files of older versions named without their subject
/// included; returns how many.
pub async fn sweep_files(db: &Db, data_dir: &Path) -> anyhow::Result<usize> {
    let files = mail_files(data_dir).context("listing the mail folder")?;
    let mut ids: Vec<i64> = files.iter().map(|f| f.2).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut live = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id FROM outbox WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(trusted_sql(sql)).persistent(false);
        for id in chunk {
            q = q.bind(id);
        }
        live.extend(q.fetch_all(&db.pool).await.context("reading outbox ids")?);
    }
    let mut removed = 0;
    for (path, _, id) in files {
        if !live.contains(&id) {
            std::fs::remove_file(&path).with_context(|| format!("deleting {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn build_message(
    site: &SiteSettings,
    mail: &OutgoingMail,
    message_id: &str,
) -> Result<Message, String> {
    let site_sender = || -> Result<Mailbox, String> {
        Ok(Mailbox::new(
            Some(site.company_name.clone()),
            site.contact_email
                .parse()
                .map_err(|e| format!("sender: {e}"))?,
        ))
    };
    // A mail may name its own From and Reply-To (a campaign does, after
    // its checks); otherwise both are the company's contact address.
    let given = |name: &str| {
        mail.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.parse::<Mailbox>().map_err(|e| format!("{name}: {e}")))
    };
    let from = given("From").unwrap_or_else(site_sender)?;
    let reply_to = given("Reply-To").unwrap_or_else(|| Ok(from.clone()))?;
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    // VERP: bounces come back to `bounces+TOKEN@…`, naming the mail they are about.
    let return_path = verp_address(message_id, site.mail_domain())
        .parse()
        .map_err(|e| format!("return path: {e}"))?;
    let envelope = lettre::address::Envelope::new(Some(return_path), vec![to.email.clone()])
        .map_err(|e| format!("envelope: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .reply_to(reply_to)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(message_id.to_string()))
        .envelope(envelope);
    for (name, value) in &mail.headers {
        if name.eq_ignore_ascii_case("From") || name.eq_ignore_ascii_case("Reply-To") {
            continue;
        }
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

/// The envelope sender (Return-Path) of a mail: `bounces+TOKEN@domain`,
/// TOKEN being the local part of its Message-ID.
pub fn verp_address(message_id: &str, domain: &str) -> String {
    let token = message_id
        .trim_matches(['<', '>'])
        .split('@')
        .next()
        .unwrap_or_default();
    format!("bounces+{token}@{domain}")
}

/// A mail we sent, found again by its Message-ID (a reply or a bounce names it).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SentMail {
    pub id: i64,
    pub reason: String,
    pub dedupe_key: String,
    pub subject_id: Option<i64>,
    pub status: String,
}

/// The first of these Message-IDs (`<…@…>`, in the order given) that is one
/// of our mails still in the outbox (it keeps them 30 days).
pub async fn sent_by_message_id(
    db: &Db,
    message_ids: &[String],
) -> anyhow::Result<Option<SentMail>> {
    for id in message_ids.iter().take(50) {
        let id = format!("<{}>", id.trim().trim_matches(['<', '>']));
        let found: Option<SentMail> = sqlx::query_as(
            "SELECT id, reason, dedupe_key, subject_id, status FROM outbox WHERE message_id = $1",
        )
        .bind(&id)
        .fetch_optional(&db.pool)
        .await
        .context("finding a sent mail by its Message-ID")?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The mail a VERP token (`bounces+TOKEN@domain`) names.
pub async fn sent_by_verp_token(
    db: &Db,
    token: &str,
    domain: &str,
) -> anyhow::Result<Option<SentMail>> {
    sent_by_message_id(db, &[format!("{token}@{domain}")]).await
}

/// Records that a delivered mail came back (a bounce report, or a refusal
/// at send time): it counts as failed, with the reason, for staff to see.
/// Whether a mail to this person, other than `except`, was accepted by
/// the server after `after` and before `before` and has not failed since.
pub async fn delivered_between(
    tx: &mut Tx,
    subject_id: i64,
    after: i64,
    before: i64,
    except: i64,
) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE subject_id = $1 AND status = 'sent' \
         AND sent_at > $2 AND sent_at < $3 AND id <> $4",
    )
    .bind(subject_id)
    .bind(after)
    .bind(before)
    .bind(except)
    .fetch_one(&mut **tx)
    .await
    .context("reading a person's delivered mail")?;
    Ok(n > 0)
}

pub async fn mark_bounced(tx: &mut Tx, id: i64, detail: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = $1, claimed_until = NULL WHERE id = $2",
    )
    .bind(detail)
    .bind(id)
    .execute(&mut **tx)
    .await
    .context("marking a mail bounced")?;
    Ok(())
}

type ClaimedRow = (i64, Option<i64>, Option<Vec<u8>>, i64, String);

/// How the outbox worker delivers: how many mails at once, how many per
/// second, and the crash journal. One per process.
pub struct Delivery {
    concurrency: usize,
    rate: u32,
    pacer: Option<DefaultDirectRateLimiter>,
    journal: Journal,
    /// One batch at a time per process, so the journal describes it alone.
    batch: tokio::sync::Mutex<()>,
}

impl Delivery {
    /// `concurrency` mails in flight at once; at most `rate` per second (0: no limit).
    pub fn new(concurrency: usize, rate: u32, data_dir: &Path) -> Delivery {
        Delivery {
            concurrency: concurrency.max(1),
            rate,
            pacer: NonZeroU32::new(rate).map(|r| RateLimiter::direct(Quota::per_second(r))),
            journal: Journal {
                path: data_dir.join(JOURNAL_FILE),
                file: std::sync::Mutex::new(None),
            },
            batch: tokio::sync::Mutex::new(()),
        }
    }
}

pub const JOURNAL_FILE: &str = "outbox.journal";

/// `DATA_DIR/outbox.journal`: which mails of the batch in hand were claimed
/// ("c"), handed over whole to the SMTP server with only the final dot to
/// go ("s"; older versions also wrote "d" once accepted). The database learns of a batch's
/// deliveries when the batch ends; after a crash (kill -9) in between,
/// [`recover`] reads the journal: "s" and "d" count as sent (the dot is
/// written microseconds after "s", and the kernel still delivers what a
/// killed process wrote, so the server accepts), so they are not sent
/// again; the rest never reached the dot, the server dropped them, and
/// they are released to go at once. A line written
/// before the crash survives it (the page cache is the kernel's); only a
/// power cut could lose the last lines.
struct Journal {
    path: PathBuf,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl Journal {
    fn write(&self, kind: char, ids: &[i64]) -> std::io::Result<()> {
        use std::io::Write;
        let mut line = String::with_capacity(ids.len() * 8 + 4);
        for id in ids {
            line.push(kind);
            line.push(' ');
            line.push_str(&id.to_string());
            line.push('\n');
        }
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        // One write call per record: a crash cannot leave half a line behind a whole one.
        guard.as_mut().expect("opened").write_all(line.as_bytes())
    }

    /// Forgets the batch, once the database holds its outcome.
    fn reset(&self) -> std::io::Result<()> {
        let guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(f) => f.set_len(0),
            None => Ok(()),
        }
    }

    /// `(claimed or sending, sent)` ids left by an interrupted batch.
    fn read(&self) -> std::io::Result<(Vec<i64>, Vec<i64>)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
            Err(e) => return Err(e),
        };
        let mut sent = std::collections::BTreeSet::new();
        let mut open = std::collections::BTreeSet::new();
        for line in text.lines() {
            let Some((kind, id)) = line.split_once(' ') else {
                continue;
            };
            let Ok(id) = id.trim().parse::<i64>() else {
                continue;
            };
            match kind {
                "d" | "s" => {
                    sent.insert(id);
                }
                "c" => {
                    open.insert(id);
                }
                _ => {}
            }
        }
        let open = open.difference(&sent).copied().collect();
        Ok((open, sent.into_iter().collect()))
    }
}

/// After a crash: marks sent what the journal says the SMTP server
/// accepted, releases the claims of the rest so they go out at once, and
/// clears the journal. Returns `(sent, released)`.
pub async fn recover(state: &Platform) -> anyhow::Result<(usize, usize)> {
    let journal = &state.delivery.journal;
    let (open, sent) = journal.read().context("reading the outbox journal")?;
    let now = now_ms();
    for chunk in sent.chunks(500) {
        let sql = format!(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, \
             claimed_until = NULL, {PURGE_SYSTEM_PAYLOAD} WHERE status = 'pending' AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(trusted_sql(sql)).persistent(false).bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&state.db.pool).await?;
    }
    release(&state.db, open.iter().copied()).await?;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&journal.path)
        .context("clearing the outbox journal")?;
    if !sent.is_empty() || !open.is_empty() {
        tracing::warn!(
            sent = sent.len(),
            released = open.len(),
            "outbox recovered after an interrupted batch"
        );
    }
    Ok((sent.len(), open.len()))
}

enum Outcome {
    Sent(i64),
    Failed(i64, Failure, i64),
    Cancelled(i64),
    /// Not started because the process is stopping.
    HandedBack(i64),
}

/// Claims and delivers the due mails; returns how many were handled.
pub async fn deliver_due(state: &Platform) -> anyhow::Result<usize> {
    let delivery = &state.delivery;
    let _batch = delivery.batch.lock().await;
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
    // About a second of work at most, so a pause or an unsubscribe
    // overtakes mail claimed but not yet sent within a second.
    let mut limit = (delivery.concurrency as i64 * 25).clamp(BATCH, 1000);
    if delivery.rate > 0 {
        limit = limit.min(i64::from(delivery.rate)).max(1);
    }
    let rows: Vec<ClaimedRow> = sqlx::query_as(claim)
        .bind(now + 120_000)
        .bind(now)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("claiming outbox rows")?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    if let Err(e) = delivery.journal.write('c', &ids) {
        release(db, ids.into_iter()).await?;
        return Err(anyhow::Error::new(e).context("writing the outbox journal"));
    }
    let subject_ids: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
    let keys = subjects::keys_of(db, &state.keyring, &subject_ids).await?;
    let site = state.site();
    // Each mail is opened and built as its turn comes, not all before the
    // first goes: the batch holds its sealed payloads, and only the mails
    // in flight exist whole (`concurrency` of them), whatever the batch's size.
    let sends = futures_util::stream::iter(rows.into_iter().map(
        |(id, subject_id, payload, attempts, message_id)| {
            let key = match subject_id {
                Some(sid) => keys.get(&sid),
                None => Some(state.keyring.system_key()),
            };
            let site = &site;
            async move {
                let mail = match (key, payload) {
                    (Some(key), Some(payload)) => {
                        let opened = key.decrypt(PAYLOAD_CONTEXT, &payload).and_then(|json| {
                            serde_json::from_slice::<OutgoingMail>(&json).context("outbox payload")
                        });
                        drop(payload);
                        match opened {
                            Ok(mail) => mail,
                            Err(e) => {
                                return Outcome::Failed(
                                    id,
                                    Failure::Permanent(format!("{e:#}")),
                                    attempts,
                                );
                            }
                        }
                    }
                    // The recipient erased their data before we could send.
                    _ => return Outcome::Cancelled(id),
                };
                let message = match build_message(site, &mail, &message_id) {
                    Ok(message) => message,
                    Err(e) => return Outcome::Failed(id, Failure::Permanent(e), attempts),
                };
                drop(mail);
                // Shutting down: the mails in hand are finished; the rest are
                // handed back at once rather than when the claim expires.
                if state.stopping() {
                    return Outcome::HandedBack(id);
                }
                if let Some(pacer) = &delivery.pacer {
                    pacer.until_ready().await;
                }
                let sending = || {
                    if let Err(e) = delivery.journal.write('s', &[id]) {
                        tracing::error!(outbox_id = id, error = %e, "outbox journal");
                    }
                };
                // No "d" line once accepted: recovery counts "s" as sent already.
                match send(&state.mail_transport, id, subject_id, &message, sending).await {
                    Ok(()) => Outcome::Sent(id),
                    Err(f) => Outcome::Failed(id, f, attempts),
                }
            }
        },
    ))
    .buffer_unordered(delivery.concurrency);
    let outcomes = sends.collect::<Vec<_>>().await;
    let handled = record_outcomes(state, &outcomes).await?;
    delivery
        .journal
        .reset()
        .context("clearing the outbox journal")?;
    Ok(handled)
}

/// Writes a batch's outcomes; returns how many mails were handled (not handed back).
async fn record_outcomes(state: &Platform, outcomes: &[Outcome]) -> anyhow::Result<usize> {
    let db = &state.db;
    let sent: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Sent(id) => Some(*id),
            _ => None,
        })
        .collect();
    let now = now_ms();
    for chunk in sent.chunks(500) {
        let sql = format!(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, \
             last_error = NULL, claimed_until = NULL, {PURGE_SYSTEM_PAYLOAD} WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(trusted_sql(sql)).persistent(false).bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&db.pool).await.context("recording sent mails")?;
    }
    let mut handled = sent.len();
    let mut handed_back = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Sent(_) => {}
            Outcome::HandedBack(id) => handed_back.push(*id),
            Outcome::Cancelled(id) => {
                finish(&db.pool, *id, "cancelled", None).await?;
                handled += 1;
            }
            Outcome::Failed(id, Failure::Permanent(e), _) => {
                tracing::warn!(outbox_id = id, error = %e, "mail failed permanently");
                finish(&db.pool, *id, "failed", Some(e)).await?;
                handled += 1;
            }
            Outcome::Failed(id, Failure::Refused(e), _) => {
                tracing::warn!(outbox_id = id, error = %e, "recipient refused");
                refused(state, *id, e).await?;
                handled += 1;
            }
            Outcome::Failed(id, Failure::Transient(e), attempts)
                if attempts + 1 >= MAX_ATTEMPTS =>
            {
                tracing::warn!(outbox_id = id, error = %e, "mail failed after {MAX_ATTEMPTS} attempts");
                finish(&db.pool, *id, "failed", Some(e)).await?;
                handled += 1;
            }
            Outcome::Failed(id, Failure::Transient(e), attempts) => {
                let backoff = (30_000i64 << (*attempts).min(9)).min(6 * 3_600_000);
                tracing::info!(outbox_id = id, error = %e, "mail delivery will be retried");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, claimed_until = NULL, \
                     last_error = $2 WHERE id = $3",
                )
                .bind(now_ms() + backoff)
                .bind(e)
                .bind(id)
                .execute(&db.pool)
                .await?;
                handled += 1;
            }
        }
    }
    release(db, handed_back.into_iter()).await?;
    Ok(handled)
}

async fn release(db: &Db, ids: impl Iterator<Item = i64>) -> anyhow::Result<()> {
    let ids: Vec<i64> = ids.collect();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE outbox SET claimed_until = NULL WHERE status = 'pending' AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(trusted_sql(sql)).persistent(false);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&db.pool)
            .await
            .context("releasing outbox claims")?;
    }
    Ok(())
}

/// A refused mail fails, and each feature's [`RefusalHook`] acts on it,
/// in one transaction: the campaign that mailed the address stops
/// mailing it as a bounce report would have made it.
async fn refused(state: &Platform, id: i64, error: &str) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let row: Option<(String, Option<i64>, String)> =
        sqlx::query_as("SELECT reason, subject_id, dedupe_key FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    finish(&mut *tx, id, "failed", Some(&format!("refused: {error}"))).await?;
    if let Some((reason, subject_id, dedupe_key)) = row {
        let refusal = Refusal {
            outbox_id: id,
            reason: &reason,
            subject_id,
            dedupe_key: &dedupe_key,
            error,
        };
        for hook in &state.registry.refusals {
            hook(state, &mut tx, &refusal).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn finish<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: i64,
    status: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = $1, attempts = attempts + 1, sent_at = $2, last_error = $3, \
         claimed_until = NULL, payload = CASE WHEN subject_id IS NULL THEN NULL ELSE payload END \
         WHERE id = $4",
    )
    .bind(status)
    .bind(now_ms())
    .bind(error)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Runs the outbox worker until shutdown, after recovering from a crash.
pub async fn run_worker(state: Platform, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if let Err(e) = recover(&state).await {
        tracing::error!(error = ?e, "outbox recovery");
    }
    let mut counted_at = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if *shutdown.borrow() {
            return;
        }
        // The metrics' figure, counted here (at most every few seconds)
        // rather than on each scrape.
        if counted_at.elapsed() >= Duration::from_secs(5) {
            match depth(&state.db).await {
                Ok(n) => state.metrics.set_outbox_depth(n),
                Err(e) => tracing::warn!(error = ?e, "counting the outbox"),
            }
            counted_at = std::time::Instant::now();
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

/// One mail of a batch for [`enqueue_many`].
pub struct Queued<'a> {
    pub subject: &'a Subject,
    pub dedupe_key: String,
    pub mail: OutgoingMail,
}

/// Enqueues many mails for one reason in the caller's transaction, a few
/// hundred rows per statement. Mails whose dedupe key exists are skipped;
/// returns how many were added.
pub async fn enqueue_many(
    tx: &mut Tx,
    site: &SiteSettings,
    reason: &str,
    items: &[Queued<'_>],
) -> anyhow::Result<u64> {
    const ROWS: usize = 400;
    let now = now_ms();
    let mut added = 0;
    for chunk in items.chunks(ROWS) {
        // Shared: `$1` (the time) and `$2` (the reason); four values per row.
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * 4;
                format!(
                    "($1, $2, ${}, ${}, ${}, $1, ${})",
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO outbox (created_at, reason, dedupe_key, subject_id, payload, next_attempt_at, message_id) \
             VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING"
        );
        let mut q = sqlx::query(trusted_sql(sql))
            .persistent(false)
            .bind(now)
            .bind(reason);
        for item in chunk {
            let json = serde_json::to_vec(&with_postal_address(site, &item.mail))
                .context("serialising mail")?;
            let message_id = format!("<{}@{}>", random_token(18), site.mail_domain());
            q = q
                .bind(item.dedupe_key.clone())
                .bind(item.subject.id)
                .bind(item.subject.key.encrypt(PAYLOAD_CONTEXT, &json))
                .bind(message_id);
        }
        added += q
            .execute(&mut **tx)
            .await
            .context("enqueueing mails")?
            .rows_affected();
    }
    Ok(added)
}

/// Cancels a subject's mails still waiting whose reason starts with
/// `reason_prefix` (an unsubscribe stops queued campaign mail at once).
pub async fn cancel_pending(
    tx: &mut Tx,
    subject_id: i64,
    reason_prefix: &str,
) -> anyhow::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'cancelled', claimed_until = NULL \
         WHERE subject_id = $1 AND status IN ('pending', 'held') AND reason LIKE $2",
    )
    .bind(subject_id)
    .bind(format!("{reason_prefix}%"))
    .execute(&mut **tx)
    .await
    .context("cancelling queued mail")?
    .rows_affected())
}

/// Holds the waiting mails of a reason (a paused campaign); returns how many.
pub async fn hold(db: &Db, reason: &str) -> anyhow::Result<u64> {
    Ok(
        sqlx::query("UPDATE outbox SET status = 'held' WHERE reason = $1 AND status = 'pending'")
            .bind(reason)
            .execute(&db.pool)
            .await
            .context("holding mail")?
            .rows_affected(),
    )
}

/// Lets held mails of a reason go again.
pub async fn unhold(db: &Db, reason: &str) -> anyhow::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $1, claimed_until = NULL \
         WHERE reason = $2 AND status = 'held'",
    )
    .bind(now_ms())
    .bind(reason)
    .execute(&db.pool)
    .await
    .context("releasing held mail")?
    .rows_affected())
}

/// How many mails of a reason wait to be sent (an index range, however
/// many were sent before).
pub async fn pending(db: &Db, reason: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason = $1 AND status = 'pending'")
            .bind(reason)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// `(status, count)` of the mails of a reason.
pub async fn counts(db: &Db, reason: &str) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM outbox WHERE reason = $1 GROUP BY status")
            .bind(reason)
            .fetch_all(&db.pool)
            .await?,
    )
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
            // A mail whose layout's greeting is left out starts with a blank line.
            text: self.text()?.trim_start().to_string(),
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
