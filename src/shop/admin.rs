//! Back office of the shop: the services catalog and order requests [admin].

use super::{
    Billing,
    db::{self, NewService, SealedOrder},
    money,
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        db::is_unique_violation,
        forms::{FieldErrors, Form, checked, text},
        templates::{Page, render, render_with},
    },
    privacy::subjects::{self, Subject},
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::collections::HashMap;

pub const STATUSES: [&str; 4] = ["new", "contacted", "won", "lost"];
/// Orders shown in the back office list; older ones stay in the database.
const LIST_LIMIT: i64 = 500;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub struct ServiceRow {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub price: String,
    pub billing: &'static str,
    pub active: bool,
    pub position: i64,
}

#[derive(Deserialize, Default)]
pub struct ServiceForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub billing: String,
    #[serde(default)]
    pub position: String,
    #[serde(default)]
    pub active: Option<String>,
}

impl ServiceForm {
    fn from_service(s: &db::Service) -> ServiceForm {
        ServiceForm {
            name: s.name.clone(),
            slug: s.slug.clone(),
            description: s.description.clone(),
            price: format!("{}.{:02}", s.price_cents / 100, s.price_cents % 100),
            billing: s.billing.as_str().into(),
            position: s.position.to_string(),
            active: s.active.then(|| "1".into()),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "shop/admin_services.html")]
struct ServicesPage {
    page: Page,
    q: String,
    services: Vec<ServiceRow>,
    form: ServiceForm,
    errors: FieldErrors,
    billings: [Billing; 3],
}

async fn services_page(
    state: &AppState,
    page: Page,
    q: String,
    form: ServiceForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = errors.status();
    let services = db::all_services(&state.db, q.trim())
        .await?
        .into_iter()
        .map(|s| ServiceRow {
            id: s.id,
            name: s.name,
            slug: s.slug,
            price: money(s.price_cents),
            billing: s.billing.label(),
            active: s.active,
            position: s.position,
        })
        .collect();
    let body = ServicesPage {
        page: page.titled("Services"),
        q,
        services,
        form,
        errors,
        billings: Billing::ALL,
    };
    render_with(status, &body)
}

pub async fn list_services(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let form = ServiceForm {
        active: Some("1".into()),
        billing: "month".into(),
        ..ServiceForm::default()
    };
    services_page(&state, page, search.q, form, FieldErrors::default()).await
}

/// `"49"`, `"49.5"`, `"$1,234.56"` → cents; at most $1,000,000.
pub fn parse_price(raw: &str) -> Result<i64, &'static str> {
    const MESSAGE: &str = "Please enter a price in dollars, like 49.00.";
    let cleaned: String = raw
        .trim()
        .trim_start_matches('$')
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if whole.is_empty()
        || whole.len() > 7
        || fraction.len() > 2
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(MESSAGE);
    }
    let dollars: i64 = whole.parse().map_err(|_| MESSAGE)?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| MESSAGE)?;
    let total = dollars * 100 + cents;
    if total > 100_000_000 {
        return Err("Prices above $1,000,000 are not accepted here.");
    }
    Ok(total)
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 80
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

struct ValidService {
    name: String,
    slug: String,
    description: String,
    price_cents: i64,
    billing: Billing,
    position: i64,
    active: bool,
}

impl ValidService {
    fn as_new(&self) -> NewService<'_> {
        NewService {
            slug: &self.slug,
            name: &self.name,
            description: &self.description,
            price_cents: self.price_cents,
            billing: self.billing,
            active: self.active,
            position: self.position,
        }
    }
}

