//! Staff accounts, roles, sessions, the audit log and the back office shell.

pub mod audit;
pub mod auth;
pub mod db;
mod handlers;

pub use handlers::add_user_cli;

pub use auth::{Admin, Agent, AnyStaff, Editor, Staff};

use crate::{
    AppState,
    privacy::inventory::{Category, Field, Retention, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

pub const TABLES: &[Table] = &[
    Table {
        name: "staff_users",
        feature: "staff accounts (employees only)",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[
            Field {
                column: "email",
                label: "staff member's work email",
                category: Category::Account,
                purpose: "to sign staff in to the back office",
                encrypted: false,
                shared_with: &[],
            },
            Field {
                column: "display_name",
                label: "staff member's name",
                category: Category::Account,
                purpose: "to show who answered you",
                encrypted: false,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "password_hash",
            "role",
            "disabled",
            "created_at",
            "last_login_at",
        ],
    },
    Table {
        name: "staff_invites",
        feature: "staff accounts (employees only)",
        subject_column: None,
        created_column: Some("created_at"),
        retention: Retention::Days(30),
        personal: &[],
        other: &[
            "token_hash",
            "user_id",
            "created_at",
            "expires_at",
            "used_at",
        ],
    },
    Table {
        name: "staff_sessions",
        feature: "staff accounts (employees only)",
        subject_column: None,
        created_column: Some("created_at"),
        retention: Retention::Days(2),
        personal: &[],
        other: &["token_hash", "user_id", "created_at", "expires_at"],
    },
    Table {
        name: "audit_log",
        feature: "the staff audit log",
        subject_column: None,
        created_column: Some("at"),
        retention: Retention::Days(730),
        personal: &[Field {
            column: "actor_label",
            label: "which staff member did what, and when",
            category: Category::Account,
            purpose: "to prove how personal data was handled",
            encrypted: false,
            shared_with: &[],
        }],
        other: &[
            "id",
            "at",
            "actor_user_id",
            "action",
            "target_kind",
            "target_id",
            "detail",
        ],
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Agent,
    Editor,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Editor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Editor => "editor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// An admin can do everything; others only their own area.
    pub fn allows(self, required: Role) -> bool {
        self == Role::Admin || self == required
    }

    pub fn allows_str(self, required: &str) -> bool {
        Role::parse(required).is_some_and(|r| self.allows(r))
    }
}

/// The signed-in staff member.
#[derive(Clone, Debug)]
pub struct StaffUser {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(handlers::show_dashboard))
        .route(
            "/admin/login",
            get(handlers::show_login).post(handlers::log_in),
        )
        .route("/admin/logout", post(handlers::log_out))
        .route(
            "/admin/users",
            get(handlers::list_users).post(handlers::invite_user),
        )
        .route("/admin/users/{id}", post(handlers::update_user))
        .route(
            "/admin/invite/{token}",
            get(handlers::show_invite).post(handlers::accept_invite),
        )
        .route("/admin/audit", get(handlers::list_audit))
        .route(
            "/admin/settings",
            get(handlers::show_settings).post(handlers::save_settings),
        )
}
