//! The application layer: it composes the features over the platform.
//! The shared state, the router merge, the one site middleware
//! ([`middleware`]), the registries built from each feature's declarations
//! ([`registry`]), the background tasks and start-up. Nothing below it
//! names it.

pub mod api;
mod dashboard;
#[cfg(test)]
mod mail_layout;
pub mod middleware;
pub mod registry;
mod search;

use crate::{
    config::Config,
    ops,
    platform::{
        Platform,
        assets::{self},
        http,
        mail::{self},
        metrics::{self, RouteOnResponseLayer},
        settings::{self},
        tls::{Certificates, TlsListener},
    },
    privacy, shop, site, staff, surveys,
};
use anyhow::Context;
use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, Request},
    response::Response,
    routing::get,
    serve::ListenerExt,
};
use std::{convert::Infallible, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;

/// Everything a handler may need, cheap to clone: the platform (which it
/// derefs to, so `state.db` works) and the features' own shares.
#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub platform: Platform,
    pub content: crate::content::Content,
    pub analytics: crate::analytics::Analytics,
    pub chat: crate::chat::Hub,
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl Deref for App {
    type Target = Platform;
    fn deref(&self) -> &Platform {
        &self.platform
    }
}

impl FromRef<AppState> for Platform {
    fn from_ref(state: &AppState) -> Platform {
        state.platform.clone()
    }
}

impl AppState {
    /// Opens the platform (data dir, key file, database, migrations) with
    /// the features' registry, seeds the demo site into an empty database
    /// and starts the features' shares.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let demo = config.demo;
        let platform = Platform::open(config, registry::build()).await?;
        if demo && settings::is_empty(&platform.db).await? {
            registry::seed_demo(&platform.db)
                .await
                .context("seeding the demo site")?;
            platform.reload_site().await?;
        }
        // The policy's text takes effect now if it changed (a new release):
        // its "last updated" date is stored with it, whoever reads it first.
        let policy =
            crate::privacy::policy::generate(&platform.site(), &platform.registry.inventory);
        crate::privacy::policy::record(&platform.db, &policy)
            .await
            .context("recording the privacy policy's version")?;
        // Words of records stored before their blind index existed (the
        // key is not in the database, so a migration cannot hash them).
        crate::support::search::backfill(&platform)
            .await
            .context("indexing the words of earlier tickets")?;
        crate::shop::search::backfill(&platform)
            .await
            .context("indexing the words of earlier orders")?;
        crate::chat::search::backfill(&platform)
            .await
            .context("indexing the words of earlier chats")?;
        let analytics = crate::analytics::Analytics::open(
            &platform.db,
            platform
                .metrics
                .cache("analytics", platform.config.analytics_buffer_bytes),
        )
        .await?;
        let chat = crate::chat::Hub::start(
            platform.db.clone(),
            platform.keyring.clone(),
            &platform.config.database_url(),
            platform.shutdown.subscribe(),
        )
        .await?;
        let content = crate::content::Content::new(&platform.metrics, platform.config.cache_bytes);
        Ok(AppState(Arc::new(App {
            platform,
            chat,
            content,
            analytics,
        })))
    }
}

impl AppState {
    /// What `officecomms mail-in` needs to take one message and exit,
    /// started in milliseconds: [`Platform::open_single`] (one connection,
    /// the schema checked, not migrated), and the features' shares idle
    /// (no chat listener, no presence, no analytics read, no policy, demo
    /// or backfill: `serve` does those).
    pub async fn open_single(config: Config) -> anyhow::Result<AppState> {
        let platform = Platform::open_single(config, registry::build()).await?;
        let analytics = crate::analytics::Analytics::idle(
            platform
                .metrics
                .cache("analytics", platform.config.analytics_buffer_bytes),
        );
        let chat = crate::chat::Hub::detached(platform.db.clone());
        Ok(AppState(Arc::new(App {
            platform,
            chat,
            content: crate::content::Content::detached(),
            analytics,
        })))
    }
}