fn validate_service(form: &ServiceForm) -> Result<ValidService, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = match text(&form.name, 120) {
        Ok(Some(v)) => v,
        Ok(None) => {
            errors.add("name", "Please give the service a name.");
            String::new()
        }
        Err(m) => {
            errors.add("name", m);
            String::new()
        }
    };
    let slug = form.slug.trim().to_string();
    if !valid_slug(&slug) {
        errors.add(
            "slug",
            "Use lower-case letters, digits and dashes, like essential-support.",
        );
    }
    let description = match text(&form.description, 2000) {
        Ok(v) => v.unwrap_or_default(),
        Err(m) => {
            errors.add("description", m);
            String::new()
        }
    };
    let price_cents = parse_price(&form.price).unwrap_or_else(|m| {
        errors.add("price", m);
        0
    });
    let billing = Billing::parse(&form.billing).unwrap_or_else(|| {
        errors.add("billing", "Please choose how the service is billed.");
        Billing::Once
    });
    let position = match form.position.trim() {
        "" => 0,
        p => p.parse::<i64>().unwrap_or_else(|_| {
            errors.add("position", "Please enter a whole number.");
            0
        }),
    };
    errors.into_result()?;
    Ok(ValidService {
        name,
        slug,
        description,
        price_cents,
        billing,
        position,
        active: checked(&form.active),
    })
}

