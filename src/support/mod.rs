//! Support requests: the contact form, tickets with their conversation, the
//! visitor's signed conversation page and the staff helpdesk.

pub mod admin;
pub mod api;
pub mod automations;
pub mod bulk;
pub mod csat;
pub mod db;
pub mod escalation;
pub mod intake;
pub mod labels;
pub mod notify;
pub mod overview;
pub mod public;
pub mod search;
pub mod settings;
pub mod sla;
pub mod tickets;

pub use db::{CannedReply, canned_replies};

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
use std::{fmt, str::FromStr};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/contact",
            get(public::show_contact_form).post(public::submit_query),
        )
        .route("/contact/received/{token}", get(public::show_received))
        .route(
            "/support/tickets/{token}",
            get(public::show_conversation).post(public::answer_ticket),
        )
        .route(
            "/csat/{token}",
            get(csat::show_rating).post(csat::record_rating),
        )
        .route("/admin/tickets", get(admin::list_tickets))
        .route("/admin/tickets/export.csv", get(csat::export_csv))
        .route(
            "/admin/tickets/settings",
            get(admin::show_settings).post(admin::save_settings),
        )
        .route(
            "/admin/tickets/canned",
            get(admin::list_canned).post(admin::add_canned),
        )
        .route(
            "/admin/tickets/canned/{id}/delete",
            post(admin::delete_canned),
        )
        .route("/admin/tickets/{id}", get(admin::show_ticket))
        .route("/admin/tickets/bulk", post(bulk::bulk_action))
        .route("/admin/tickets/{id}/compose", post(admin::compose))
        .route("/admin/tickets/{id}/reply", post(admin::reply_to_ticket))
        .route("/admin/tickets/{id}/note", post(admin::add_note))
        .route("/admin/tickets/{id}/assign", post(admin::assign_ticket))
        .route("/admin/tickets/{id}/status", post(admin::change_status))
        .route("/admin/tickets/{id}/merge", post(admin::merge_ticket))
        .route(
            "/admin/tickets/{id}/priority",
            post(labels::change_priority),
        )
        .route("/admin/tickets/{id}/tags", post(labels::tag_ticket))
        .route("/admin/tickets/{id}/team", post(automations::route_ticket))
        .route(
            "/admin/tickets/{id}/macros/{macro_id}",
            post(automations::apply_macro),
        )
        .route("/admin/automations", get(automations::show_automations))
        .route(
            "/admin/automations/triggers",
            post(automations::add_trigger),
        )
        .route(
            "/admin/automations/triggers/{id}/delete",
            post(automations::delete_trigger),
        )
        .route(
            "/admin/automations/triggers/{id}/raise",
            post(automations::raise_trigger),
        )
        .route("/admin/automations/macros", post(automations::add_macro))
        .route(
            "/admin/automations/macros/{id}/delete",
            post(automations::delete_macro),
        )
        .route("/admin/automations/teams", post(automations::add_team))
        .route(
            "/admin/automations/teams/{id}/members",
            post(automations::add_member),
        )
        .route(
            "/admin/automations/teams/{id}/members/remove",
            post(automations::remove_member),
        )
        .route(
            "/admin/tickets/{id}/tags/remove",
            post(labels::untag_ticket),
        )
        .route("/admin/tickets/{id}/link", post(admin::reissue_link))
        .route(
            "/admin/tickets/{id}/erase-child",
            post(admin::erase_as_child),
        )
        .route(
            "/admin/tickets/{id}/attachments/{attachment}",
            get(admin::download_attachment),
        )
}

/// A ticket reference as people quote it: `OC-2026-000123`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRef(String);

