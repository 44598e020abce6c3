//! The application: shared state, the router, and start-up.

use crate::{
    config::Config,
    ops,
    platform::{
        assets::{self, Assets},
        crypto::Keyring,
        db::Db,
        http::{self, RateLimits},
        mail::{self, Transport},
        metrics::{self, Metrics, RouteOnResponseLayer},
        settings::{self, SiteSettings},
        tls::{Certificates, TlsListener},
    },
    privacy, shop, site, staff, surveys,
};
use anyhow::Context;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware,
    response::Response,
    routing::get,
    serve::ListenerExt,
};
use std::{
    convert::Infallible,
    net::SocketAddr,
    ops::Deref,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinHandle,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
};

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
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
    pub content: crate::content::Content,
    pub analytics: crate::analytics::Analytics,
    pub chat: crate::chat::Hub,
    site: RwLock<Arc<SiteSettings>>,
    notices: RwLock<Arc<Vec<privacy::PublicNotice>>>,
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// The current site settings.
    pub fn site(&self) -> Arc<SiteSettings> {
        self.site.read().expect("settings lock").clone()
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Published breach notices shown on every page.
    pub fn notices(&self) -> Arc<Vec<privacy::PublicNotice>> {
        self.notices.read().expect("notices lock").clone()
    }

    /// Replaces the notices if they changed. The list's address is part of
    /// every shared page's cache key, so an unchanged list keeps its own.
    pub fn set_notices(&self, notices: Vec<privacy::PublicNotice>) {
        let mut current = self.notices.write().expect("notices lock");
        if **current != notices {
            *current = Arc::new(notices);
        }
    }

    pub async fn reload_site(&self) -> anyhow::Result<()> {
        let fresh = settings::load(&self.db, self.config.backup_keep_days).await?;
        *self.site.write().expect("settings lock") = fresh;
        Ok(())
    }
}

impl AppState {
    /// Opens the data dir, key file and database, applies migrations and
    /// seeds the demo site into an empty database.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let keyring = Keyring::load_or_create(&config.data_dir.join("officecomms.key"))?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        if config.demo && settings::is_empty(&db).await? {
            site::seed_demo(&db)
                .await
                .context("seeding the demo site")?;
        }
        let site = settings::load(&db, config.backup_keep_days).await?;
        let mail_transport = Transport::from_config(config.smtp_url.as_deref(), &config.data_dir)?;
        let delivery =
            mail::Delivery::new(config.mail_concurrency, config.mail_rate, &config.data_dir);
        let analytics = crate::analytics::Analytics::open(&db).await?;
        let shutdown = watch::Sender::new(false);
        let chat =
            crate::chat::Hub::start(db.clone(), &config.database_url(), shutdown.subscribe())
                .await?;
        Ok(AppState(Arc::new(App {
            rate_limits: RateLimits::new(config.public_post_per_minute, config.login_per_minute),
            config,
            db,
            keyring,
            assets: Arc::new(Assets::load()),
            metrics: Metrics::default(),
            delivery,
            mail_transport,
            mail_wakeup: Notify::new(),
            shutdown,
            chat,
            content: crate::content::Content::default(),
            analytics,
            site: RwLock::new(site),
            notices: RwLock::new(Arc::default()),
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
        .merge(privacy::router())
        .merge(staff::router())
        .merge(ops::router())
        .merge(shop::router())
        .merge(surveys::router())
        .merge(crate::support::router())
        .merge(crate::content::router())
        .merge(crate::newsletter::router())
        .merge(crate::consent::router())
        .merge(crate::analytics::router())
        .merge(crate::chat::router())
        .route("/static/{file}", get(assets::serve_asset))
        .route("/metrics", get(metrics::show_metrics))
        .fallback(http::not_found)
        .layer(RouteOnResponseLayer)
        .with_state(state.clone());
    // Requests are logged (at debug) by the site middleware's timer, not by
    // a trace layer: a span and a body wrapper per request cost a tenth of
    // a cached page.
    ServiceBuilder::new()
        .layer(http::CompressWhenAskedLayer)
        .layer(middleware::from_fn_with_state(state.clone(), http::site))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::new())
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
    ];
    if state.config.workers {
        tasks.push(tokio::spawn(mail::run_worker(
            state.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(privacy::run_jobs(
            state.clone(),
            state.shutdown.subscribe(),
        )));
        tasks.push(tokio::spawn(ops::integrity::run_daily(state.clone())));
        tasks.push(tokio::spawn(crate::newsletter::runner::run(
            state.clone(),
            state.shutdown.subscribe(),
        )));
    }
    tasks
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
