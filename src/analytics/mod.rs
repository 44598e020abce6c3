//! First-party traffic analytics, counted on the server in the request path:
//! no script, no cookie, nothing sent to anyone.
//!
//! - Who is counted: visitors whose browser sends neither DNT nor GPC, who
//!   are not flagged under 13, who did not refuse analytics on the cookie
//!   page, and who are not robots ([`Privacy::counted`], [`track::UserAgent`]).
//! - Unique visitors: a keyed hash of IP address and user agent under a salt
//!   that changes every day and is deleted once the day is over.
//! - Speed: counting is a few map operations in memory ([`aggregate`]); a
//!   background task writes batches, and a graceful shutdown writes the rest.
//! - Exactness: a visitor's daily marks are settled by the database, so
//!   counts stay exact across restarts, instances and midnight.

pub mod aggregate;
pub mod api;
mod dashboard;
pub mod db;
pub mod track;

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    platform::{db::Db, memory::CacheMeter, settings},
    privacy::inventory::{Retention, Table},
};
use aggregate::{Aggregator, Day, day_of};
use axum::{
    Router,
    routing::{get, post},
};
use std::{
    sync::{
        RwLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

pub use track::count;

/// How often pending counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
const ENABLED_SETTING: &str = "analytics.enabled";

/// The goals a visit can reach, with their labels.
pub const GOALS: &[(&str, &str)] = &[
    ("query_sent", "Query sent"),
    ("chat_started", "Chat started"),
    ("newsletter_confirmed", "Newsletter confirmed"),
    ("order_requested", "Order requested"),
];

/// The analytics share of the application state.
pub struct Analytics {
    pub aggregator: Aggregator,
    enabled: AtomicBool,
    /// The day's salt, as a keyed hasher ready to clone.
    salt: RwLock<Option<(Day, track::VisitorHasher)>>,
    /// Requests inside the counting layer: a shutdown flushes once they are done.
    in_flight: AtomicUsize,
    /// One flush at a time.
    flushing: tokio::sync::Mutex<()>,
    /// What the aggregator holds against its budget (`analytics` in `/metrics`).
    meter: CacheMeter,
}

impl Analytics {
    /// Reads the owner's switch; the aggregator reports to `meter` and
    /// forgets its visitor sets when over its budget.
    pub async fn open(db: &Db, meter: CacheMeter) -> anyhow::Result<Analytics> {
        let enabled = settings::get_raw(db, ENABLED_SETTING).await?.as_deref() != Some("0");
        Ok(Analytics {
            aggregator: Aggregator::default(),
            enabled: AtomicBool::new(enabled),
            salt: RwLock::new(None),
            in_flight: AtomicUsize::new(0),
            flushing: tokio::sync::Mutex::new(()),
            meter,
        })
    }

    /// Counting nothing, for a command that serves no pages (`mail-in`).
    pub fn idle(meter: CacheMeter) -> Analytics {
        Analytics {
            aggregator: Aggregator::default(),
            enabled: AtomicBool::new(false),
            salt: RwLock::new(None),
            in_flight: AtomicUsize::new(0),
            flushing: tokio::sync::Mutex::new(()),
            meter,
        }
    }

    /// Whether visits are counted at all (the owner's switch).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The visitor hasher of `day`, keyed with its salt from memory or the database.
    async fn hasher(&self, db: &Db, day: Day) -> anyhow::Result<track::VisitorHasher> {
        if let Some((d, hasher)) = self.salt.read().expect("salt lock").as_ref()
            && *d == day
        {
            return Ok(*hasher);
        }
        let hasher = track::VisitorHasher::new(&db::salt(db, day).await?);
        *self.salt.write().expect("salt lock") = Some((day, hasher));
        Ok(hasher)
    }

    /// Writes what is pending; on failure keeps it for the next try.
    pub async fn flush(&self, db: &Db, today: Day) -> anyhow::Result<()> {
        let _one = self.flushing.lock().await;
        let batch = self.aggregator.take(today);
        if !batch.is_empty()
            && let Err(e) = db::write(db, &batch).await
        {
            self.aggregator.restore(batch);
            return Err(e);
        }
        let (mut bytes, mut keys) = self.aggregator.size();
        if bytes > self.meter.budget() {
            self.meter.evicted(self.aggregator.forget_seen());
            (bytes, keys) = self.aggregator.size();
        }
        self.meter.set(bytes, keys);
        db::forget(db, today).await
    }
}

/// The company's today, as analytics counts days.
pub fn today(state: &AppState) -> Day {
    day_of(state.clock.now(), state.site().time_zone)
}

/// Writes what is pending up to the clock's today (see [`Analytics::flush`]).
pub async fn flush_now(state: &AppState) -> anyhow::Result<()> {
    state.analytics.flush(&state.db, today(state)).await
}

/// Counts a goal (one of [`GOALS`]) for the visitor whose request is being
/// handled; a visitor who is not counted reaches no goal either. Outside a
/// request (a background job) it counts the goal alone.
pub fn goal(state: &AppState, name: &str) {
    debug_assert!(GOALS.iter().any(|(g, _)| *g == name), "unknown goal {name}");
    let analytics = &state.analytics;
    if !analytics.enabled() {
        return;
    }
    match track::VISIT.try_with(|v| *v) {
        Ok(visit) => {
            if let Some(visitor) = visit.visitor {
                analytics.aggregator.goal(visit.day, name, Some(visitor));
            }
        }
        Err(_) => analytics.aggregator.goal(today(state), name, None),
    }
}

/// [`goal`] for work that runs outside the request that started it (a
/// WebSocket's task, say): the privacy context captured from that request
/// decides, and the goal counts for nobody in particular.
pub fn goal_for(state: &AppState, privacy: &crate::privacy::Privacy, name: &str) {
    if track::VISIT.try_with(|_| ()).is_ok() {
        return goal(state, name);
    }
    if privacy.counted() && state.analytics.enabled() {
        let analytics = &state.analytics;
        analytics.aggregator.goal(today(state), name, None);
    }
}

/// The background writer: every [`FLUSH_EVERY`], and once more when the
/// process stops, after the last request in flight has been counted.
pub async fn run_flusher(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
            _ = shutdown.wait_for(|s| *s) => true,
        };
        if stopping {
            while state.analytics.in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if let Err(e) = flush_now(&state).await {
            tracing::error!(error = ?e, "writing analytics");
        }
        if stopping {
            return;
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/analytics", get(dashboard::show_dashboard))
        .route("/admin/analytics.csv", get(dashboard::export_csv))
        .route("/admin/analytics/settings", post(dashboard::save_settings))
}

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] =
    &[NavItem::new("Marketing", "Analytics", "/admin/analytics", Role::Admin).icon(Icon::Chart)];

pub const TABLES: &[Table] = &[
    Table {
        name: "analytics_counts",
        feature: "visit statistics (aggregated, no personal data)",
        title: "Visit statistics",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["day", "dimension", "key", "views", "visitors", "entries"],
        columns: &[],
    },
    Table {
        name: "analytics_salts",
        feature: "visit statistics (aggregated, no personal data)",
        title: "Visit statistics: daily salts",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::Days(1),
        personal: &[],
        other: &["day", "salt"],
        columns: &[],
    },
    Table {
        name: "analytics_seen",
        feature: "visit statistics (aggregated, no personal data)",
        title: "Visit statistics: daily marks",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::Days(2),
        personal: &[],
        other: &["day", "mark"],
        columns: &[],
    },
];

/// Today's counted visitors (the company's day), counts still in memory included.
pub async fn visitors_today(state: &AppState) -> anyhow::Result<i64> {
    flush_now(state).await?;
    let day = today(state);
    let rows = db::top(&state.db, aggregate::Dim::Total, day, day, 1).await?;
    Ok(rows.first().map_or(0, |(_, d)| d.visitors))
}
