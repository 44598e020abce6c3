//! Email in: mail to the support address becomes tickets and answers on
//! them; bounces and complaints about our mail suppress the address for
//! marketing. Two ways in, one intake ([`intake::take`]): the IMAP reader
//! ([`imap`]) and `officecomms mail-in` on an MTA's pipe.

pub mod db;
pub mod imap;
pub mod intake;
pub mod parse;

use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        context::Role,
        inventory::{Category, Column, Field, Retention, Shown, Table},
        nav::{Icon, NavItem},
        templates::{Page, render},
    },
    staff::{
        Agent, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

pub use intake::{Outcome, take};

/// Days an unreadable message is kept for staff.
pub const QUARANTINE_DAYS: u32 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/tickets/quarantine", get(list_quarantine))
        .route(
            "/admin/tickets/quarantine/{id}/message.eml",
            get(download_quarantined),
        )
}

pub const ADMIN_NAV: &[NavItem] = &[NavItem::new(
    "Support",
    "Quarantined mail",
    "/admin/tickets/quarantine",
    Role::Agent,
)
.icon(Icon::Mail)];

pub const TABLES: &[Table] = &[
    Table {
        name: "mail_in_seen",
        feature: "email to our support address",
        title: "Emails we received (fingerprints)",
        summary: "",
        subject_column: None,
        created_column: Some("received_at"),
        retention: Retention::Days(90),
        personal: &[Field {
            column: "message_hash",
            label: "a keyed fingerprint of each email's Message-ID",
            category: Category::Technical,
            purpose: "to take an email once even when it reaches us twice",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["id", "received_at", "outcome"],
        columns: &[Column::new(
            "message_hash",
            "Fingerprint of an email",
            Shown::Internal,
            "A keyed fingerprint of an email's technical name, so the same email is never recorded twice.",
        )],
    },
    Table {
        name: "mail_in_acks",
        feature: "email to our support address",
        title: "Acknowledgements of emails",
        summary: "",
        subject_column: None,
        created_column: Some("at"),
        retention: Retention::Days(1),
        personal: &[Field {
            column: "sender_hash",
            label: "a keyed hash of the address an email came from",
            category: Category::Technical,
            purpose: "to acknowledge an address at most once an hour, so mail robots cannot make us loop",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["id", "at"],
        columns: &[Column::new(
            "sender_hash",
            "Fingerprint of your address",
            Shown::Internal,
            "A keyed fingerprint of the address we acknowledged, kept one day.",
        )],
    },
    Table {
        name: "mail_quarantine",
        feature: "email to our support address",
        title: "Emails we could not read",
        summary: "",
        subject_column: None,
        created_column: Some("received_at"),
        retention: Retention::Days(QUARANTINE_DAYS),
        personal: &[Field {
            column: "raw",
            label: "an email to our support address that could not be read as a request",
            category: Category::Message,
            purpose: "so that staff can still read and answer an email our system could not",
            encrypted: true,
            shared_with: &[],
        }],
        other: &["id", "received_at", "reason", "size"],
        columns: &[Column::new(
            "raw",
            "Email",
            Shown::Internal,
            "The email as it reached us, encrypted, kept 30 days for staff to read by hand.",
        )],
    },
    Table {
        name: "mail_soft_bounces",
        feature: "the newsletter",
        title: "Temporary delivery failures",
        summary: "{bounces} temporary delivery failures, the last {last_at}",
        subject_column: Some("subject_id"),
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["subject_id", "bounces", "last_at"],
        columns: &[
            Column::new(
                "bounces",
                "Temporary delivery failures",
                Shown::Number,
                "How often our newsletter could not reach your mailbox for a while; after a few we stop sending it.",
            ),
            Column::new(
                "last_at",
                "Last failure",
                Shown::DateTime,
                "When it last happened.",
            ),
            Column::internal("subject_id", crate::platform::inventory::SUBJECT_ID),
        ],
    },
    Table {
        name: "mail_in_cursor",
        feature: "email to our support address",
        title: "Mailbox reading position",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "mailbox",
            "uid_validity",
            "last_uid",
            "updated_at",
            "catch_up_until",
            "failing_uid",
            "failures",
        ],
        columns: &[],
    },
];

pub struct QuarantineRow {
    pub id: i64,
    pub received_at: i64,
    pub reason: String,
    pub size: i64,
}

impl QuarantineRow {
    pub fn size_label(&self) -> String {
        if self.size >= 1024 * 1024 {
            format!("{:.1} MB", self.size as f64 / (1024.0 * 1024.0))
        } else {
            format!("{} KB", (self.size + 1023) / 1024)
        }
    }
}

#[derive(askama::Template)]
#[template(path = "mail_in/quarantine.html")]
struct QuarantinePage {
    page: Page,
    rows: Vec<QuarantineRow>,
    days: u32,
}

pub async fn list_quarantine(
    _: Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let rows = db::quarantined(&state.db, 200)
        .await?
        .into_iter()
        .map(|(id, received_at, reason, size)| QuarantineRow {
            id,
            received_at,
            reason,
            size,
        })
        .collect();
    render(&QuarantinePage {
        page: page.titled("Quarantined mail"),
        rows,
        days: QUARANTINE_DAYS,
    })
}

/// The message as received, for an admin to read in a mail program (audited).
pub async fn download_quarantined(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let sealed = db::quarantined_raw(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let raw = intake::open_quarantined(&state, &sealed)?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "download",
        "quarantined mail",
        id,
        "read a quarantined email",
    )
    .await?;
    tx.commit().await?;
    let mut response = raw.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"quarantined.eml\""),
    );
    Ok(response)
}