impl TicketRef {
    pub fn new(year: i32, id: i64) -> TicketRef {
        TicketRef(format!("OC-{year}-{id:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TicketRef {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_uppercase();
        let valid = s
            .strip_prefix("OC-")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(year, number)| {
                year.len() == 4
                    && number.len() >= 6
                    && year.bytes().all(|b| b.is_ascii_digit())
                    && number.bytes().all(|b| b.is_ascii_digit())
            });
        anyhow::ensure!(valid, "not a ticket reference: {s}");
        Ok(TicketRef(s))
    }
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PURPOSE: &str = "to answer your support request and keep its history";

/// Ticket messages and replies (decrypted), for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] =
    &[crate::platform::scan::Source::Custom {
        kind: "ticket message",
        items: |platform| {
            Box::pin(crate::platform::scan::sealed_items(
                platform,
                "SELECT id, subject_id, body FROM ticket_messages",
                "ticket_messages",
                "body",
            ))
        },
    }];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[
    NavItem::new(
        "Support",
        "My tickets",
        "/admin/tickets?assignee=me",
        Role::Agent,
    )
    .icon(Icon::Person)
    .count(db::count_mine, "open tickets assigned to you"),
    NavItem::new(
        "Support",
        "Unassigned",
        "/admin/tickets?assignee=none",
        Role::Agent,
    )
    .icon(Icon::Tray)
    .count(db::count_unassigned, "open tickets nobody has taken"),
    NavItem::new("Support", "All tickets", "/admin/tickets", Role::Agent).icon(Icon::Inbox),
];

pub const TABLES: &[Table] = &[
    Table {
        name: "tickets",
        feature: "the support query form",
        title: "Support requests",
        summary: "Support request {reference} · {status} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[
            Field {
                column: "name",
                label: "your name on a support request",
                category: Category::Identity,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "email",
                label: "your email address on a support request",
                category: Category::Contact,
                purpose: "to acknowledge your request and send you our answers",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "phone",
                label: "your contact number, as you typed it",
                category: Category::Contact,
                purpose: "to call you back about your request if you asked us to",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "phone_e164",
                label: "your contact number in international format",
                category: Category::Contact,
                purpose: "to call you back about your request if you asked us to",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "product_other",
                label: "the product you typed on a support request",
                category: Category::Message,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "title",
                label: "the subject of your support request",
                category: Category::Message,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "reference",
            "subject_id",
            "form_nonce",
            "created_at",
            "updated_at",
            "status",
            "product",
            "assignee_id",
            "first_response_at",
            "last_visitor_at",
            "merged_into",
            "link_nonce",
            "closed_at",
            "priority",
            "team_id",
            "awaiting_since",
        ],
        columns: &[
            Column::new(
                "reference",
                "Reference",
                Shown::Reference,
                "The reference to quote when you write to us about this request.",
            ),
            Column::new(
                "status",
                "Status",
                Shown::Status,
                "Where your request stands.",
            ),
            Column::new(
                "title",
                "Subject",
                Shown::Text,
                "The subject you gave your request.",
            ),
            Column::new(
                "created_at",
                "Sent",
                Shown::DateTime,
                "When you sent the request.",
            ),
            Column::new(
                "updated_at",
                "Last change",
                Shown::DateTime,
                "When something last happened on it.",
            ),
            Column::new(
                "first_response_at",
                "Our first answer",
                Shown::DateTime,
                "When we first answered you.",
            ),
            Column::new(
                "last_visitor_at",
                "Your last message",
                Shown::DateTime,
                "When you last wrote to us about it.",
            ),
            Column::new(
                "awaiting_since",
                "Waiting for our answer since",
                Shown::DateTime,
                "When the oldest of your messages we have not answered yet arrived, so we answer within the time we promise.",
            ),
            Column::new(
                "closed_at",
                "Closed",
                Shown::DateTime,
                "When the request was closed; your private conversation link stops working some time after.",
            ),
            Column::new(
                "name",
                "Name",
                Shown::Text,
                "Your name, to answer you personally.",
            ),
            Column::new(
                "email",
                "Email",
                Shown::Email,
                "Where we acknowledge your request and send our answers.",
            ),
            Column::new(
                "phone",
                "Contact number",
                Shown::Phone,
                "If you gave it, so we can call you back about your request.",
            ),
            Column::new(
                "phone_e164",
                "Contact number in international format",
                Shown::Internal,
                "Your contact number rewritten in international format, so our staff can dial it; it follows the number you typed, corrections included.",
            ),
            Column::new(
                "product",
                "Product",
                Shown::Text,
                "The product you chose on the form.",
            ),
            Column::new(
                "product_other",
                "Product (as you typed it)",
                Shown::Text,
                "The product you typed when it was not in the list.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal(
                "form_nonce",
                "A random key that stops one form being recorded twice if it is sent twice.",
            ),
            Column::internal("assignee_id", "Which of our staff handles the request."),
            Column::internal("priority", "How urgently our staff treat the request."),
            Column::internal("team_id", "Which team of our staff handles the request."),
            Column::internal(
                "merged_into",
                "The request this one was merged into, if you wrote to us twice about the same thing.",
            ),
            Column::internal(
                "link_nonce",
                "A random part of your private conversation link, so we can cancel old links.",
            ),
        ],
    },
    Table {
        name: "ticket_messages",
        feature: "the support query form",
        title: "Messages on your support requests",
        summary: "Message from {kind} · {created_at} · {body}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[Field {
            column: "body",
            label: "the details of your support request and our conversation about it",
            category: Category::Message,
            purpose: PURPOSE,
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "ticket_id",
            "subject_id",
            "created_at",
            "kind",
            "staff_id",
        ],
        columns: &[
            Column::new(
                "body",
                "Message",
                Shown::Paragraphs,
                "What you wrote to us, or what we answered, on a support request.",
            ),
            Column::new(
                "kind",
                "From",
                Shown::Status,
                "Who wrote it: you, our staff, or a note our staff kept on the request.",
            ),
            Column::new(
                "created_at",
                "Written",
                Shown::DateTime,
                "When it was written.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("ticket_id", "Which support request it belongs to."),
            Column::internal("staff_id", "Which of our staff wrote it, if one did."),
        ],
    },
    Table {
        name: "ticket_attachments",
        feature: "the support query form",
        title: "Files you attached",
        summary: "{filename} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[
            Field {
                column: "filename",
                label: "names of files you attached to a support request",
                category: Category::Message,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "content",
                label: "files you attached to a support request (images, PDF, text)",
                category: Category::Message,
                purpose: PURPOSE,
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "ticket_id",
            "message_id",
            "subject_id",
            "created_at",
            "content_type",
            "size",
        ],
        columns: &[
            Column::new(
                "filename",
                "File name",
                Shown::Text,
                "The name of the file you attached.",
            ),
            Column::new(
                "content",
                "File",
                Shown::File,
                "The file itself, encrypted; your download holds its bytes as hexadecimal.",
            ),
            Column::new(
                "content_type",
                "Type",
                Shown::Text,
                "What kind of file it is.",
            ),
            Column::new(
                "size",
                "Size in bytes",
                Shown::Number,
                "How large the file is.",
            ),
            Column::new(
                "created_at",
                "Attached",
                Shown::DateTime,
                "When you attached it.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("ticket_id", "Which support request it belongs to."),
            Column::internal("message_id", "Which message it came with."),
        ],
    },
    Table {
        name: "ticket_search_terms",
        feature: "the support query form",
        title: "Search index of your support requests",
        summary: "Fingerprints of the words of your support requests, for our staff's search",
        subject_column: Some("subject_id"),
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[Field {
            column: "hash",
            label: "keyed hashes of the words of your support requests and our conversation about them (not the words themselves)",
            category: Category::Message,
            purpose: "so our staff can find your request by any word of it without decrypting every request",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["record_id", "subject_id"],
        columns: &[
            Column::new(
                "hash",
                "Word fingerprints",
                Shown::Internal,
                "A keyed fingerprint of one word (or the start of one) of your request, from which the word cannot be read back without our key.",
            ),
            Column::internal("record_id", "Which support request the word is in."),
            Column::internal("subject_id", SUBJECT_ID),
        ],
    },
    Table {
        name: "ticket_tags",
        feature: "the support query form",
        title: "Labels on your support requests",
        summary: "Label {tag} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[],
        other: &["ticket_id", "subject_id", "tag", "created_at"],
        columns: &[
            Column::new(
                "tag",
                "Label",
                Shown::Text,
                "A short label our staff gave the request to sort their work (like billing).",
            ),
            Column::internal("ticket_id", "Which support request it labels."),
            Column::internal("subject_id", SUBJECT_ID),
            Column::new(
                "created_at",
                "Given",
                Shown::DateTime,
                "When the label was given.",
            ),
        ],
    },
    Table {
        name: "support_intake",
        feature: "the support query form",
        title: "Support form spam limits",
        summary: "",
        subject_column: None,
        created_column: Some("at"),
        retention: Retention::Days(1),
        personal: &[Field {
            column: "ip_hash",
            label: "a keyed hash of the network address a support request came from",
            category: Category::Technical,
            purpose: "to limit how many requests one address can send, against spam",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["id", "at"],
        columns: &[Column::new(
            "ip_hash",
            "Fingerprint of your network address",
            Shown::Internal,
            "A keyed fingerprint of the network address a support request came from, kept one day to limit spam.",
        )],
    },
    Table {
        name: "support_teams",
        feature: "the helpdesk (staff only)",
        title: "Helpdesk teams (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["id", "name", "created_at"],
        columns: &[],
    },
    Table {
        name: "support_team_members",
        feature: "the helpdesk (staff only)",
        title: "Helpdesk team members (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["team_id", "staff_id"],
        columns: &[],
    },
    Table {
        name: "support_triggers",
        feature: "the helpdesk (staff only)",
        title: "Helpdesk triggers (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "position",
            "name",
            "on_event",
            "if_product",
            "if_channel",
            "if_words",
            "if_domain",
            "set_team_id",
            "set_assignee_id",
            "set_priority",
            "add_tag",
            "canned_id",
            "created_at",
        ],
        columns: &[],
    },
    Table {
        name: "support_macros",
        feature: "the helpdesk (staff only)",
        title: "Helpdesk macros (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "name",
            "canned_id",
            "status",
            "assignee",
            "created_at",
        ],
        columns: &[],
    },
    Table {
        name: "support_canned_replies",
        feature: "the helpdesk (staff only)",
        title: "Canned replies (staff)",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["id", "title", "body", "updated_at"],
        columns: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_parsed_once() {
        let r = TicketRef::new(2026, 123);
        assert_eq!(r.as_str(), "OC-2026-000123");
        assert_eq!(" oc-2026-000123 ".parse::<TicketRef>().unwrap(), r);
        assert_eq!(TicketRef::new(2026, 1_234_567).as_str(), "OC-2026-1234567");
        for bad in [
            "",
            "OC-2026-12",
            "XX-2026-000123",
            "OC-26-000123",
            "OC-2026-0001a3",
        ] {
            assert!(bad.parse::<TicketRef>().is_err(), "{bad}");
        }
    }
}
