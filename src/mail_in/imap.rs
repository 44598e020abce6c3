//! The IMAP reader: a background task that takes each new message of one
//! mailbox through the intake. Its place is a UIDVALIDITY + UID cursor in
//! the database; a message is flagged `\Seen` (or moved) only after the
//! intake committed it, and the intake remembers every Message-ID, so a
//! crash at any point neither loses nor doubles a message. It waits with
//! IDLE where the server offers it, else polls every minute. On PostgreSQL
//! an advisory lock lets one instance read at a time.

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
const BATCH: usize = 50;
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
    /// `imap://user:pass@host[:143]/INBOX?tls=starttls|none`.
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
    let result = session(state, url, shutdown).await;
    if let Some(conn) = lock {
        // Closing the connection releases the lock.
        let _ = conn.close().await;
    }
    result.map(|()| true)
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
    let idle = session.capabilities().await?.has_str("IDLE");
    tracing::info!(mailbox = %url.mailbox, idle, "mail in: reading the IMAP mailbox");
    loop {
        let mailbox = session
            .select(&url.mailbox)
            .await
            .with_context(|| format!("selecting {}", url.mailbox))?;
        let validity = i64::from(mailbox.uid_validity.unwrap_or(0));
        let taken = take_new(state, url, &mut session, validity, shutdown).await?;
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
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {
                    let _ = session.logout().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Takes every message after the cursor, oldest first, a batch at a time
/// (so memory stays flat whatever the mailbox holds).
async fn take_new<T>(
    state: &AppState,
    url: &ImapUrl,
    session: &mut async_imap::Session<T>,
    validity: i64,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<usize>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    // A new UIDVALIDITY means the old UIDs mean nothing: start over (the
    // intake's memory of Message-IDs keeps that from doubling anything).
    let after = match db::cursor(&state.db, &url.mailbox).await? {
        Some((v, last)) if v == validity => last,
        _ => 0,
    };
    let mut uids: Vec<u32> = session
        .uid_search(format!("UID {}:*", after + 1))
        .await
        .context("IMAP UID SEARCH")?
        .into_iter()
        .filter(|u| i64::from(*u) > after)
        .collect();
    uids.sort_unstable();
    let mut taken = 0;
    for chunk in uids.chunks(BATCH) {
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut fetched: Vec<(u32, Vec<u8>)> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
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
        for (uid, raw) in fetched {
            let outcome = intake::take(state, &raw).await?;
            tracing::info!(uid, %outcome, "mail in");
            let mut tx = state.db.begin().await?;
            db::set_cursor(&mut tx, &url.mailbox, validity, i64::from(uid), now_ms()).await?;
            tx.commit().await?;
            match &url.move_to {
                Some(folder) => session
                    .uid_mv(uid.to_string(), folder)
                    .await
                    .with_context(|| format!("moving a message to {folder}"))?,
                None => {
                    session
                        .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                        .await
                        .context("IMAP UID STORE")?
                        .try_collect::<Vec<_>>()
                        .await
                        .context("IMAP UID STORE")?;
                }
            }
            taken += 1;
        }
        if *shutdown.borrow() {
            break;
        }
    }
    Ok(taken)
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
    }
}
