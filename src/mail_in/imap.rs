//! The IMAP reader: a background task that takes each new message of one
//! mailbox through the intake. Its place is a UIDVALIDITY + UID cursor in
//! the database; a message is flagged `\Seen` (or moved) only after the
//! intake committed it, and the intake remembers every Message-ID, so a
//! crash at any point neither loses nor doubles a message. It waits with
//! IDLE where the server offers it (unless the URL says `idle=off`), else
//! polls every minute (`poll=SECONDS`). On PostgreSQL an advisory lock lets
//! one instance read at a time. A message that fails to be taken three
//! times is quarantined, so it never blocks the mailbox.

use super::{db, intake};
use crate::{AppState, platform::db::Backend, platform::now_ms};
use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::Connection;
use std::{fmt, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::watch,
};

const POLL: Duration = Duration::from_secs(60);
/// Servers drop an IDLE after 30 minutes; it is renewed before.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// Messages whose sizes are asked at once.
const BATCH: usize = 50;
/// Bodies fetched at once add up to at most this (a larger message comes
/// alone): ten 25 MB messages are never in memory together.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Attempts at one message before it is quarantined.
pub const MAX_ATTEMPTS: i64 = 3;
/// How often the holder of the readers' lock checks its connection: once
/// it is gone another instance may read, so this one stops.
const LOCK_CHECK: Duration = Duration::from_secs(5);
/// The advisory lock key of the one reader (any fixed number).
const READER_LOCK: i64 = 0x6f63_6d61_696c;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    /// `imaps://`: TLS from the first byte.
    Implicit,
    /// `imap://` (default): STARTTLS, required.
    StartTls,
    /// `imap://…?tls=none`: plain text, for a server on this machine.
    Plain,
}

/// `OFFICECOMMS_IMAP_URL`, parsed.
#[derive(Clone)]
pub struct ImapUrl {
    host: String,
    port: u16,
    tls: Security,
    user: String,
    password: String,
    pub mailbox: String,
    /// Move taken messages here instead of flagging them `\Seen`.
    move_to: Option<String>,
    /// Wait with IDLE when the server offers it (`idle=off`: always poll).
    idle: bool,
    /// How long to wait between looks when polling (`poll=SECONDS`).
    poll: Duration,
}

impl fmt::Debug for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {:?} {} mailbox {} (password redacted)",
            self.host, self.port, self.tls, self.user, self.mailbox
        )
    }
}

impl ImapUrl {
    /// `imaps://user:pass@host[:993]/INBOX[?move=Done]`,
    /// `imap://user:pass@host[:143]/INBOX?tls=starttls|none`; also
    /// `idle=off` (poll even where IDLE is offered) and `poll=SECONDS`.
    pub fn parse(url: &str) -> anyhow::Result<ImapUrl> {
        let parsed = url::Url::parse(url).context("OFFICECOMMS_IMAP_URL is not a URL")?;
        let query = |name: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
        };
        let (tls, default_port) = match (parsed.scheme(), query("tls").as_deref()) {
            ("imaps", None | Some("implicit")) => (Security::Implicit, 993),
            ("imap", None | Some("starttls")) => (Security::StartTls, 143),
            ("imap", Some("none")) => (Security::Plain, 143),
            (scheme, tls) => {
                anyhow::bail!("OFFICECOMMS_IMAP_URL: unknown scheme {scheme} or tls={tls:?}")
            }
        };
        let decode = |s: &str| -> anyhow::Result<String> {
            Ok(percent_encoding::percent_decode_str(s)
                .decode_utf8()?
                .into_owned())
        };
        let mailbox = decode(parsed.path().trim_start_matches('/'))?;
        anyhow::ensure!(
            !parsed.username().is_empty(),
            "OFFICECOMMS_IMAP_URL names no user"
        );
        Ok(ImapUrl {
            host: parsed
                .host_str()
                .context("OFFICECOMMS_IMAP_URL names no host")?
                .trim_matches(['[', ']'])
                .to_string(),
            port: parsed.port().unwrap_or(default_port),
            tls,
            user: decode(parsed.username())?,
            password: decode(parsed.password().unwrap_or(""))?,
            mailbox: if mailbox.is_empty() {
                "INBOX".into()
            } else {
                mailbox
            },
            move_to: query("move").filter(|m| !m.is_empty()),
            idle: match query("idle").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => anyhow::bail!("OFFICECOMMS_IMAP_URL: idle={other} (use on or off)"),
            },
            poll: match query("poll") {
                None => POLL,
                Some(secs) => Duration::from_secs(
                    secs.parse()
                        .ok()
                        .filter(|s| (1..=3600).contains(s))
                        .with_context(|| {
                            format!("OFFICECOMMS_IMAP_URL: poll={secs} (seconds, 1 to 3600)")
                        })?,
                ),
            },
        })
    }
}

