//! Running officecomms in production: backups and restores, the integrity
//! scan and its admin page. (TLS and trusted proxies live in `platform`.)

pub mod backup;
mod db;
mod handlers;
pub mod integrity;

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    privacy::inventory::{Retention, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

/// Where features keep uploaded files, under the data dir: one folder per
/// feature (`uploads/attachments/…`). Backups carry it; the scan reads it.
pub const UPLOADS_DIR: &str = "uploads";

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[NavItem::new(
    "Privacy & admin",
    "Integrity",
    "/admin/integrity",
    Role::Admin,
)
.icon(Icon::Check)];

pub const TABLES: &[Table] = &[
    Table {
        name: "integrity_findings",
        feature: "site integrity checks",
        subject_column: None,
        created_column: Some("first_seen_at"),
        retention: Retention::Days(90),
        personal: &[],
        other: &[
            "id",
            "fingerprint",
            "kind",
            "item_id",
            "rule",
            "detail",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
        ],
    },
    Table {
        name: "integrity_scans",
        feature: "site integrity checks",
        subject_column: None,
        created_column: Some("started_at"),
        retention: Retention::Days(365),
        personal: &[],
        other: &[
            "id",
            "started_at",
            "finished_at",
            "started_by",
            "items",
            "findings",
            "errors",
        ],
    },
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/integrity", get(handlers::show_integrity))
        .route("/admin/integrity/scan", post(handlers::start_scan))
}

/// Open integrity findings, for the dashboard.
pub async fn open_findings(state: &AppState) -> anyhow::Result<i64> {
    db::count_open(&state.db).await
}
