//! An SMTP client over lettre's connections, with a small pool of our own:
//! the outbox must note the moment between handing over a message's last
//! byte and its final dot (see `mail::Journal`), which lettre's transport
//! does not expose. URLs as lettre's: `smtp://host:port` (plain),
//! `?tls=required|opportunistic` (STARTTLS), `smtps://` (TLS), with
//! `user:password@` for authentication and a path as the EHLO name.
//!
//! Our own sockets, with Nagle's algorithm off: lettre writes a message
//! and its final dot in two writes, and with Nagle on the dot waited for
//! the server's delayed ACK, 40 ms a message on every connection (issue
//! 26: 173 msg/s at 8 connections, the server idle).

use lettre::{
    Message,
    transport::smtp::{
        Error,
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters},
        commands::{Data, Mail, Rcpt},
        extension::{ClientId, Extension, MailBodyParameter, MailParameter},
    },
};
use std::{
    borrow::Cow,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls { required: bool },
    Wrapper,
}

pub struct SmtpServer {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// For `smtps://`: TLS from the first byte, with the Web PKI's roots
    /// (as lettre's own `TlsParameters` would).
    implicit_tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<(Instant, AsyncSmtpConnection)>>,
}

/// Idle connections older than this are closed rather than reused.
const IDLE: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

/// How a delivery attempt ended, for the outbox.
pub enum SendError {
    /// Worth trying again later.
    Transient(String),
    /// Refused for good (a 5xx answer).
    Permanent(String),
    /// The recipient refused for good (a 5xx answer to RCPT TO): the
    /// address does not take mail, as a hard bounce says later.
    Refused(String),
}

impl From<std::io::Error> for SendError {
    fn from(e: std::io::Error) -> Self {
        SendError::Transient(format!("connecting to the SMTP server: {e}"))
    }
}

/// Where in the SMTP transaction the server said no.
enum Refusal {
    Recipient(Error),
    Other(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Other(e)
    }
}

impl From<Refusal> for SendError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Recipient(e) if e.is_permanent() => SendError::Refused(e.to_string()),
            Refusal::Recipient(e) | Refusal::Other(e) if e.is_permanent() => {
                SendError::Permanent(e.to_string())
            }
            Refusal::Recipient(e) | Refusal::Other(e) => SendError::Transient(e.to_string()),
        }
    }
}

impl From<Error> for SendError {
    fn from(e: Error) -> Self {
        Refusal::Other(e).into()
    }
}

impl SmtpServer {
    pub fn from_url(url: &str) -> anyhow::Result<SmtpServer> {
        let parsed = url::Url::parse(url)?;
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("no host in the SMTP URL"))?
            .to_string();
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some("required")) => (Security::StartTls { required: true }, 587),
            ("smtp", Some("opportunistic")) => (Security::StartTls { required: false }, 587),
            ("smtps", _) => (Security::Wrapper, 465),
            (scheme, tls) => anyhow::bail!("unknown SMTP scheme {scheme} or tls={tls:?}"),
        };
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_string()),
        };
        let decode = |s: &str| -> anyhow::Result<String> {
            Ok(percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(Cow::into_owned)?)
        };
        let credentials = match parsed.password() {
            Some(p) => Some(Credentials::new(decode(parsed.username())?, decode(p)?)),
            None => None,
        };
        let implicit_tls = match security {
            Security::Wrapper => Some(Arc::new(implicit_tls_config()?)),
            _ => None,
        };
        Ok(SmtpServer {
            port: parsed.port().unwrap_or(default_port),
            host,
            security,
            hello,
            credentials,
            implicit_tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let tcp =
            tokio::time::timeout(TIMEOUT, TcpStream::connect((self.host.as_str(), self.port)))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))??;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit_tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| SendError::Permanent(format!("SMTP host name: {e}")))?;
                let tls = tokio::time::timeout(
                    TIMEOUT,
                    tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
                )
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS timed out")
                })??;
                Box::new(ImplicitTls(tls))
            }
            None => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
        if let Security::StartTls { required } = self.security
            && (required || conn.can_starttls())
        {
            conn.starttls(TlsParameters::new(self.host.clone())?, &self.hello)
                .await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(conn)
    }

    /// A pooled connection still fresh, or a new one (`true` when reused).
    async fn connection(&self) -> Result<(AsyncSmtpConnection, bool), SendError> {
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            // Stale ones are dropped (closed) here.
            idle.retain(|(at, _)| now.duration_since(*at) < IDLE);
            idle.pop().map(|(_, c)| c)
        };
        match reused {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.connect().await?, false)),
        }
    }

    /// Sends one message; `before_dot` runs once the whole message has been
    /// handed to the server, before the final dot that makes it accepted.
    pub async fn send(
        &self,
        message: &Message,
        before_dot: impl FnOnce(),
    ) -> Result<(), SendError> {
        let (mut conn, reused) = self.connection().await?;
        let mut before_dot = Some(before_dot);
        let result = match self.transaction(&mut conn, message, &mut before_dot).await {
            // A pooled connection the server closed meanwhile: once more on a new one.
            Err(_) if reused && before_dot.is_some() => {
                conn.abort().await;
                conn = self.connect().await?;
                self.transaction(&mut conn, message, &mut before_dot)
                    .await
                    .map_err(SendError::from)
            }
            other => other.map_err(SendError::from),
        };
        match result {
            Ok(()) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.push((Instant::now(), conn));
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                Err(e)
            }
        }
    }

    async fn transaction<F: FnOnce()>(
        &self,
        conn: &mut AsyncSmtpConnection,
        message: &Message,
        before_dot: &mut Option<F>,
    ) -> Result<(), Refusal> {
        let envelope = message.envelope();
        let body = message.formatted();
        let mut options = vec![];
        let non_ascii = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            options.push(MailParameter::SmtpUtfEight);
        }
        if !body.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(envelope.from().cloned(), options))
            .await?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), vec![]))
                .await
                .map_err(Refusal::Recipient)?;
        }
        conn.command(Data).await?;
        conn.message_iter(ThenRun {
            body: Some(body),
            then: before_dot,
        })
        .await?;
        Ok(())
    }
}

/// Yields the message, then runs `then` when lettre asks for more: by
/// then the message is written and flushed, and only the dot remains.
struct ThenRun<'a, F: FnOnce()> {
    body: Option<Vec<u8>>,
    then: &'a mut Option<F>,
}

impl<F: FnOnce()> Iterator for ThenRun<'_, F> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if let Some(body) = self.body.take() {
            return Some(body);
        }
        if let Some(then) = self.then.take() {
            then();
        }
        None
    }
}

fn implicit_tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// An `smtps://` connection: lettre takes any stream, so the socket stays ours.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
