//! Configuration: defaults, then an optional TOML file (`OFFICECOMMS_CONFIG`),
//! then `OFFICECOMMS_*` environment variables, then command-line flags.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::{fmt, net::SocketAddr, path::PathBuf};

#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: SQLite at `data_dir/officecomms.db`.
    pub database_url: Option<String>,
    pub base_url: url::Url,
    /// `None`: mails are written as `.eml` files under `data_dir/mail/`.
    pub smtp_url: Option<String>,
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub request_timeout_secs: u64,
    /// Public form submissions (POST) allowed per IP address and minute.
    pub public_post_per_minute: u32,
    /// Login attempts allowed per IP address and minute.
    pub login_per_minute: u32,
    /// API calls allowed per token and minute (429 with `Retry-After` above).
    pub api_per_minute: u32,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// and `X-Forwarded-Proto` are believed; nobody's by default.
    pub trust_proxy: TrustedProxies,
    /// Serve HTTPS directly with these PEM files (reloaded on SIGHUP).
    pub tls: Option<TlsFiles>,
    /// Hosts (and their subdomains) whose links the integrity scan reports.
    pub scan_blocklist: Vec<String>,
    /// Hours between integrity scans run by the server; 0 turns them off.
    pub scan_interval_hours: u64,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_secs: u64,
    /// Seed the demo site of officecomms.com into an empty database.
    pub demo: bool,
    /// Run the background jobs when serving (`app::background_tasks`): the
    /// outbox worker that sends mail, the privacy jobs (refreshing breach
    /// notices, the daily retention purge and policy version record), the
    /// integrity scan and the newsletter runner that starts scheduled
    /// campaigns; the analytics flusher and the SQLite checkpointer run
    /// regardless. Off for one-off commands (`user add`, `backup`, `scan`)
    /// and for tests that drive those jobs themselves.
    pub workers: bool,
    /// Mails the outbox hands to the SMTP server at once.
    pub mail_concurrency: usize,
    /// Most mails sent per second; 0 means no limit.
    pub mail_rate: u32,
    /// A bearer token that opens `/metrics` to scrapers outside the
    /// trusted addresses (loopback and `trust_proxy`).
    pub metrics_token: Option<String>,
    /// The age recipient (`age1…`) backups are encrypted to.
    pub backup_recipient: Option<String>,
    /// Or a passphrase backups are encrypted with (and restores decrypted with).
    pub backup_passphrase: Option<String>,
    /// The age identity file that opens backups made to `backup_recipient`
    /// (for `restore`; keep it off the server).
    pub backup_identity: Option<PathBuf>,
    /// Days a backup is kept: `backup` deletes older ones it made, and the
    /// privacy policy states this window.
    pub backup_keep_days: u32,
    /// The IMAP mailbox mail in is read from (`imaps://user:pass@host/INBOX`);
    /// `None`: no IMAP reader (mail may still come in by `mail-in`).
    pub imap_url: Option<String>,
    /// Soft bounces of marketing mail after which an address is suppressed.
    pub soft_bounce_limit: u32,
    /// Bytes the content cache may hold (rendered pages, search; see
    /// `content::cache::Budgets`).
    pub cache_bytes: usize,
    /// Bytes the analytics counter may hold between flushes beyond the
    /// counts themselves (the day's visitor sets, which only save work).
    pub analytics_buffer_bytes: usize,
    /// Bytes the rate limiters may hold (the addresses and accounts they
    /// remember); over it, what has recovered is forgotten at once.
    pub rate_limit_bytes: usize,
}

