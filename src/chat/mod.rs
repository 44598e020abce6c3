//! Live chat: the visitor's widget and page, the WebSocket hub (fan-out
//! between instances through PostgreSQL `LISTEN/NOTIFY`), and the staff
//! console. The frames are in `docs/chat-protocol.md`.

pub mod console;
pub mod conversations;
pub mod db;
pub mod hub;
pub mod pages;
pub mod protocol;
pub mod socket;
pub mod visitor;

pub use hub::{Hub, Limits};

use crate::platform::{context::Role, nav::NavItem};
use crate::{
    AppState,
    privacy::inventory::{Category, Field, Retention, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat", get(pages::show_chat))
        .route("/chat/start", post(pages::start_chat))
        .route("/chat/ws", get(visitor::visitor_socket))
        .route(
            "/chat/verify/{token}",
            get(pages::show_verify_email).post(pages::verify_email),
        )
        .route("/admin/chat", get(pages::show_console))
        .route("/admin/chat/ws", get(console::staff_socket))
        .route("/admin/chat/{conversation}", get(pages::show_conversation))
        .route("/admin/chat/{conversation}/reply", post(pages::reply))
        .route("/admin/chat/{conversation}/action", post(pages::act))
}

const PURPOSE: &str = "to answer you in the live chat and keep its history for follow-up";
/// Chats are kept for a year, then deleted.
pub const RETENTION_DAYS: u32 = 365;

/// Chat messages (decrypted), for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] =
    &[crate::platform::scan::Source::Custom {
        kind: "chat message",
        items: |platform| {
            Box::pin(crate::platform::scan::sealed_items(
                platform,
                "SELECT id, subject_id, body FROM chat_messages",
                "chat_messages",
                "body",
            ))
        },
    }];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[NavItem::new("Support", "Chat", "/admin/chat", Role::Agent)];

pub const TABLES: &[Table] = &[
    Table {
        name: "chat_conversations",
        feature: "the live chat",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(RETENTION_DAYS),
        personal: &[
            Field {
                column: "name",
                label: "the name you gave in the live chat",
                category: Category::Identity,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "email",
                label: "the email address you gave in the live chat (optional)",
                category: Category::Contact,
                purpose: "to find your earlier requests and, if you ask, mail you the transcript",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "page",
                label: "the page of our site you were on while chatting",
                category: Category::Technical,
                purpose: "to let the agent see what you were looking at",
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "subject_id",
            "created_at",
            "updated_at",
            "status",
            "agent_id",
            "closed_at",
            "last_seq",
            "visitor_read_seq",
            "staff_read_seq",
            "ticket_reference",
            "email_verified_at",
            "unanswered_at",
        ],
    },
    Table {
        name: "chat_messages",
        feature: "the live chat",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(RETENTION_DAYS),
        personal: &[Field {
            column: "body",
            label: "the messages of your live chat with us",
            category: Category::Message,
            purpose: PURPOSE,
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "conversation_id",
            "subject_id",
            "seq",
            "sender",
            "staff_id",
            "client_id",
            "created_at",
        ],
    },
    Table {
        name: "chat_presence",
        feature: "the live chat console (staff only)",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &["connection_id", "staff_id", "status", "seen_at"],
    },
];
