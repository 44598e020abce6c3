//! The application: shared state, the router, and start-up.

use crate::{
    config::Config,
    platform::{
        assets::{self, Assets},
        crypto::Keyring,
        db::Db,
        http::{self, RateLimits},
        mail::{self, Transport},
        metrics::{self, Metrics},
        settings::{self, SiteSettings},
    },
    privacy, site, staff,
};
use anyhow::Context;
use axum::{Router, extract::DefaultBodyLimit, middleware, routing::get};
use std::{
    net::SocketAddr,
    ops::Deref,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::{net::TcpListener, sync::Notify};
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer, trace::TraceLayer,
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
    /// Wakes the outbox worker after a commit that enqueued mail.
    pub mail_wakeup: Notify,
    pub content: crate::content::Content,
    site: RwLock<Arc<SiteSettings>>,
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

    pub async fn reload_site(&self) -> anyhow::Result<()> {
        let fresh = settings::load(&self.db).await?;
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
        let site = settings::load(&db).await?;
        let mail_transport = Transport::from_config(config.smtp_url.as_deref(), &config.data_dir)?;
        Ok(AppState(Arc::new(App {
            rate_limits: RateLimits::new(config.public_post_per_minute, config.login_per_minute),
            config,
            db,
            keyring,
            assets: Arc::new(Assets::load()),
            metrics: Metrics::default(),
            mail_transport,
            mail_wakeup: Notify::new(),
            content: crate::content::Content::default(),
            site: RwLock::new(site),
        })))
    }
}

/// Every route of the site, with the middleware applied once for all.
pub fn router(state: AppState) -> Router {
    let config = &state.config;
    Router::new()
        .merge(site::router())
        .merge(privacy::router())
        .merge(staff::router())
        .merge(crate::content::router())
        .route("/static/{file}", get(assets::serve_asset))
        .route("/metrics", get(metrics::show_metrics))
        .fallback(http::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), http::site))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
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
        let state = AppState::open(config).await?;
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops the workers.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = self
            .state
            .config
            .workers
            .then(|| tokio::spawn(mail::run_worker(self.state.clone(), stop_rx)));
        let app = router(self.state.clone());
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        let _ = stop_tx.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        Ok(())
    }
}
