//! Staff accounts, roles, sessions, the audit log and the back office shell.

pub mod audit;
pub mod auth;
pub mod db;
pub(crate) mod handlers;
mod notification_pages;
pub mod notifications;
pub mod tokens;
pub mod two_factor;
mod two_factor_pages;

pub use handlers::{add_user_cli, name_from_email};

pub use auth::{Admin, Agent, AnyStaff, Editor, Staff};

pub use crate::platform::context::{Role, StaffUser};

use crate::platform::nav::{Icon, NavItem};
use crate::platform::{
    Platform,
    inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[
    NavItem::new("Privacy & admin", "Users", "/admin/users", Role::Admin).icon(Icon::Users),
    NavItem::new("Privacy & admin", "Audit log", "/admin/audit", Role::Admin).icon(Icon::Log),
    NavItem::new(
        "Privacy & admin",
        "Settings",
        "/admin/settings",
        Role::Admin,
    )
    .icon(Icon::Gear),
];

pub const TABLES: &[Table] = &[
    Table {
        name: "staff_users",
        feature: "staff accounts (employees only)",
        title: "Staff accounts",
        summary: "",
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
            "time_zone",
        ],
        columns: &[
            Column::new(
                "email",
                "Work email",
                Shown::Email,
                "A staff member's work address, used to sign in.",
            ),
            Column::new(
                "display_name",
                "Name",
                Shown::Text,
                "A staff member's name, shown to the people they answer.",
            ),
        ],
    },
    Table {
        name: "staff_invites",
        feature: "staff accounts (employees only)",
        title: "Staff invitations",
        summary: "",
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
        columns: &[],
    },
    Table {
        name: "staff_sessions",
        feature: "staff accounts (employees only)",
        title: "Staff sign-ins",
        summary: "",
        subject_column: None,
        created_column: Some("created_at"),
        retention: Retention::Days(2),
        personal: &[],
        other: &["token_hash", "user_id", "created_at", "expires_at"],
        columns: &[],
    },
    Table {
        name: "api_tokens",
        feature: "staff accounts (employees only)",
        title: "Staff API tokens",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &[
            "id",
            "user_id",
            "name",
            "token_hash",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
        ],
        columns: &[],
    },
    Table {
        name: "staff_two_factor",
        feature: "staff accounts (employees only)",
        title: "Staff two-step sign-in",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &["user_id", "secret", "created_at", "enabled_at", "last_step"],
        columns: &[],
    },
    Table {
        name: "staff_recovery_codes",
        feature: "staff accounts (employees only)",
        title: "Staff recovery codes",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &["id", "user_id", "code_hash", "created_at", "used_at"],
        columns: &[],
    },
    Table {
        name: "staff_notification_choices",
        feature: "staff accounts (employees only)",
        title: "Staff notification choices",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &["user_id", "kind", "by_mail", "in_app"],
        columns: &[],
    },
    Table {
        name: "staff_notifications",
        feature: "staff notifications (employees only)",
        title: "Notices to our staff about your requests",
        summary: "{kind} · {about} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(90),
        personal: &[Field {
            column: "person",
            label: "your name, in a notice telling the staff member handling your request that you answered",
            category: Category::Identity,
            purpose: "to tell the staff member assigned to your request that you answered",
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "user_id",
            "kind",
            "about",
            "detail",
            "link",
            "subject_id",
            "dedupe_key",
            "created_at",
            "read_at",
        ],
        columns: &[
            Column::new("id", "Number", Shown::Internal, ROW_ID),
            Column::new(
                "user_id",
                "Staff member",
                Shown::Internal,
                "Our number for the staff member who was told.",
            ),
            Column::new(
                "kind",
                "About",
                Shown::Status,
                "What the notice said happened, like \"visitor answered\".",
            ),
            Column::new(
                "about",
                "Request",
                Shown::Reference,
                "The reference of your request.",
            ),
            Column::new(
                "detail",
                "Detail",
                Shown::Text,
                "The rest of the notice's words, like the name of the staff member who assigned it.",
            ),
            Column::new(
                "link",
                "Link",
                Shown::Internal,
                "Where the notice leads in our back office.",
            ),
            Column::new("subject_id", "Your record", Shown::Internal, SUBJECT_ID),
            Column::new(
                "person",
                "Your name",
                Shown::Text,
                "Your name as the notice showed it to our staff member.",
            ),
            Column::new(
                "dedupe_key",
                "Key",
                Shown::Internal,
                "Keeps the same notice from being given twice.",
            ),
            Column::new(
                "created_at",
                "Made",
                Shown::DateTime,
                "When the notice was made; it is deleted 90 days later.",
            ),
            Column::new(
                "read_at",
                "Read",
                Shown::DateTime,
                "When the staff member read it.",
            ),
        ],
    },
    Table {
        name: "audit_log",
        feature: "the staff audit log",
        title: "Staff audit log",
        summary: "",
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
        columns: &[Column::new(
            "actor_label",
            "Who",
            Shown::Text,
            "Which staff member did what, to prove how personal data was handled.",
        )],
    },
];

pub fn router() -> Router<Platform> {
    Router::new()
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
            "/admin/account",
            get(handlers::show_account).post(handlers::save_account),
        )
        .route(
            "/admin/account/notifications",
            post(handlers::save_notification_choices),
        )
        .route(
            "/admin/notifications",
            get(notification_pages::list_notifications),
        )
        .route(
            "/admin/notifications/read-all",
            post(notification_pages::mark_all_read),
        )
        .route(
            "/admin/notifications/{id}",
            get(notification_pages::open_notification),
        )
        .route("/admin/account/password", post(handlers::change_password))
        .route("/admin/account/tokens", post(handlers::create_token))
        .route(
            "/admin/account/tokens/{id}/revoke",
            post(handlers::revoke_token),
        )
        .route(
            "/admin/settings",
            get(handlers::show_settings).post(handlers::save_settings),
        )
        .route(
            "/admin/settings/two-factor",
            post(two_factor_pages::save_requirement),
        )
        .route(
            "/admin/login/code",
            get(two_factor_pages::show_code_step).post(two_factor_pages::check_code_step),
        )
        .route(
            "/admin/login/enrol",
            get(two_factor_pages::show_enrol_at_sign_in)
                .post(two_factor_pages::confirm_enrol_at_sign_in),
        )
        .route(
            "/admin/account/two-factor",
            get(two_factor_pages::show_enrolment).post(two_factor_pages::start_enrolment),
        )
        .route(
            "/admin/account/two-factor/confirm",
            post(two_factor_pages::confirm_enrolment),
        )
        .route(
            "/admin/account/two-factor/cancel",
            post(two_factor_pages::cancel_enrolment),
        )
        .route(
            "/admin/account/two-factor/disable",
            post(two_factor_pages::disable),
        )
}
