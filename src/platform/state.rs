//! The platform's share of the application state: what every layer above
//! may use (configuration, database, keys, mail, metrics, settings, the
//! registries the application built from the features' declarations).
//! Handlers of the lower layers take `State<Platform>`; the application's
//! own state derefs to it, so `state.db` reads the same everywhere.

use super::{
    Clock,
    assets::Assets,
    context::{Notices, Privacy, PublicNotice},
    crypto::Keyring,
    db::Db,
    http::RateLimits,
    inventory::Inventory,
    mail::{self, Transport},
    metrics::Metrics,
    nav::{NavCount, NavItem},
    scan::Source,
    settings::{self, SiteSettings, TagReader},
    subjects::Subject,
};
use crate::config::Config;
use anyhow::Context;
use futures_util::future::BoxFuture;
use std::{
    ops::Deref,
    sync::{Arc, RwLock},
};
use tokio::sync::{Notify, broadcast, watch};

/// Something a feature does when a person proves, in this browser, who
/// they are (the my-data link): the consent feature links the browser's
/// cookie choices to them.
pub type BrowserLink =
    for<'a> fn(&'a Platform, &'a Subject, &'a Privacy) -> BoxFuture<'a, anyhow::Result<()>>;

/// A person corrected one of their fields on /my-data.
pub struct Correction<'a> {
    pub subject: &'a Subject,
    pub table: &'a str,
    pub column: &'a str,
    /// The corrected row's id.
    pub row_id: i64,
    pub value: &'a str,
}

/// What a feature does, in the correction's transaction, when a person
/// corrects a field it uses (the newsletter asks a corrected address to
/// confirm itself before any campaign goes to it).
pub type CorrectionHook = for<'a> fn(
    &'a Platform,
    &'a mut super::db::Tx,
    &'a Correction<'a>,
) -> BoxFuture<'a, anyhow::Result<()>>;

/// A mail whose recipient's server refused the address for good (a 5xx
/// answer to RCPT TO), as the outbox recorded it.
pub struct Refusal<'a> {
    pub outbox_id: i64,
    /// The outbox reason (`campaign:7`, `ticket-received`, …).
    pub reason: &'a str,
    pub subject_id: Option<i64>,
    pub dedupe_key: &'a str,
    /// The server's answer.
    pub error: &'a str,
}

/// What a feature does, in the transaction that marks the mail failed,
/// when a server refuses one of its mails' recipients (the newsletter
/// stops mailing the address, as after a hard bounce).
pub type RefusalHook = for<'a> fn(
    &'a Platform,
    &'a mut super::db::Tx,
    &'a Refusal<'a>,
) -> BoxFuture<'a, anyhow::Result<()>>;

/// What the features declare, gathered once by the application layer: the
/// platform holds the lists without knowing who filled them.
#[derive(Default)]
pub struct Registry {
    pub inventory: Inventory,
    /// Where the integrity scan looks.
    pub scan_sources: Vec<&'static Source>,
    /// The back office's navigation, in order.
    pub admin_nav: Arc<[&'static NavItem]>,
    /// Reads the third-party tag out of the stored settings.
    pub read_tag: Option<TagReader>,
    pub browser_links: Vec<BrowserLink>,
    pub corrections: Vec<CorrectionHook>,
    pub refusals: Vec<RefusalHook>,
    /// Counts the signed-in member's unread notifications (the staff
    /// shell's bell); the staff layer provides it.
    pub unread_notifications: Option<NavCount>,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Platform(Arc<Core>);

pub struct Core {
    pub config: Config,
    pub db: Db,
    pub keyring: Keyring,
    pub assets: Arc<Assets>,
    pub metrics: Metrics,
    pub rate_limits: RateLimits,
    pub mail_transport: Transport,
    /// The outbox's concurrency, rate and crash journal.
    pub delivery: mail::Delivery,
    /// Wakes the outbox worker after a commit that enqueued mail.
    pub mail_wakeup: Notify,
    /// Becomes true when the process is asked to stop; background work
    /// subscribes, finishes the item in hand and returns.
    pub shutdown: watch::Sender<bool>,
    /// What "now" is for publication, retention and statistics; tests move it.
    pub clock: Clock,
    /// The id of a staff member whose access just changed (signed out,
    /// disabled, another role): what they hold open (the chat console)
    /// checks again at once instead of at its next timer.
    pub staff_changes: broadcast::Sender<i64>,
    pub registry: Registry,
    site: RwLock<Arc<SiteSettings>>,
    notices: RwLock<Arc<Notices>>,
}

impl Deref for Platform {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.0
    }
}

impl Platform {
    /// Opens the data dir, key file and database and applies migrations.
    pub async fn open(config: Config, registry: Registry) -> anyhow::Result<Platform> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let keyring = Keyring::load_or_create(&config.data_dir.join("officecomms.key"))?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        Platform::assemble(config, registry, keyring, db).await
    }

    /// Opens what one short command needs to store one item (`mail-in`):
    /// the existing key file, one database connection, the schema checked
    /// (not migrated) and the site settings; no background work.
    pub async fn open_single(config: Config, registry: Registry) -> anyhow::Result<Platform> {
        let keyring = Keyring::load(&config.data_dir.join("officecomms.key"))?;
        let db = Db::connect_single(&config.database_url()).await?;
        db.ensure_schema_current().await?;
        Platform::assemble(config, registry, keyring, db).await
    }

    async fn assemble(
        config: Config,
        registry: Registry,
        keyring: Keyring,
        db: Db,
    ) -> anyhow::Result<Platform> {
        let site = settings::load(&db, registry.read_tag, config.backup_keep_days).await?;
        let mail_transport = Transport::from_config(config.smtp_url.as_deref(), &config.data_dir)?;
        let delivery =
            mail::Delivery::new(config.mail_concurrency, config.mail_rate, &config.data_dir);
        let metrics = Metrics::default();
        Ok(Platform(Arc::new(Core {
            rate_limits: RateLimits::new(
                config.public_post_per_minute,
                config.login_per_minute,
                config.api_per_minute,
            )
            .metered(metrics.cache("rate_limits", config.rate_limit_bytes)),
            config,
            db,
            keyring,
            assets: Arc::new(Assets::load()),
            metrics,
            delivery,
            mail_transport,
            mail_wakeup: Notify::new(),
            shutdown: watch::Sender::new(false),
            clock: Clock::default(),
            staff_changes: broadcast::Sender::new(64),
            registry,
            site: RwLock::new(site),
            notices: RwLock::new(Arc::default()),
        })))
    }
}

impl Core {
    /// The current site settings.
    pub fn site(&self) -> Arc<SiteSettings> {
        self.site.read().expect("settings lock").clone()
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Published breach notices shown on every page.
    pub fn notices(&self) -> Arc<Notices> {
        self.notices.read().expect("notices lock").clone()
    }

    /// Replaces the notices if they changed; a change gets the next version,
    /// which is part of every shared page's cache key.
    pub fn set_notices(&self, notices: Vec<PublicNotice>) {
        let mut current = self.notices.write().expect("notices lock");
        if current.items != notices {
            *current = Arc::new(Notices {
                version: current.version + 1,
                items: notices,
            });
        }
    }

    pub async fn reload_site(&self) -> anyhow::Result<()> {
        let fresh = settings::load(
            &self.db,
            self.registry.read_tag,
            self.config.backup_keep_days,
        )
        .await?;
        *self.site.write().expect("settings lock") = fresh;
        Ok(())
    }
}