/// The whole site as one service: the middleware, then the routes. The
/// middleware runs before routing, once for all routes, so that a page
/// already rendered for everyone is answered without routing at all
/// (`content::public::answer_shared`); every route carries its pattern
/// back on the response for the request metrics.
pub fn service(
    state: AppState,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let config = &state.config;
    let routes = Router::new()
        .merge(site::router())
        .merge(privacy::router().with_state(state.platform.clone()))
        .merge(staff::router().with_state(state.platform.clone()))
        .route("/admin", get(dashboard::show_dashboard))
        .route("/admin/search", get(search::search))
        .route("/admin/dashboard.json", get(dashboard::dashboard_figures))
        .merge(ops::router())
        .merge(shop::router())
        .merge(surveys::router())
        .merge(crate::support::router())
        .merge(crate::mail_in::router())
        .merge(crate::content::router())
        .merge(crate::newsletter::router())
        .merge(crate::consent::router())
        .merge(crate::analytics::router())
        .merge(crate::chat::router())
        .merge(crate::account::router())
        .merge(api::router())
        .merge(crate::webhooks::router())
        .route("/static/{file}", get(assets::serve_asset))
        .route("/metrics", get(metrics::show_metrics))
        .fallback(http::not_found)
        .layer(RouteOnResponseLayer)
        .with_state(state.clone());
    // Requests are logged (at debug) by the site middleware's timer, not by
    // a trace layer: a span and a body wrapper per request cost a tenth of
    // a cached page. The site middleware holds the request timeout and
    // catches panics itself, around everything it does.
    ServiceBuilder::new()
        .layer(http::CompressWhenAskedLayer)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::site,
        ))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .service(routes)
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Set when serving HTTPS directly.
    certificates: Option<Certificates>,
}

/// The background work of a serving process. Each task watches
/// `state.shutdown` and returns once it has finished the item in hand; the
/// process waits for all of them before it exits. A feature that buffers
/// (the analytics flusher, say) adds its task here and flushes on shutdown.
fn background_tasks(state: &AppState) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(crate::analytics::run_flusher(
            state.clone(),
            state.shutdown.subscribe(),
        )),
        tokio::spawn(crate::platform::db::run_checkpointer(
            state.db.clone(),
            state.shutdown.subscribe(),
        )),
        tokio::spawn(prune_rate_limits(state.platform.clone())),
    ];
    if state.config.workers {
        tasks.push(tokio::spawn(mail::run_worker(
            state.platform.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(privacy::run_jobs(
            state.platform.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(ops::integrity::run_daily(state.clone())));
        tasks.push(tokio::spawn(crate::newsletter::runner::run(
            state.clone(),
            state.shutdown.subscribe(),
        )));
        if state.config.imap_url.is_some() {
            tasks.push(tokio::spawn(crate::mail_in::imap::run(
                state.clone(),
                state.shutdown.subscribe(),
            )));
        }
        tasks.push(tokio::spawn(crate::webhooks::run_worker(
            state.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(crate::chat::conversations::run_unanswered(
            state.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(crate::support::escalation::run(
            state.clone(),
            state.shutdown.subscribe(),
        )));
    }
    tasks
}

/// Forgets rate-limit state that has recovered, every minute.
async fn prune_rate_limits(platform: Platform) {
    let mut shutdown = platform.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => platform.rate_limits.prune(),
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let bind = config.bind;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        // Bound to port 0 (tests): links must carry the port we got.
        if config.base_url.port() == Some(0) {
            let _ = config
                .base_url
                .set_port(Some(listener.local_addr()?.port()));
        }
        let certificates = config.tls.as_ref().map(Certificates::load).transpose()?;
        let state = AppState::open(config).await?;
        Ok(Application {
            listener,
            state,
            certificates,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The certificates served when TLS is on, to reload them (SIGHUP).
    pub fn certificates(&self) -> Option<Certificates> {
        self.certificates.clone()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets the
    /// requests in flight finish (for up to `shutdown_grace_secs`) and waits
    /// for the background tasks to put down what they are doing.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let tasks = background_tasks(&state);
        // `state.shutdown` is the one switch: the signal flips it, and the
        // server and every background task follow it.
        let trigger = tokio::spawn({
            let state = state.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing requests in flight");
                state.shutdown.send_replace(true);
            }
        });
        let mut stopping = state.shutdown.subscribe();
        let signal = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let app = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(
            service(state.clone()),
        );
        let serve = async move {
            match self.certificates {
                None => {
                    // No Nagle delay: a response or chat frame written in
                    // two pieces must not wait for the client's delayed ACK.
                    let listener = self.listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(listener, app)
                        .with_graceful_shutdown(signal)
                        .await
                }
                Some(certificates) => {
                    let tls = TlsListener::new(self.listener, certificates.server_config()?)?;
                    axum::serve(tls.tap_io(|_| {}), app)
                        .with_graceful_shutdown(signal)
                        .await
                }
            }
            .context("serving HTTP")
        };
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let mut stopping = state.shutdown.subscribe();
        let deadline = async move {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = serve => served,
            _ = deadline => {
                tracing::warn!("requests still running after {grace:?}; closing them");
                Ok(())
            }
        };
        trigger.abort();
        state.shutdown.send_replace(true);
        if tokio::time::timeout(grace, futures_util::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("background tasks still busy after {grace:?}; stopping anyway");
        }
        served
    }
}
