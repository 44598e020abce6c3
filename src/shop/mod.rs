//! The services catalog, the cookie cart and order requests. Nothing here
//! takes payment or stores card or bank details: an order is a request the
//! company answers with an invoice.

mod admin;
pub use admin::search_orders;
pub mod cart;
pub mod db;
mod handlers;

pub use handlers::{LineView, OwnOrder, TotalView, orders_of_subject};

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    platform::db::Db,
    privacy::inventory::{Category, Field, Retention, Table},
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
        .count(db::count_new_orders, "new order requests"),
];

pub const TABLES: &[Table] = &[
    Table {
        name: "services",
        feature: "the services catalog",
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
    },
    Table {
        name: "orders",
        feature: "order requests for our services",
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
    },
    Table {
        name: "order_lines",
        feature: "order requests for our services",
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
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

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
