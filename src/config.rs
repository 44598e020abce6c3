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
    /// Trust `X-Forwarded-For` from a reverse proxy for the client address.
    pub trust_proxy: bool,
    /// Seed the demo site of officecomms.com into an empty database.
    pub demo: bool,
    /// Run the outbox worker in this process.
    pub workers: bool,
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
            .field("log_format", &self.log_format)
            .field("body_limit", &self.body_limit)
            .field("demo", &self.demo)
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
    trust_proxy: Option<bool>,
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
            trust_proxy: false,
            demo: true,
            workers: true,
        }
    }
}

impl Config {
    /// Loads defaults, the TOML file and the environment (`env` is a lookup so
    /// tests need not touch the process environment).
    pub fn load(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let mut base_url_given = false;
        if let Some(path) = env("OFFICECOMMS_CONFIG") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading config file {path}"))?;
            let file: FileConfig =
                toml::from_str(&text).with_context(|| format!("parsing config file {path}"))?;
            base_url_given = file.base_url.is_some();
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
        if let Some(v) = var("LOG_FORMAT") {
            config.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => bail!("OFFICECOMMS_LOG_FORMAT must be text or json, not {other}"),
            };
        }
        if let Some(v) = var("TRUST_PROXY") {
            config.trust_proxy = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if !base_url_given {
            config.base_url = default_base_url(config.bind);
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
            trust_proxy,
        } = file;
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
        self.trust_proxy = trust_proxy.unwrap_or(self.trust_proxy);
        Ok(())
    }

    /// Sets the bind address and, unless a base URL was configured, follows it.
    pub fn set_bind(&mut self, bind: SocketAddr) {
        if self.base_url == default_base_url(self.bind) {
            self.base_url = default_base_url(bind);
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

fn default_base_url(bind: SocketAddr) -> url::Url {
    url::Url::parse(&format!("http://{bind}/")).expect("socket address makes a valid url")
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
            _ => None,
        };
        let config = Config::load(env).unwrap();
        assert_eq!(config.bind.port(), 9100);
        assert_eq!(config.body_limit, 1000);
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9100/");
        assert!(!format!("{config:?}").contains("hunter2"));
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