/// Certificate chain and private key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Addresses of the reverse proxies we believe about the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses `127.0.0.1, 10.0.0.0/8, ::1`; `true`/`yes`/`1` mean loopback
    /// (a proxy on this machine), `false`/`no`/`0`/empty mean nobody.
    pub fn parse(v: &str) -> anyhow::Result<TrustedProxies> {
        match v.trim() {
            "true" | "yes" | "1" => return Ok(TrustedProxies::loopback()),
            "false" | "no" | "0" | "" => return Ok(TrustedProxies::default()),
            _ => {}
        }
        v.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| format!("trusted proxy {p}: not an address or CIDR range"))
            })
            .collect::<anyhow::Result<_>>()
            .map(TrustedProxies)
    }

    pub fn loopback() -> TrustedProxies {
        TrustedProxies(vec![
            "127.0.0.0/8".parse().expect("valid range"),
            "::1/128".parse().expect("valid range"),
        ])
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `trust_proxy` in the TOML file: a flag (as before) or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum TrustProxyValue {
    Flag(bool),
    List(Vec<String>),
    One(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Secrets never reach a log through `Debug`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact(&self.database_url))
            .field("base_url", &self.base_url.as_str())
            .field("smtp_url", &redact(&self.smtp_url))
            .field("imap_url", &redact(&self.imap_url))
            .field("metrics_token", &redact(&self.metrics_token))
            .field("log_format", &self.log_format)
            .field("body_limit", &self.body_limit)
            .field("trust_proxy", &self.trust_proxy)
            .field("tls", &self.tls)
            .field("demo", &self.demo)
            .field("backup_recipient", &self.backup_recipient)
            .field("backup_passphrase", &redact(&self.backup_passphrase))
            .field("backup_keep_days", &self.backup_keep_days)
            .finish_non_exhaustive()
    }
}

/// Every key of the TOML file, all optional; the same names as the
/// environment variables without the `OFFICECOMMS_` prefix, in lower case.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    base_url: Option<String>,
    smtp_url: Option<String>,
    log_format: Option<LogFormat>,
    body_limit: Option<usize>,
    request_timeout_secs: Option<u64>,
    public_post_per_minute: Option<u32>,
    login_per_minute: Option<u32>,
    api_per_minute: Option<u32>,
    trust_proxy: Option<TrustProxyValue>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    scan_blocklist: Option<Vec<String>>,
    scan_interval_hours: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    mail_concurrency: Option<usize>,
    mail_rate: Option<u32>,
    metrics_token: Option<String>,
    backup_recipient: Option<String>,
    backup_passphrase: Option<String>,
    backup_keep_days: Option<u32>,
    imap_url: Option<String>,
    soft_bounce_limit: Option<u32>,
    cache_bytes: Option<usize>,
    analytics_buffer_bytes: Option<usize>,
    rate_limit_bytes: Option<usize>,
}

/// A size in bytes: a number, or one followed by `K`, `M` or `G` (powers of 1,024).
fn parse_bytes(v: &str) -> Option<usize> {
    let v = v.trim();
    let (digits, shift) = match v.char_indices().last()? {
        (i, 'K' | 'k') => (&v[..i], 10),
        (i, 'M' | 'm') => (&v[..i], 20),
        (i, 'G' | 'g') => (&v[..i], 30),
        _ => (v, 0),
    };
    let n: usize = digits.trim().parse().ok()?;
    n.checked_mul(1usize << shift)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            database_url: None,
            base_url: url::Url::parse("http://127.0.0.1:8080/").expect("valid url"),
            smtp_url: None,
            log_format: LogFormat::Text,
            body_limit: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            public_post_per_minute: 20,
            login_per_minute: 10,
            api_per_minute: 600,
            trust_proxy: TrustedProxies::default(),
            tls: None,
            scan_blocklist: Vec::new(),
            scan_interval_hours: 24,
            shutdown_grace_secs: 30,
            demo: true,
            workers: true,
            mail_concurrency: 8,
            mail_rate: 0,
            metrics_token: None,
            backup_recipient: None,
            backup_passphrase: None,
            backup_identity: None,
            backup_keep_days: 30,
            imap_url: None,
            soft_bounce_limit: 3,
            cache_bytes: 24 << 20,
            analytics_buffer_bytes: 8 << 20,
            rate_limit_bytes: 4 << 20,
        }
    }
}