/// Reads the configured mailbox until shutdown, reconnecting with backoff.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let Some(url) = state.config.imap_url.clone() else {
        return;
    };
    let url = match ImapUrl::parse(&url) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = ?e, "mail in: IMAP reader not started");
            return;
        }
    };
    let mut backoff = Duration::from_secs(2);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let wait = match read_as_the_one_reader(&state, &url, &mut shutdown).await {
            Ok(true) => return,
            // Another instance reads: ask again in a while.
            Ok(false) => {
                backoff = Duration::from_secs(2);
                POLL
            }
            Err(e) => {
                tracing::warn!(error = ?e, mailbox = ?url, "mail in: IMAP reader stopped; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(300));
                backoff
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One session, holding the readers' lock on PostgreSQL. `Ok(true)` when
/// shutting down, `Ok(false)` when another instance holds the lock.
async fn read_as_the_one_reader(
    state: &AppState,
    url: &ImapUrl,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    // A connection of its own: a session-level lock lives as long as it.
    let mut lock = None;
    if state.db.backend == Backend::Postgres {
        let mut conn = sqlx::AnyConnection::connect(&state.config.database_url())
            .await
            .context("connecting for the IMAP reader's lock")?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(READER_LOCK)
            .fetch_one(&mut conn)
            .await
            .context("taking the IMAP reader's lock")?;
        if !got {
            let _ = conn.close().await;
            return Ok(false);
        }
        lock = Some(conn);
    }
    let result = match lock.as_mut() {
        Some(conn) => tokio::select! {
            r = session(state, url, shutdown) => r,
            lost = watch_lock(conn) => Err(lost),
        },
        None => session(state, url, shutdown).await,
    };
    if let Some(conn) = lock {
        // Closing the connection releases the lock.
        let _ = conn.close().await;
    }
    result.map(|()| true)
}

/// Returns when the connection holding the readers' lock is gone (the
/// server restarted, a network cut, an administrator ended it): the lock
/// went with it, so another instance may read now and this one must stop
/// (it takes the lock again before it reads on).
async fn watch_lock(conn: &mut sqlx::AnyConnection) -> anyhow::Error {
    loop {
        tokio::time::sleep(LOCK_CHECK).await;
        if let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await {
            return anyhow::Error::new(e)
                .context("the connection holding the IMAP reader's lock was lost");
        }
    }
}

async fn session(
    state: &AppState,
    url: &ImapUrl,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await
    .context("connecting to the IMAP server timed out")?
    .context("connecting to the IMAP server")?;
    let _ = tcp.set_nodelay(true);
    match url.tls {
        Security::Plain => {
            read_mailbox(state, url, async_imap::Client::new(tcp), true, shutdown).await
        }
        Security::Implicit => {
            let tls = tls_connect(&url.host, tcp).await?;
            read_mailbox(state, url, async_imap::Client::new(tls), true, shutdown).await
        }
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            client
                .read_response()
                .await?
                .context("the IMAP server sent no greeting")?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("STARTTLS")?;
            let tls = tls_connect(&url.host, client.into_inner()).await?;
            read_mailbox(state, url, async_imap::Client::new(tls), false, shutdown).await
        }
    }
}

async fn tls_connect(
    host: &str,
    tcp: TcpStream,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .context("the IMAP host is not a valid TLS name")?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .context("TLS with the IMAP server")
}

async fn read_mailbox<T>(
    state: &AppState,
    url: &ImapUrl,
    mut client: async_imap::Client<T>,
    greet: bool,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    if greet {
        client
            .read_response()
            .await?
            .context("the IMAP server sent no greeting")?;
    }
    let mut session = client
        .login(&url.user, &url.password)
        .await
        .map_err(|(e, _)| e)
        .context("IMAP login")?;
    let idle = url.idle && session.capabilities().await?.has_str("IDLE");
    tracing::info!(mailbox = %url.mailbox, idle, "mail in: reading the IMAP mailbox");
    loop {
        let mailbox = session
            .select(&url.mailbox)
            .await
            .with_context(|| format!("selecting {}", url.mailbox))?;
        let validity = i64::from(mailbox.uid_validity.unwrap_or(0));
        let taken = take_new(
            state,
            url,
            &mut session,
            validity,
            mailbox.uid_next,
            shutdown,
        )
        .await?;
        if *shutdown.borrow() {
            let _ = session.logout().await;
            return Ok(());
        }
        // Mail that arrived while we read is announced in passing (EXISTS),
        // not to the IDLE that follows: look again instead of waiting.
        session.noop().await.context("IMAP NOOP")?;
        let mut arrived = false;
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            arrived |= matches!(
                response,
                async_imap::types::UnsolicitedResponse::Exists(_)
                    | async_imap::types::UnsolicitedResponse::Recent(_)
            );
        }
        if arrived || taken > 0 {
            continue;
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await.context("IMAP IDLE")?;
            let woke = {
                let (wait, _stop) = handle.wait_with_timeout(IDLE_RENEW);
                tokio::select! {
                    r = wait => Some(r.context("IMAP IDLE")?),
                    _ = shutdown.changed() => None,
                }
            };
            if woke.is_none() {
                return Ok(());
            }
            session = handle.done().await.context("IMAP DONE")?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(url.poll) => {}
                _ = shutdown.changed() => {
                    let _ = session.logout().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Takes every new message, oldest first, in batches of bounded size (so
/// memory stays flat whatever the mailbox holds).
async fn take_new<T>(
    state: &AppState,
    url: &ImapUrl,
    session: &mut async_imap::Session<T>,
    validity: i64,
    uid_next: Option<u32>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<usize>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let uids = new_uids(state, url, session, validity, uid_next).await?;
    let mut taken = 0;
    for chunk in uids.chunks(BATCH) {
        let set = uid_set(chunk);
        let mut sizes: Vec<(u32, u64)> = session
            .uid_fetch(&set, "(UID RFC822.SIZE)")
            .await
            .context("IMAP UID FETCH")?
            .try_filter_map(|f| async move {
                Ok(f.uid.map(|uid| (uid, u64::from(f.size.unwrap_or(0)))))
            })
            .try_collect()
            .await
            .context("IMAP UID FETCH")?;
        sizes.sort_unstable();
        for batch in by_size(&sizes, BATCH_BYTES) {
            let mut fetched: Vec<(u32, Vec<u8>)> = session
                .uid_fetch(uid_set(&batch), "(UID BODY.PEEK[])")
                .await
                .context("IMAP UID FETCH")?
                .try_filter_map(|f| async move {
                    Ok(f.uid
                        .map(|uid| (uid, f.body().unwrap_or_default().to_vec())))
                })
                .try_collect()
                .await
                .context("IMAP UID FETCH")?;
            fetched.sort_by_key(|(uid, _)| *uid);
            let mut done = Vec::with_capacity(fetched.len());
            let mut failed = None;
            for (uid, raw) in fetched {
                let outcome = match take_one(state, url, uid, &raw).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                drop(raw);
                tracing::info!(uid, %outcome, "mail in");
                let mut tx = state.db.begin().await?;
                db::set_cursor(&mut tx, &url.mailbox, i64::from(uid), now_ms()).await?;
                tx.commit().await?;
                done.push(uid);
            }
            // On disk before the server forgets them as new (one flush and
            // one command for the batch): a power cut in between leaves them
            // unflagged, to be read again and found taken.
            if !done.is_empty() {
                state.db.synced().await?;
                done_with(session, url, &uid_set(&done)).await?;
                taken += done.len();
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if *shutdown.borrow() {
                return Ok(taken);
            }
        }
    }
    Ok(taken)
}

/// The UIDs to take, ascending. On the first read of a mailbox, or when
/// its UIDVALIDITY changed (its UIDs renumbered), only unseen mail up to
/// the mailbox's end is new: what is flagged `\Seen` was read before, by
/// this reader or a person, and is not taken again.
async fn new_uids<T>(
    state: &AppState,
    url: &ImapUrl,
    session: &mut async_imap::Session<T>,
    validity: i64,
    uid_next: Option<u32>,
) -> anyhow::Result<Vec<u32>>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let (after, catch_up_until) = match db::cursor(&state.db, &url.mailbox).await? {
        Some(c) if c.uid_validity == validity => (c.last_uid, c.catch_up_until),
        _ => {
            let end = match uid_next {
                Some(next) => i64::from(next) - 1,
                None => session
                    .uid_search("ALL")
                    .await
                    .context("IMAP UID SEARCH")?
                    .into_iter()
                    .max()
                    .map_or(0, i64::from),
            };
            tracing::info!(mailbox = %url.mailbox, validity, end, "mail in: reading a mailbox from the start; up to its end, only unseen mail");
            db::restart_cursor(&state.db, &url.mailbox, validity, end, now_ms()).await?;
            (0, end)
        }
    };
    let mut uids = Vec::new();
    if after < catch_up_until {
        uids.extend(
            session
                .uid_search(format!("UID {}:{catch_up_until} UNSEEN", after + 1))
                .await
                .context("IMAP UID SEARCH")?
                .into_iter()
                .filter(|u| (after + 1..=catch_up_until).contains(&i64::from(*u))),
        );
    }
    let from = after.max(catch_up_until);
    uids.extend(
        session
            .uid_search(format!("UID {}:*", from + 1))
            .await
            .context("IMAP UID SEARCH")?
            .into_iter()
            // `N:*` names the last message even when its UID is below N.
            .filter(|u| i64::from(*u) > from),
    );
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Takes one message through the intake. A message that fails while the
/// database answers counts a failure; at the third it is quarantined for
/// staff, so it does not block the mailbox forever. `Err` when it should
/// be offered again (the database is unreachable, or attempts are left).
async fn take_one(
    state: &AppState,
    url: &ImapUrl,
    uid: u32,
    raw: &[u8],
) -> anyhow::Result<intake::Outcome> {
    let mut attempt = 0;
    loop {
        let error = match intake::attempt(state, raw).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        if !db::reachable(&state.db).await {
            return Err(error.context(format!("taking message UID {uid}")));
        }
        let failures = db::count_failure(&state.db, &url.mailbox, i64::from(uid), now_ms()).await?;
        tracing::error!(uid, failures, error = ?error, "mail in: a message could not be taken");
        if failures >= MAX_ATTEMPTS {
            return intake::quarantine_failed(state, raw, failures).await;
        }
        // Within this session, after a pause; the count outlives a restart.
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
    }
}

/// Flags taken messages `\Seen`, or moves them to the URL's folder. A
/// move the server refuses (no such folder, say) flags them instead: they
/// are in the database already, and the flag keeps them from being read
/// as new.
async fn done_with<T>(
    session: &mut async_imap::Session<T>,
    url: &ImapUrl,
    uids: &str,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    if let Some(folder) = &url.move_to {
        match session.uid_mv(uids, folder).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(uids, folder, error = %e, "mail in: could not move taken messages; flagging them \\Seen instead")
            }
        }
    }
    session
        .uid_store(uids, "+FLAGS.SILENT (\\Seen)")
        .await
        .context("IMAP UID STORE")?
        .try_collect::<Vec<_>>()
        .await
        .context("IMAP UID STORE")?;
    Ok(())
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits `(uid, size)` into runs whose sizes add up to at most `budget`
/// (a message larger than the budget alone).
fn by_size(sizes: &[(u32, u64)], budget: u64) -> Vec<Vec<u32>> {
    let mut runs: Vec<Vec<u32>> = Vec::new();
    let mut total = 0;
    for &(uid, size) in sizes {
        match runs.last_mut() {
            Some(run) if total + size <= budget => {
                run.push(uid);
                total += size;
            }
            _ => {
                runs.push(vec![uid]);
                total = size;
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_urls_name_server_security_and_mailbox() {
        let u = ImapUrl::parse(
            "imaps://help%40example.test:p%40ss@mail.example.test/Support?move=Done",
        )
        .unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("mail.example.test", 993, Security::Implicit)
        );
        assert_eq!(
            (u.user.as_str(), u.password.as_str()),
            ("help@example.test", "p@ss")
        );
        assert_eq!(u.mailbox, "Support");
        assert_eq!(u.move_to.as_deref(), Some("Done"));
        let u = ImapUrl::parse("imap://u:p@127.0.0.1:1143?tls=none").unwrap();
        assert_eq!(
            (u.port, u.tls, u.mailbox.as_str()),
            (1143, Security::Plain, "INBOX")
        );
        assert_eq!(
            ImapUrl::parse("imap://u:p@h/INBOX").unwrap().tls,
            Security::StartTls
        );
        assert!(ImapUrl::parse("pop3://u:p@h").is_err());
        assert!(ImapUrl::parse("imap://h/INBOX").is_err(), "no user");
        assert!(!format!("{:?}", ImapUrl::parse("imaps://u:secret@h").unwrap()).contains("secret"));
        let u = ImapUrl::parse("imap://u:p@h/INBOX?idle=off&poll=2").unwrap();
        assert_eq!((u.idle, u.poll), (false, Duration::from_secs(2)));
        let u = ImapUrl::parse("imap://u:p@h/INBOX").unwrap();
        assert_eq!((u.idle, u.poll), (true, POLL));
        for bad in ["idle=maybe", "poll=0", "poll=soon", "poll=99999"] {
            assert!(
                ImapUrl::parse(&format!("imap://u:p@h/INBOX?{bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bodies_are_fetched_in_runs_of_bounded_size() {
        let mb = 1024 * 1024;
        let sizes = [
            (1, 3 * mb),
            (2, 4 * mb),
            (3, 2 * mb),
            (4, 25 * mb),
            (5, mb),
            (6, mb),
        ];
        assert_eq!(
            by_size(&sizes, 8 * mb),
            vec![vec![1, 2], vec![3], vec![4], vec![5, 6]]
        );
        assert!(by_size(&[], 8 * mb).is_empty());
    }
}
