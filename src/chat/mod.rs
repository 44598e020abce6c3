//! Live chat: the visitor's widget and page, the WebSocket hub (fan-out
//! between instances through PostgreSQL `LISTEN/NOTIFY`), and the staff
//! console. The frames are in `docs/chat-protocol.md`.

pub mod console;
pub mod conversations;
pub mod db;
pub mod hub;
pub mod pages;
pub mod protocol;
pub mod search;
pub mod socket;
pub mod visitor;

pub use hub::{Hub, Limits};

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    privacy::inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat", get(pages::show_chat))
        .route("/chat/start", post(pages::start_chat))
        .route("/chat/topics", get(pages::chat_topics))
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
        .route("/admin/chat/{conversation}/team", post(pages::move_to_team))
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
pub const ADMIN_NAV: &[NavItem] = &[NavItem::new("Support", "Chat", "/admin/chat", Role::Agent)
    .icon(Icon::Chat)
    .count(db::count_waiting, "chats waiting for an agent")];

pub const TABLES: &[Table] = &[
    Table {
        name: "chat_conversations",
        feature: "the live chat",
        title: "Live chats",
        summary: "Chat · {status} · {created_at}",
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
            "waiting_notified_at",
            "topic",
            "team_id",
        ],
        columns: &[
            Column::new(
                "status",
                "Status",
                Shown::Status,
                "Whether the chat is waiting, open or ended.",
            ),
            Column::new(
                "created_at",
                "Started",
                Shown::DateTime,
                "When you started the chat.",
            ),
            Column::new(
                "updated_at",
                "Last activity",
                Shown::DateTime,
                "When the last message was written.",
            ),
            Column::new(
                "closed_at",
                "Ended",
                Shown::DateTime,
                "When the chat ended.",
            ),
            Column::new(
                "unanswered_at",
                "Nobody answered",
                Shown::DateTime,
                "When we told you nobody could answer the chat in time, and asked for your address to answer by email.",
            ),
            Column::new(
                "waiting_notified_at",
                "Staff alerted",
                Shown::DateTime,
                "When we told our staff that you were waiting for an answer in the chat.",
            ),
            Column::new(
                "name",
                "Name",
                Shown::Text,
                "The name you gave, so our agent can greet you.",
            ),
            Column::new(
                "email",
                "Email",
                Shown::Email,
                "If you gave it, to find your earlier requests and send you the transcript.",
            ),
            Column::new(
                "email_verified_at",
                "Email confirmed",
                Shown::DateTime,
                "When you confirmed the address from the email we sent.",
            ),
            Column::new(
                "page",
                "Page you were on",
                Shown::Text,
                "The page of our site you were reading, so our agent can see it.",
            ),
            Column::new(
                "topic",
                "Topic",
                Shown::Text,
                "What you said the chat was about, if you chose one.",
            ),
            Column::new(
                "ticket_reference",
                "Support request",
                Shown::Reference,
                "The support request made from this chat, if one was.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("agent_id", "Which of our staff answered."),
            Column::internal("team_id", "Which team of our staff the chat went to."),
            Column::internal("last_seq", "How many messages the chat holds."),
            Column::internal("visitor_read_seq", "How far you had read."),
            Column::internal("staff_read_seq", "How far our agent had read."),
        ],
    },
    Table {
        name: "chat_messages",
        feature: "the live chat",
        title: "Chat messages",
        summary: "Message from {sender} · {created_at} · {body}",
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
        columns: &[
            Column::new(
                "body",
                "Message",
                Shown::Paragraphs,
                "What was written in the chat.",
            ),
            Column::new(
                "sender",
                "From",
                Shown::Status,
                "Who wrote it: you or our agent.",
            ),
            Column::new(
                "created_at",
                "Written",
                Shown::DateTime,
                "When it was written.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("conversation_id", "Which chat it belongs to."),
            Column::internal("seq", "Its place in the chat."),
            Column::internal("staff_id", "Which of our staff wrote it, if one did."),
            Column::internal(
                "client_id",
                "A random number your browser gave the message, so it is never recorded twice.",
            ),
        ],
    },
    Table {
        name: "chat_search_terms",
        feature: "the live chat",
        title: "Search index of your live chats",
        summary: "Fingerprints of the words of your live chats, for our staff's search",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(RETENTION_DAYS),
        personal: &[Field {
            column: "hash",
            label: "keyed hashes of the words of your live chats with us and of the name, email and topic you gave (not the words themselves)",
            category: Category::Message,
            purpose: "so our staff can find your chat by any word of it without decrypting every chat",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["record_id", "subject_id", "created_at"],
        columns: &[
            Column::new(
                "hash",
                "Word fingerprints",
                Shown::Internal,
                "A keyed fingerprint of one word (or the start of one) of your chat, from which the word cannot be read back without our key.",
            ),
            Column::internal("record_id", "Which chat the word is in."),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal(
                "created_at",
                "When the chat started, so the word is deleted with the chat.",
            ),
        ],
    },
    Table {
        name: "chat_presence",
        feature: "the live chat console (staff only)",
        title: "Chat console presence (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::WhileAccountExists,
        personal: &[],
        other: &["connection_id", "staff_id", "status", "seen_at"],
        columns: &[],
    },
];