pub async fn create_service(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<ServiceForm>,
) -> AppResult<Response> {
    let valid = match validate_service(&form) {
        Ok(v) => v,
        Err(errors) => return services_page(&state, page, String::new(), form, errors).await,
    };
    let mut tx = state.db.begin().await?;
    let id = match db::insert_service(&mut tx, &valid.as_new()).await {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            let mut errors = FieldErrors::default();
            errors.add("slug", "Another service already uses this slug.");
            return services_page(&state, page, String::new(), form, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let detail = format!("{} at {}", valid.name, money(valid.price_cents));
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "create",
        "service",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/services").into_response())
}

#[derive(askama::Template)]
#[template(path = "shop/admin_service.html")]
struct ServicePage {
    page: Page,
    id: i64,
    form: ServiceForm,
    errors: FieldErrors,
    billings: [Billing; 3],
}

fn service_page(
    page: Page,
    id: i64,
    form: ServiceForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = errors.status();
    let body = ServicePage {
        page: page.titled(format!("Service: {}", form.name)),
        id,
        form,
        errors,
        billings: Billing::ALL,
    };
    render_with(status, &body)
}

pub async fn edit_service(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let service = db::service(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    service_page(
        page,
        id,
        ServiceForm::from_service(&service),
        FieldErrors::default(),
    )
}

pub async fn update_service(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ServiceForm>,
) -> AppResult<Response> {
    let valid = match validate_service(&form) {
        Ok(v) => v,
        Err(errors) => return service_page(page, id, form, errors),
    };
    let mut tx = state.db.begin().await?;
    match db::update_service(&mut tx, id, &valid.as_new()).await {
        Ok(true) => {}
        Ok(false) => return Err(AppError::NotFound),
        Err(e) if is_unique_violation(&e) => {
            let mut errors = FieldErrors::default();
            errors.add("slug", "Another service already uses this slug.");
            return service_page(page, id, form, errors);
        }
        Err(e) => return Err(e.into()),
    }
    let detail = format!(
        "{} at {}{}",
        valid.name,
        money(valid.price_cents),
        if valid.active { "" } else { " (retired)" }
    );
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "update",
        "service",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/services").into_response())
}

/// An order request, opened for staff.
pub struct OrderView {
    pub id: i64,
    pub reference: String,
    pub status: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub notes: String,
    pub total: String,
    pub created_at: i64,
}

fn open(order: SealedOrder, subject: Option<&Subject>) -> OrderView {
    let field = |column: &str, sealed: Option<&Vec<u8>>| -> String {
        match (subject, sealed) {
            (Some(s), Some(bytes)) => s
                .open("orders", column, bytes)
                .unwrap_or_else(|_| "(unreadable)".into()),
            (None, Some(_)) => "(erased)".into(),
            (_, None) => String::new(),
        }
    };
    OrderView {
        name: field("name", Some(&order.name)),
        email: field("email", Some(&order.email)),
        phone: field("phone", order.phone.as_ref()),
        company: field("company", order.company.as_ref()),
        notes: field("notes", order.notes.as_ref()),
        id: order.id,
        reference: order.reference,
        status: order.status,
        total: money(order.total_cents),
        created_at: order.created_at,
    }
}

async fn subject(
    state: &AppState,
    cache: &mut HashMap<i64, Option<Subject>>,
    id: i64,
) -> AppResult<Option<Subject>> {
    if let Some(s) = cache.get(&id) {
        return Ok(s.clone());
    }
    let s = subjects::key(&state.db, &state.keyring, id)
        .await?
        .map(|key| Subject { id, key });
    cache.insert(id, s.clone());
    Ok(s)
}

#[derive(askama::Template)]
#[template(path = "shop/admin_orders.html")]
struct OrdersPage {
    page: Page,
    q: String,
    orders: Vec<OrderView>,
}

/// The orders a search shows, newest first: all of them (the newest
/// [`LIST_LIMIT`]) without words, else those whose blind index holds every
/// word (a status's name filters by status); only these are decrypted.
async fn matching(state: &AppState, q: &str, limit: i64) -> AppResult<Vec<OrderView>> {
    // A status's name ("contacted") filters by status; other words are
    // looked up in the index.
    let lower = q.to_lowercase();
    let status = lower
        .split_whitespace()
        .find(|w| STATUSES.contains(w))
        .unwrap_or_default();
    let rest: Vec<&str> = lower.split_whitespace().filter(|w| *w != status).collect();
    let sealed = if rest.is_empty() {
        db::recent_orders(&state.db, status, limit).await?
    } else {
        let terms = super::search::WORDS.query(&state.keyring, &rest.join(" "));
        if terms.is_empty() {
            return Ok(vec![]);
        }
        db::orders_matching(&state.db, status, &terms, limit).await?
    };
    let mut cache = HashMap::new();
    let mut orders = vec![];
    for order in sealed {
        let subject = subject(state, &mut cache, order.subject_id).await?;
        orders.push(open(order, subject.as_ref()));
    }
    Ok(orders)
}

/// Order requests, newest first; `?q=` finds every word in the reference,
/// name, email, phone, company, notes or services of any order.
pub async fn list_orders(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let orders = matching(&state, &search.q, LIST_LIMIT).await?;
    render(&OrdersPage {
        page: page.titled("Order requests"),
        q: search.q,
        orders,
    })
}

#[derive(askama::Template)]
#[template(path = "shop/admin_order.html")]
struct OrderPage {
    page: Page,
    order: OrderView,
    lines: Vec<super::handlers::LineView>,
    totals: Vec<super::handlers::TotalView>,
    statuses: [&'static str; 4],
    saved: bool,
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn show_order(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(query): Query<SavedQuery>,
) -> AppResult<Response> {
    let sealed = db::order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let subject = subject(&state, &mut HashMap::new(), sealed.subject_id).await?;
    let lines = db::lines(&state.db, id).await?;
    let order = open(sealed, subject.as_ref());
    render(&OrderPage {
        page: page.titled(format!("Order request {}", order.reference)),
        order,
        totals: super::handlers::totals(&lines),
        lines: super::handlers::line_views(&lines),
        statuses: STATUSES,
        saved: query.saved.is_some(),
    })
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

pub async fn update_order(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    if !STATUSES.contains(&form.status.as_str()) {
        return Err(AppError::Unprocessable(
            "Choose one of: new, contacted, won, lost.".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    if !db::set_status(&mut tx, id, &form.status).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "set-status",
        "order",
        id,
        &form.status,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/orders/{id}?saved=1")).into_response())
}

/// Order requests matching `q` for the back office's global search: the
/// orders list's own matching, newest first, at most `limit`.
pub async fn search_orders(
    state: &AppState,
    q: &str,
    limit: usize,
) -> AppResult<Vec<crate::platform::nav::SearchHit>> {
    Ok(matching(state, q, limit as i64)
        .await?
        .into_iter()
        .map(|view| crate::platform::nav::SearchHit {
            title: format!("{} · {}", view.reference, view.name),
            detail: format!("{} · {} · {}", view.email, view.status, view.total),
            href: format!("/admin/orders/{}", view.id),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_as_dollars_and_cents() {
        assert_eq!(parse_price("49"), Ok(4_900));
        assert_eq!(parse_price("49.5"), Ok(4_950));
        assert_eq!(parse_price(" $1,234.56 "), Ok(123_456));
        for bad in ["", "-5", "1.234", "abc", "1e5", "99999999"] {
            assert!(parse_price(bad).is_err(), "{bad:?}");
        }
        assert!(valid_slug("essential-support"));
        assert!(!valid_slug("Essential support"));
    }
}