impl Config {
    /// Loads defaults, the TOML file and the environment (`env` is a lookup so
    /// tests need not touch the process environment).
    pub fn load(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let mut base_url_given = false;
        let (mut tls_cert, mut tls_key) = (None, None);
        if let Some(path) = env("OFFICECOMMS_CONFIG") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading config file {path}"))?;
            let file: FileConfig =
                toml::from_str(&text).with_context(|| format!("parsing config file {path}"))?;
            base_url_given = file.base_url.is_some();
            tls_cert = file.tls_cert.clone();
            tls_key = file.tls_key.clone();
            config.apply_file(file)?;
        }
        let var = |name: &str| env(&format!("OFFICECOMMS_{name}")).filter(|v| !v.is_empty());
        if let Some(v) = var("BIND") {
            config.bind = v.parse().with_context(|| format!("OFFICECOMMS_BIND={v}"))?;
        }
        if let Some(v) = var("DATA_DIR") {
            config.data_dir = v.into();
        }
        if let Some(v) = var("DATABASE_URL") {
            config.database_url = Some(v);
        }
        if let Some(v) = var("BASE_URL") {
            config.base_url = parse_base_url(&v)?;
            base_url_given = true;
        }
        if let Some(v) = var("SMTP_URL") {
            config.smtp_url = Some(v);
        }
        if let Some(v) = var("IMAP_URL") {
            config.imap_url = Some(v);
        }
        if let Some(v) = var("SOFT_BOUNCE_LIMIT") {
            config.soft_bounce_limit = v.parse().ok().filter(|n| *n >= 1).with_context(|| {
                format!("OFFICECOMMS_SOFT_BOUNCE_LIMIT={v}: a number of bounces, at least 1")
            })?;
        }
        if let Some(v) = var("CACHE_BYTES") {
            config.cache_bytes = parse_bytes(&v).with_context(|| {
                format!("OFFICECOMMS_CACHE_BYTES={v}: a size in bytes, such as 25165824 or 24M")
            })?;
        }
        if let Some(v) = var("METRICS_TOKEN") {
            config.metrics_token = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("LOG_FORMAT") {
            config.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => bail!("OFFICECOMMS_LOG_FORMAT must be text or json, not {other}"),
            };
        }
        if let Some(v) = var("TRUST_PROXY") {
            config.trust_proxy = TrustedProxies::parse(&v).context("OFFICECOMMS_TRUST_PROXY")?;
        }
        tls_cert = var("TLS_CERT").map(PathBuf::from).or(tls_cert);
        tls_key = var("TLS_KEY").map(PathBuf::from).or(tls_key);
        config.tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!(
                "OFFICECOMMS_TLS_CERT and OFFICECOMMS_TLS_KEY go together: set both or neither"
            ),
        };
        if let Some(v) = var("MAIL_CONCURRENCY") {
            config.mail_concurrency = v
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .with_context(|| {
                    format!("OFFICECOMMS_MAIL_CONCURRENCY={v}: a number from 1 to 64")
                })?;
        }
        if let Some(v) = var("MAIL_RATE") {
            config.mail_rate = v.parse().with_context(|| {
                format!("OFFICECOMMS_MAIL_RATE={v}: mails per second, 0 for no limit")
            })?;
        }
        if let Some(v) = var("BACKUP_RECIPIENT") {
            config.backup_recipient = Some(v);
        }
        if let Some(v) = var("BACKUP_PASSPHRASE") {
            config.backup_passphrase = Some(v);
        }
        if let Some(v) = var("BACKUP_IDENTITY") {
            config.backup_identity = Some(v.into());
        }
        if let Some(v) = var("BACKUP_KEEP_DAYS") {
            config.backup_keep_days = v
                .parse()
                .with_context(|| format!("OFFICECOMMS_BACKUP_KEEP_DAYS={v}: a number of days"))?;
        }
        if config.backup_keep_days == 0 {
            bail!("backup_keep_days must be at least 1");
        }
        if let Some(v) = var("SCAN_BLOCKLIST") {
            config.scan_blocklist = v.split(',').map(str::to_string).collect();
        }
        config.scan_blocklist = config
            .scan_blocklist
            .iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if !base_url_given {
            config.base_url = default_base_url(config.bind, config.tls.is_some());
        }
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> anyhow::Result<()> {
        let FileConfig {
            bind,
            data_dir,
            database_url,
            base_url,
            smtp_url,
            log_format,
            body_limit,
            request_timeout_secs,
            public_post_per_minute,
            login_per_minute,
            api_per_minute,
            trust_proxy,
            tls_cert: _,
            tls_key: _,
            scan_blocklist,
            scan_interval_hours,
            shutdown_grace_secs,
            mail_concurrency,
            mail_rate,
            metrics_token,
            backup_recipient,
            backup_passphrase,
            backup_keep_days,
            imap_url,
            soft_bounce_limit,
            cache_bytes,
            analytics_buffer_bytes,
            rate_limit_bytes,
        } = file;
        self.cache_bytes = cache_bytes.unwrap_or(self.cache_bytes);
        self.analytics_buffer_bytes = analytics_buffer_bytes.unwrap_or(self.analytics_buffer_bytes);
        self.rate_limit_bytes = rate_limit_bytes.unwrap_or(self.rate_limit_bytes);
        self.imap_url = imap_url.or(self.imap_url.take());
        if let Some(n) = soft_bounce_limit {
            anyhow::ensure!(n >= 1, "soft_bounce_limit must be at least 1");
            self.soft_bounce_limit = n;
        }
        self.metrics_token = metrics_token.or(self.metrics_token.take());
        self.bind = bind.unwrap_or(self.bind);
        self.data_dir = data_dir.unwrap_or(self.data_dir.clone());
        self.database_url = database_url.or(self.database_url.take());
        if let Some(v) = base_url {
            self.base_url = parse_base_url(&v)?;
        }
        self.smtp_url = smtp_url.or(self.smtp_url.take());
        self.log_format = log_format.unwrap_or(self.log_format);
        self.body_limit = body_limit.unwrap_or(self.body_limit);
        self.request_timeout_secs = request_timeout_secs.unwrap_or(self.request_timeout_secs);
        self.public_post_per_minute = public_post_per_minute.unwrap_or(self.public_post_per_minute);
        self.login_per_minute = login_per_minute.unwrap_or(self.login_per_minute);
        self.api_per_minute = api_per_minute.unwrap_or(self.api_per_minute);
        self.trust_proxy = match trust_proxy {
            None => self.trust_proxy.clone(),
            Some(TrustProxyValue::Flag(flag)) => TrustedProxies::parse(&flag.to_string())?,
            Some(TrustProxyValue::One(v)) => TrustedProxies::parse(&v).context("trust_proxy")?,
            Some(TrustProxyValue::List(v)) => {
                TrustedProxies::parse(&v.join(",")).context("trust_proxy")?
            }
        };
        self.scan_blocklist = scan_blocklist.unwrap_or(self.scan_blocklist.clone());
        self.scan_interval_hours = scan_interval_hours.unwrap_or(self.scan_interval_hours);
        self.shutdown_grace_secs = shutdown_grace_secs.unwrap_or(self.shutdown_grace_secs);
        self.mail_concurrency = mail_concurrency
            .unwrap_or(self.mail_concurrency)
            .clamp(1, 64);
        self.mail_rate = mail_rate.unwrap_or(self.mail_rate);
        self.backup_recipient = backup_recipient.or(self.backup_recipient.take());
        self.backup_passphrase = backup_passphrase.or(self.backup_passphrase.take());
        self.backup_keep_days = backup_keep_days.unwrap_or(self.backup_keep_days);
        Ok(())
    }

    /// Sets the bind address and, unless a base URL was configured, follows it.
    pub fn set_bind(&mut self, bind: SocketAddr) {
        let tls = self.tls.is_some();
        if self.base_url == default_base_url(self.bind, tls) {
            self.base_url = default_base_url(bind, tls);
        }
        self.bind = bind;
    }

    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The database URL, SQLite in the data dir unless one was configured.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("officecomms.db").display()
            )
        })
    }
}

