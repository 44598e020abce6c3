//! The services catalog, the cookie cart and order requests. Nothing here
//! takes payment or stores card or bank details: an order is a request the
//! company answers with an invoice.

mod admin;
pub use admin::search_orders;
pub mod cart;
pub mod db;
pub(crate) mod handlers;
pub mod search;

pub use handlers::{LineView, OwnOrder, TotalView, orders_of_subject};

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    platform::db::Db,
    privacy::inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
};
use axum::{Router, routing::get};

/// Service names and descriptions, for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] =
    &[crate::platform::scan::Source::Query {
        kind: "service",
        sql: "SELECT CAST(id AS TEXT), name || ' ' || description FROM services",
    }];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[
    NavItem::new("Shop", "Services", "/admin/services", Role::Admin).icon(Icon::Box),
    NavItem::new("Shop", "Orders", "/admin/orders", Role::Admin)
        .icon(Icon::Cart)
        .count(db::nav_new_orders, "new order requests"),
];

pub const TABLES: &[Table] = &[
    Table {
        name: "services",
        feature: "the services catalog",
        title: "Services we offer",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "slug",
            "name",
            "description",
            "price_cents",
            "billing",
            "active",
            "position",
            "created_at",
            "updated_at",
        ],
        columns: &[],
    },
    Table {
        name: "orders",
        feature: "order requests for our services",
        title: "Order requests",
        summary: "Order request {reference} · {status} · {total_cents} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(730),
        personal: &[
            Field {
                column: "name",
                label: "your name on an order request",
                category: Category::Identity,
                purpose: "to prepare the quote or invoice you asked for",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "email",
                label: "your email on an order request",
                category: Category::Contact,
                purpose: "to confirm your order request and send the invoice",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "phone",
                label: "your phone number on an order request (optional)",
                category: Category::Contact,
                purpose: "to call you about your order request if you prefer",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "company",
                label: "your company on an order request (optional)",
                category: Category::Identity,
                purpose: "to address the invoice",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "notes",
                label: "notes you add to an order request",
                category: Category::Message,
                purpose: "to understand what you need",
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "reference",
            "idempotency_key",
            "subject_id",
            "status",
            "total_cents",
            "created_at",
            "updated_at",
        ],
        columns: &[
            Column::new(
                "reference",
                "Reference",
                Shown::Reference,
                "The reference to quote when you write to us about this order request.",
            ),
            Column::new(
                "status",
                "Status",
                Shown::Status,
                "Where your order request stands.",
            ),
            Column::new(
                "total_cents",
                "Total",
                Shown::Money,
                "The total of what you asked for, before any invoice. No payment is taken on our site.",
            ),
            Column::new(
                "created_at",
                "Sent",
                Shown::DateTime,
                "When you sent the order request.",
            ),
            Column::new(
                "updated_at",
                "Last change",
                Shown::DateTime,
                "When its status last changed.",
            ),
            Column::new(
                "name",
                "Name",
                Shown::Text,
                "Your name, to prepare the quote or invoice you asked for.",
            ),
            Column::new(
                "email",
                "Email",
                Shown::Email,
                "Where we confirm your order request and send the invoice.",
            ),
            Column::new(
                "phone",
                "Phone",
                Shown::Phone,
                "If you gave it, so we can call you about your order request.",
            ),
            Column::new(
                "company",
                "Company",
                Shown::Text,
                "If you gave it, to address the invoice.",
            ),
            Column::new(
                "notes",
                "Notes",
                Shown::Paragraphs,
                "What you told us you need.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal(
                "idempotency_key",
                "A random key that stops one order request being recorded twice if the send button is pressed twice.",
            ),
        ],
    },
    Table {
        name: "order_search_terms",
        feature: "order requests for our services",
        title: "Search index of your order requests",
        summary: "Fingerprints of the words of your order requests, for our staff's search",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(730),
        personal: &[Field {
            column: "hash",
            label: "keyed hashes of the words of your order requests (not the words themselves)",
            category: Category::Message,
            purpose: "so our staff can find your order request by any word of it without decrypting every order",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["record_id", "subject_id", "created_at"],
        columns: &[
            Column::new(
                "hash",
                "Word fingerprints",
                Shown::Internal,
                "A keyed fingerprint of one word (or the start of one) of your order request, from which the word cannot be read back without our key.",
            ),
            Column::internal("record_id", "Which order request the word is in."),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal(
                "created_at",
                "When the order request was made: the word is deleted with it.",
            ),
        ],
    },
    Table {
        name: "order_lines",
        feature: "order requests for our services",
        title: "Services in your order requests",
        summary: "{quantity} × {name} · {unit_price_cents} each · billed {billing}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(730),
        personal: &[],
        other: &[
            "id",
            "order_id",
            "subject_id",
            "service_id",
            "name",
            "billing",
            "unit_price_cents",
            "quantity",
            "created_at",
        ],
        columns: &[
            Column::new(
                "name",
                "Service",
                Shown::Text,
                "The service you asked for, named as it was when you asked.",
            ),
            Column::new(
                "quantity",
                "Quantity",
                Shown::Number,
                "How many you asked for.",
            ),
            Column::new(
                "unit_price_cents",
                "Price each",
                Shown::Money,
                "The price of one, when you asked.",
            ),
            Column::new(
                "billing",
                "Billed",
                Shown::Status,
                "How often the service is billed: once, every month or every year.",
            ),
            Column::new(
                "created_at",
                "Added",
                Shown::DateTime,
                "When you sent the order request.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("order_id", "Which order request it belongs to."),
            Column::internal("service_id", "Which of our services it is."),
        ],
    },
];

/// How often a service is invoiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    Once,
    Month,
    Year,
}

impl Billing {
    pub const ALL: [Billing; 3] = [Billing::Once, Billing::Month, Billing::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Once => "once",
            Billing::Month => "month",
            Billing::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Billing> {
        Billing::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// "one-off", "per month", "per year".
    pub fn label(self) -> &'static str {
        match self {
            Billing::Once => "one-off",
            Billing::Month => "per month",
            Billing::Year => "per year",
        }
    }
}

/// Cents as dollars: `4900` → `$49.00`, `123456` → `$1,234.56`.
pub use crate::platform::templates::money;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services", get(handlers::list_services))
        .route(
            "/cart",
            get(handlers::show_cart).post(handlers::change_cart),
        )
        .route(
            "/checkout",
            get(handlers::show_checkout).post(handlers::check_out),
        )
        .route("/checkout/{reference}", get(handlers::show_order_received))
        .route(
            "/admin/services",
            get(admin::list_services).post(admin::create_service),
        )
        .route(
            "/admin/services/{id}",
            get(admin::edit_service).post(admin::update_service),
        )
        .route("/admin/orders", get(admin::list_orders))
        .route(
            "/admin/orders/{id}",
            get(admin::show_order).post(admin::update_order),
        )
}

/// The demo catalog of officecomms.com, for a first start.
pub async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    let services: &[(&str, &str, &str, i64, Billing)] = &[
        (
            "essential-support",
            "Essential support plan",
            "Email and chat help for up to 10 people on weekdays, with answers within one business day.",
            4_900,
            Billing::Month,
        ),
        (
            "business-support",
            "Business support plan",
            "Phone, email and chat help for up to 50 people, remote fixes and a four-hour response time.",
            19_900,
            Billing::Month,
        ),
        (
            "priority-support-annual",
            "Priority support, yearly",
            "Everything in the business plan with a one-hour response time, paid yearly.",
            199_000,
            Billing::Year,
        ),
        (
            "health-check",
            "Remote office health check",
            "We review your backups, updates, mail and printers and send you a plain-language report.",
            15_000,
            Billing::Once,
        ),
        (
            "mail-migration",
            "Mail migration",
            "We move your mailboxes, calendars and contacts to a new provider over a weekend.",
            45_000,
            Billing::Once,
        ),
    ];
    let mut tx = db.begin().await?;
    for (position, (slug, name, description, price_cents, billing)) in services.iter().enumerate() {
        db::insert_service(
            &mut tx,
            &db::NewService {
                slug,
                name,
                description,
                price_cents: *price_cents,
                billing: *billing,
                active: true,
                position: position as i64,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_a_price() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(4_900), "$49.00");
        assert_eq!(money(123_456), "$1,234.56");
        assert_eq!(money(100_000_000), "$1,000,000.00");
        assert_eq!(money(-5), "-$0.05");
    }
}
