//! Privacy by construction: the data inventory, per-subject keys, the
//! per-request privacy context and the generated policy.

mod admin;
pub mod age;
pub mod business_days;
pub mod db;
pub mod erasure;
pub mod incidents;
pub mod inventory;
pub mod mydata;
pub mod policy;
pub mod retention;

pub use crate::platform::{
    context::{Privacy, PublicNotice},
    subjects,
};

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use inventory::{Category, Field, Retention, Table};

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[NavItem::new(
    "Privacy & admin",
    "Privacy",
    "/admin/privacy/requests",
    Role::Admin,
)
.icon(Icon::Shield)];

pub const TABLES: &[Table] = &[
    Table {
        name: "suppressions",
        feature: "unsubscribing and erasure",
        subject_column: None,
        created_column: None,
        retention: Retention::Suppression,
        personal: &[Field {
            column: "email_index",
            label: "a keyed hash of an address that must never be written to again",
            category: Category::Identity,
            purpose: "to keep the promise that an unsubscribe or erasure is final",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["reason", "created_at"],
    },
    Table {
        name: "erasure_log",
        feature: "unsubscribing and erasure",
        subject_column: None,
        created_column: None,
        retention: Retention::Suppression,
        personal: &[],
        other: &["id", "subject_id", "erased_at", "requested_via"],
    },
    Table {
        name: "privacy_requests",
        feature: "requests to see or erase your data",
        subject_column: None,
        created_column: Some("created_at"),
        retention: Retention::Days(730),
        personal: &[Field {
            column: "email",
            label: "the address a data request was sent to",
            category: Category::Contact,
            purpose: "to send you the link to your data and confirm an erasure",
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "created_at",
            "due_at",
            "kind",
            "via",
            "status",
            "subject_id",
            "token_hash",
            "expires_at",
            "claim_hash",
            "claimed_at",
            "completed_at",
        ],
    },
    Table {
        name: "incidents",
        feature: "data breach notices",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "created_at",
            "discovered_at",
            "deadline_at",
            "title",
            "description",
            "categories",
            "scope",
            "published_at",
            "created_by",
        ],
    },
    Table {
        name: "incident_recipients",
        feature: "data breach notices",
        subject_column: Some("subject_id"),
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[Field {
            column: "email",
            label: "your address, if a data breach affected you",
            category: Category::Contact,
            purpose: "to tell you about a data breach that affects you",
            encrypted: true,
            shared_with: &[],
        }],
        other: &["id", "incident_id", "subject_id", "notified_at"],
    },
    Table {
        name: "policy_versions",
        feature: "the privacy policy",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["version", "created_at", "markdown"],
    },
];

/// Reloads the notices shown on every page (after a publish, and periodically
/// so that every instance sees another's publication).
pub async fn refresh_notices(state: &Platform) -> anyhow::Result<()> {
    let notices = db::public_notices(&state.db)
        .await?
        .into_iter()
        .map(|i| PublicNotice {
            title: i.title,
            description: i.description,
            published_at: i.published_at.unwrap_or(0),
        })
        .collect();
    state.set_notices(notices);
    Ok(())
}

/// Background work of the privacy domain: notices every 30 s, the retention
/// purge and the policy version record once a day.
pub async fn run_jobs(state: Platform, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut last_purge = 0i64;
    loop {
        if let Err(e) = refresh_notices(&state).await {
            tracing::error!(error = ?e, "refreshing breach notices");
        }
        let now = crate::platform::now_ms();
        if now - last_purge > 86_400_000 {
            match retention::purge(&state.db, &state.registry.inventory, now).await {
                Ok(purged) if !purged.is_empty() => tracing::info!(?purged, "retention purge"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = ?e, "retention purge"),
            }
            match retention::purge_files(&state.db, &state.config.data_dir).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "retention purge of mail files"),
                Err(e) => tracing::error!(error = ?e, "retention purge of mail files"),
            }
            last_purge = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

use crate::{
    error::{AppError, AppResult},
    platform::Platform,
    platform::templates::{Page, render},
};
use axum::{
    Router,
    extract::{Path, State},
    response::Response,
    routing::{get, post},
};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/privacy", get(show_policy))
        .route("/privacy/versions", get(list_policy_versions))
        .route("/privacy/versions/{version}", get(show_policy_version))
        .route(
            "/my-data",
            get(mydata::show_start).post(mydata::request_link),
        )
        .route("/my-data/{token}", get(mydata::show_data))
        .route("/my-data/{token}/export.json", get(mydata::export_json))
        .route("/my-data/{token}/correct", post(mydata::correct_field))
        .route(
            "/my-data/{token}/delete",
            get(mydata::confirm_delete).post(mydata::delete_data),
        )
        .route(
            "/admin/privacy/requests",
            get(admin::list_requests).post(admin::open_on_behalf),
        )
        .route(
            "/admin/privacy/incidents",
            get(incidents::list_incidents).post(incidents::create_incident),
        )
        .route("/admin/privacy/incidents/new", get(incidents::new_incident))
        .route(
            "/admin/privacy/incidents/{id}",
            get(incidents::show_incident),
        )
        .route(
            "/admin/privacy/incidents/{id}/publish",
            post(incidents::publish_incident),
        )
}

#[derive(askama::Template)]
#[template(path = "privacy/policy.html")]
struct PolicyPage {
    page: Page,
    body: String,
    version: String,
    updated_at: i64,
    current: bool,
}

async fn show_policy(State(state): State<Platform>, page: Page) -> AppResult<Response> {
    let policy = policy::generate(&page.site, &state.registry.inventory);
    let updated_at = policy::record(&state.db, &policy).await?;
    let body = crate::platform::templates::markdown_to_html(&policy.markdown);
    render(&PolicyPage {
        page: page.titled("Privacy policy"),
        body,
        version: policy.version,
        updated_at,
        current: true,
    })
}

#[derive(askama::Template)]
#[template(path = "privacy/policy_versions.html")]
struct VersionsPage {
    page: Page,
    versions: Vec<(String, i64)>,
    current: String,
}

async fn list_policy_versions(State(state): State<Platform>, page: Page) -> AppResult<Response> {
    let current = policy::generate(&page.site, &state.registry.inventory);
    policy::record(&state.db, &current).await?;
    let versions = db::policy_versions(&state.db).await?;
    render(&VersionsPage {
        page: page.titled("Earlier versions of the privacy policy"),
        versions,
        current: current.version,
    })
}

async fn show_policy_version(
    State(state): State<Platform>,
    page: Page,
    Path(version): Path<String>,
) -> AppResult<Response> {
    let (markdown, updated_at) = db::policy_version(&state.db, &version)
        .await?
        .ok_or(AppError::NotFound)?;
    let current = policy::generate(&page.site, &state.registry.inventory).version == version;
    let body = crate::platform::templates::markdown_to_html(&markdown);
    render(&PolicyPage {
        page: page.titled(format!("Privacy policy, version {version}")),
        body,
        version,
        updated_at,
        current,
    })
}