fn default_base_url(bind: SocketAddr, tls: bool) -> url::Url {
    let scheme = if tls { "https" } else { "http" };
    url::Url::parse(&format!("{scheme}://{bind}/")).expect("socket address makes a valid url")
}

fn parse_base_url(v: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(v).with_context(|| format!("base url {v}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("base url must be http or https: {v}");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file_and_secrets_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oc.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\nsmtp_url = \"smtp://user:hunter2@mail\"\nbody_limit = 1000\n",
        )
        .unwrap();
        let file = file.display().to_string();
        let env = |k: &str| match k {
            "OFFICECOMMS_CONFIG" => Some(file.clone()),
            "OFFICECOMMS_BIND" => Some("127.0.0.1:9100".into()),
            "OFFICECOMMS_BACKUP_PASSPHRASE" => Some("correct horse".into()),
            _ => None,
        };
        let config = Config::load(env).unwrap();
        assert_eq!(config.bind.port(), 9100);
        assert_eq!(config.body_limit, 1000);
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9100/");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.backup_passphrase.as_deref(), Some("correct horse"));
        assert!(!format!("{config:?}").contains("correct horse"));
        assert_eq!(config.backup_keep_days, 30);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_and_true_means_loopback() {
        let list = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7,::1").unwrap();
        assert!(list.contains("10.1.2.3".parse().unwrap()));
        assert!(list.contains("192.0.2.7".parse().unwrap()));
        assert!(!list.contains("192.0.2.8".parse().unwrap()));
        assert!(list.contains("::1".parse().unwrap()));
        assert!(
            list.contains("::ffff:10.0.0.1".parse().unwrap()),
            "IPv4-mapped"
        );
        let yes = TrustedProxies::parse("true").unwrap();
        assert!(yes.contains("127.0.0.1".parse().unwrap()));
        assert!(!yes.contains("203.0.113.1".parse().unwrap()));
        assert!(TrustedProxies::parse("false").unwrap().is_empty());
        assert!(TrustedProxies::parse("proxy.example").is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oc.toml");
        std::fs::write(
            &file,
            "trust_proxy = [\"10.0.0.0/8\"]\nscan_blocklist = [\"Evil.Example.\"]\n",
        )
        .unwrap();
        let file = file.display().to_string();
        let config = Config::load(|k| (k == "OFFICECOMMS_CONFIG").then(|| file.clone())).unwrap();
        assert!(config.trust_proxy.contains("10.9.9.9".parse().unwrap()));
        assert_eq!(config.scan_blocklist, vec!["evil.example".to_string()]);
    }

    #[test]
    fn tls_files_come_in_pairs_and_make_the_default_url_https() {
        let env = |k: &str| match k {
            "OFFICECOMMS_TLS_CERT" => Some("/etc/oc/cert.pem".into()),
            "OFFICECOMMS_TLS_KEY" => Some("/etc/oc/key.pem".into()),
            "OFFICECOMMS_BIND" => Some("0.0.0.0:8443".into()),
            _ => None,
        };
        let config = Config::load(env).unwrap();
        assert_eq!(config.base_url.as_str(), "https://0.0.0.0:8443/");
        assert!(config.is_https());
        let half = Config::load(|k| (k == "OFFICECOMMS_TLS_CERT").then(|| "/c.pem".into()));
        assert!(format!("{:#}", half.err().unwrap()).contains("set both"));
    }

    #[test]
    fn cache_sizes_take_a_unit_and_refuse_nonsense() {
        assert_eq!(parse_bytes("24M"), Some(24 << 20));
        assert_eq!(parse_bytes("512k"), Some(512 << 10));
        assert_eq!(parse_bytes("1000"), Some(1000));
        for bad in ["", "M", "-1M", "twelve", "99999999999999999999G"] {
            assert_eq!(parse_bytes(bad), None, "{bad:?}");
        }
        let config =
            Config::load(|k| (k == "OFFICECOMMS_CACHE_BYTES").then(|| "8M".into())).unwrap();
        assert_eq!(config.cache_bytes, 8 << 20);
        let err =
            Config::load(|k| (k == "OFFICECOMMS_CACHE_BYTES").then(|| "lots".into())).unwrap_err();
        assert!(format!("{err:#}").contains("OFFICECOMMS_CACHE_BYTES=lots"));
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oc.toml");
        std::fs::write(&file, "bnid = \"x\"\n").unwrap();
        let file = file.display().to_string();
        let err = Config::load(|k| (k == "OFFICECOMMS_CONFIG").then(|| file.clone()))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("bnid"));
    }
}
