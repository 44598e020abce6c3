//! Public pages of the shop: the catalog, the cart and the checkout.

use super::{
    Billing,
    cart::{self, Cart, CartError, Loaded},
    db::{self, Line, Service},
    money,
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms, random_token,
        templates::{Page, render, render_with},
    },
    privacy::{
        account::MaybeAccount,
        age::{self, AgeGate},
        subjects,
    },
};
use anyhow::Context;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::collections::HashMap;

crate::email_template!(pub struct OrderMail {
        company: String, reference: String, name: String,
        lines: Vec<LineView>, totals: Vec<TotalView>,
    }
    subject "email/order_received/subject.txt",
    text "email/order_received/body.txt",
    html "email/order_received/body.html",
);

pub struct LineView {
    pub service_id: i64,
    pub name: String,
    pub billing: &'static str,
    pub unit_price: String,
    pub quantity: i64,
    pub total: String,
}

pub struct TotalView {
    pub label: &'static str,
    pub amount: String,
}

/// A cart checked against the catalog: lines of services still on offer.
struct Priced {
    cart: Cart,
    lines: Vec<Line>,
    /// Names of services that were in the cart but are no longer offered.
    dropped: usize,
}

pub(super) fn line_views(lines: &[Line]) -> Vec<LineView> {
    lines
        .iter()
        .map(|l| LineView {
            service_id: l.service_id.unwrap_or_default(),
            name: l.name.clone(),
            billing: l.billing.label(),
            unit_price: money(l.unit_price_cents),
            quantity: l.quantity,
            total: money(l.total_cents()),
        })
        .collect()
}

/// One total per billing period present ("one-off", "per month", …): a
/// monthly plan and a one-off service are not added up as if alike.
pub(super) fn totals(lines: &[Line]) -> Vec<TotalView> {
    Billing::ALL
        .into_iter()
        .filter_map(|b| {
            let of_period: Vec<_> = lines.iter().filter(|l| l.billing == b).collect();
            (!of_period.is_empty()).then(|| TotalView {
                label: b.label(),
                amount: money(of_period.iter().map(|l| l.total_cents()).sum()),
            })
        })
        .collect()
}

impl Priced {
    fn views(&self) -> Vec<LineView> {
        line_views(&self.lines)
    }

    fn totals(&self) -> Vec<TotalView> {
        totals(&self.lines)
    }

    fn total_cents(&self) -> i64 {
        self.lines.iter().map(Line::total_cents).sum()
    }
}

async fn catalog(state: &AppState) -> AppResult<HashMap<i64, Service>> {
    Ok(db::active_services(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect())
}

async fn price(state: &AppState, cart: Cart) -> AppResult<Priced> {
    let services = catalog(state).await?;
    let mut kept = Cart::default();
    let mut lines = vec![];
    let mut dropped = 0;
    for (id, quantity) in cart.lines {
        match services.get(&id) {
            Some(s) => {
                kept.lines.push((id, quantity));
                lines.push(Line {
                    service_id: Some(s.id),
                    name: s.name.clone(),
                    billing: s.billing,
                    unit_price_cents: s.price_cents,
                    quantity,
                });
            }
            None => dropped += 1,
        }
    }
    Ok(Priced {
        cart: kept,
        lines,
        dropped,
    })
}

fn with_cart_cookie(mut response: Response, state: &AppState, cart: &Cart) -> Response {
    let cookie = cart.cookie(&state.keyring, state.config.is_https(), now_ms());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub struct ServiceView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: String,
    pub billing: &'static str,
    pub in_cart: i64,
}

#[derive(askama::Template)]
#[template(path = "shop/services.html")]
struct ServicesPage {
    page: Page,
    services: Vec<ServiceView>,
    cart_count: i64,
}

pub async fn list_services(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
) -> AppResult<Response> {
    let cart = Cart::load(&headers, &state.keyring, now_ms()).cart();
    let services = db::active_services(&state.db)
        .await?
        .into_iter()
        .map(|s| ServiceView {
            in_cart: cart.quantity_of(s.id),
            id: s.id,
            name: s.name,
            description: s.description,
            price: money(s.price_cents),
            billing: s.billing.label(),
        })
        .collect();
    render(&ServicesPage {
        page: page.titled("Services"),
        services,
        cart_count: cart.lines.iter().map(|(_, q)| q).sum(),
    })
}

#[derive(askama::Template)]
#[template(path = "shop/cart.html")]
struct CartPage {
    page: Page,
    lines: Vec<LineView>,
    totals: Vec<TotalView>,
    notice: String,
    error: String,
}

#[derive(Deserialize, Default)]
pub struct CartQuery {
    #[serde(default)]
    done: String,
}

fn done_message(done: &str) -> &'static str {
    match done {
        "added" => "Added to your cart.",
        "updated" => "Quantity updated.",
        "removed" => "Removed from your cart.",
        "cleared" => "Your cart is empty now.",
        _ => "",
    }
}

async fn cart_page(
    state: &AppState,
    page: Page,
    status: StatusCode,
    priced: &Priced,
    notice: &str,
    error: &str,
) -> AppResult<Response> {
    let mut notice = notice.to_string();
    if priced.dropped > 0 {
        notice = "A service in your cart is no longer offered, so we removed it.".into();
    }
    let body = CartPage {
        page: page.titled("Your cart"),
        lines: priced.views(),
        totals: priced.totals(),
        notice,
        error: error.to_string(),
    };
    Ok(with_cart_cookie(
        render_with(status, &body)?,
        state,
        &priced.cart,
    ))
}

pub async fn show_cart(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Query(query): Query<CartQuery>,
) -> AppResult<Response> {
    let loaded = Cart::load(&headers, &state.keyring, now_ms());
    let priced = price(&state, loaded.cart()).await?;
    let notice = loaded.problem().unwrap_or(done_message(&query.done));
    cart_page(&state, page, StatusCode::OK, &priced, notice, "").await
}

#[derive(Deserialize)]
pub struct CartForm {
    action: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    quantity: String,
}

/// Adds to or sets the quantity of a line, as the form asks.
fn apply(cart: &mut Cart, form: &CartForm, service: i64) -> Result<&'static str, CartError> {
    if form.action == "add" {
        let quantity = match form.quantity.trim() {
            "" => 1,
            raw => cart::parse_quantity(raw)?,
        };
        cart.add(service, quantity).map(|_| "added")
    } else {
        let quantity = cart::parse_quantity(&form.quantity)?;
        cart.set(service, quantity)
            .map(|_| if quantity == 0 { "removed" } else { "updated" })
    }
}

/// Add, change quantity, remove, empty: plain forms, no JavaScript needed.
pub async fn change_cart(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<CartForm>,
) -> AppResult<Response> {
    let loaded = Cart::load(&headers, &state.keyring, now_ms());
    if loaded == Loaded::Tampered {
        let empty = price(&state, Cart::default()).await?;
        let message = loaded.problem().unwrap_or_default();
        return cart_page(&state, page, StatusCode::BAD_REQUEST, &empty, "", message).await;
    }
    let notice = loaded.problem().unwrap_or_default();
    let priced = price(&state, loaded.cart()).await?;
    let mut cart = priced.cart.clone();
    let outcome = match form.action.as_str() {
        "add" | "update" => {
            let offered = match form.service.trim().parse::<i64>() {
                Ok(id) => db::service(&state.db, id).await?.filter(|s| s.active),
                Err(_) => None,
            };
            match offered {
                None => Err(
                    "That service is not in our catalog. Please choose one from the services page."
                        .to_string(),
                ),
                Some(service) => apply(&mut cart, &form, service.id).map_err(|e| e.message()),
            }
        }
        "remove" => {
            if let Ok(id) = form.service.trim().parse::<i64>() {
                cart.remove(id);
            }
            Ok("removed")
        }
        "clear" => {
            cart = Cart::default();
            Ok("cleared")
        }
        _ => {
            return Err(AppError::BadRequest(
                "We did not understand that change to your cart.".into(),
            ));
        }
    };
    let done = match outcome {
        Ok(done) => done,
        Err(message) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return cart_page(&state, page, status, &priced, notice, &message).await;
        }
    };
    let response = Redirect::to(&format!("/cart?done={done}")).into_response();
    Ok(with_cart_cookie(response, &state, &cart))
}

#[derive(Deserialize, Default)]
pub struct CheckoutForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub birth_year: String,
    /// Made when the form is shown; a second submission of the same form
    /// finds the order of the first instead of making another.
    #[serde(default)]
    pub idempotency_key: String,
}

#[derive(askama::Template)]
#[template(path = "shop/checkout.html")]
struct CheckoutPage {
    page: Page,
    lines: Vec<LineView>,
    totals: Vec<TotalView>,
    form: CheckoutForm,
    errors: FieldErrors,
    error: String,
    /// The signed-in visitor's address: the order is theirs, no typing.
    account_email: String,
}

fn checkout_page(
    page: Page,
    status: StatusCode,
    priced: &Priced,
    mut form: CheckoutForm,
    errors: FieldErrors,
    error: &str,
    account: &MaybeAccount,
) -> AppResult<Response> {
    let account_email = account.email().unwrap_or_default().to_string();
    if !account_email.is_empty() {
        form.email = account_email.clone();
    }
    let body = CheckoutPage {
        account_email,
        page: page.titled("Request an order"),
        lines: priced.views(),
        totals: priced.totals(),
        form,
        errors,
        error: error.to_string(),
    };
    render_with(status, &body)
}

pub async fn show_checkout(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    account: MaybeAccount,
) -> AppResult<Response> {
    let loaded = Cart::load(&headers, &state.keyring, now_ms());
    let priced = price(&state, loaded.cart()).await?;
    if priced.cart.is_empty() {
        return Ok(Redirect::to("/cart").into_response());
    }
    let form = CheckoutForm {
        idempotency_key: random_token(24),
        ..CheckoutForm::default()
    };
    checkout_page(
        page,
        StatusCode::OK,
        &priced,
        form,
        FieldErrors::default(),
        "",
        &account,
    )
}

fn valid_key(key: &str) -> bool {
    (16..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_phone(phone: &str) -> bool {
    phone.chars().filter(char::is_ascii_digit).count() >= 5
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// The validated contact fields of a checkout.
struct Contact {
    name: String,
    email: EmailAddress,
    phone: Option<String>,
    company: Option<String>,
    notes: Option<String>,
}

fn validate(form: &CheckoutForm, errors: &mut FieldErrors) -> Option<Contact> {
    let mut field = |name: &'static str, value: &str, max: usize| match text(value, max) {
        Ok(v) => v,
        Err(m) => {
            errors.add(name, m);
            None
        }
    };
    let name = field("name", &form.name, 200);
    let phone = field("phone", &form.phone, 40);
    let company = field("company", &form.company, 200);
    let notes = field("notes", &form.notes, 4000);
    if name.is_none() && !errors.has("name") {
        errors.add("name", "Please enter your name.");
    }
    if phone.as_deref().is_some_and(|p| !valid_phone(p)) {
        errors.add(
            "phone",
            "Please enter a phone number with digits, like +1 510 555 0142.",
        );
    }
    let email = match form.email.parse::<EmailAddress>() {
        Ok(e) => Some(e),
        Err(m) => {
            errors.add("email", m);
            None
        }
    };
    if !errors.is_empty() {
        return None;
    }
    Some(Contact {
        name: name?,
        email: email?,
        phone,
        company,
        notes,
    })
}

/// An order reference people can read out on the phone (no 0/O or 1/I).
fn new_reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 10];
    rand::fill(&mut bytes);
    let code: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("OC-{code}")
}

pub async fn check_out(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    headers: HeaderMap,
    account: MaybeAccount,
    Form(mut form): Form<CheckoutForm>,
) -> AppResult<Response> {
    // Signed in: the order is the account's, whatever the field says.
    if let Some(email) = account.email() {
        form.email = email.to_string();
    }
    let mut errors = FieldErrors::default();
    if let Some(m) = gate.check_form(age::CHECKOUT, &form.birth_year)? {
        errors.add(age::FIELD, m);
    }
    let key_ok = valid_key(&form.idempotency_key);
    if key_ok
        && let Some(reference) = db::reference_for_key(&state.db, &form.idempotency_key).await?
    {
        return Ok(received(&state, &reference));
    }
    let loaded = Cart::load(&headers, &state.keyring, now_ms());
    let priced = price(&state, loaded.cart()).await?;
    if loaded == Loaded::Tampered {
        let body = checkout_page(
            page,
            StatusCode::BAD_REQUEST,
            &priced,
            form,
            errors,
            loaded.problem().unwrap_or_default(),
            &account,
        )?;
        return Ok(with_cart_cookie(body, &state, &Cart::default()));
    }
    let contact = validate(&form, &mut errors);
    let problem = if priced.cart.is_empty() {
        "Your cart is empty: add a service before requesting an order."
    } else if priced.dropped > 0 {
        "A service in your cart is no longer offered, so we removed it. Please check your order and send it again."
    } else if !key_ok {
        "This form was not complete. Please check your details and send it again."
    } else {
        ""
    };
    let (Some(contact), "") = (contact, problem) else {
        if !key_ok {
            form.idempotency_key = random_token(24);
        }
        let body = checkout_page(
            page,
            StatusCode::UNPROCESSABLE_ENTITY,
            &priced,
            form,
            errors,
            problem,
            &account,
        )?;
        return Ok(with_cart_cookie(body, &state, &priced.cart));
    };
    let reference = place_order(&state, &form.idempotency_key, &contact, &priced).await?;
    Ok(received(&state, &reference))
}

/// Stores the order request, its lines and the confirmation mail in one
/// transaction; returns its reference, or that of the order this same form
/// made before.
async fn place_order(
    state: &AppState,
    key: &str,
    contact: &Contact,
    priced: &Priced,
) -> anyhow::Result<String> {
    let site = state.site();
    let reference = new_reference();
    let mut tx = state.db.begin().await?;
    let subject = subjects::find_or_create(&mut tx, &state.keyring, contact.email.as_str()).await?;
    let seal = |column: &str, value: &str| subject.seal("orders", column, value);
    let order = db::NewOrder {
        reference: &reference,
        idempotency_key: key,
        subject_id: subject.id,
        name: seal("name", &contact.name),
        email: seal("email", contact.email.as_str()),
        phone: contact.phone.as_deref().map(|v| seal("phone", v)),
        company: contact.company.as_deref().map(|v| seal("company", v)),
        notes: contact.notes.as_deref().map(|v| seal("notes", v)),
        total_cents: priced.total_cents(),
    };
    let Some(order_id) = db::insert_order(&mut tx, &order).await? else {
        tx.rollback().await?;
        let existing = db::reference_for_key(&state.db, key)
            .await?
            .context("order with this idempotency key vanished")?;
        return Ok(existing);
    };
    for line in &priced.lines {
        db::insert_line(&mut tx, order_id, subject.id, line).await?;
    }
    crate::platform::webhooks::enqueue(
        &mut tx,
        &state.keyring,
        state.clock.now(),
        crate::platform::webhooks::Event {
            kind: "order.created",
            subject: Some(&subject),
            data: serde_json::json!({
                "order_id": order_id,
                "reference": reference,
                "total_cents": priced.total_cents(),
                "lines": priced.lines.len(),
            }),
            personal: serde_json::json!({
                "customer": {
                    "name": contact.name,
                    "email": contact.email.as_str(),
                    "phone": contact.phone,
                    "company": contact.company,
                },
                "notes": contact.notes,
            }),
        },
    )
    .await?;
    let mut words: Vec<&str> = vec![reference.as_str(), &contact.name, contact.email.as_str()];
    words.extend(contact.phone.as_deref());
    words.extend(contact.company.as_deref());
    words.extend(contact.notes.as_deref());
    words.extend(priced.lines.iter().map(|l| l.name.as_str()));
    let record = crate::platform::search_index::Record {
        id: order_id,
        subject_id: subject.id,
        created_at: crate::platform::now_ms(),
    };
    super::search::index_order(state, &mut tx, record, &words).await?;
    let mail = OrderMail {
        company: site.company_name.clone(),
        reference: reference.clone(),
        name: contact.name.clone(),
        lines: priced.views(),
        totals: priced.totals(),
    };
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::Subject(&subject),
        "order-received",
        &format!("order-received:{order_id}"),
        &mail.to_mail(contact.email.as_str())?,
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    crate::analytics::goal(state, "order_requested");
    Ok(reference)
}

/// 303 to the order's confirmation page, emptying the cart.
fn received(state: &AppState, reference: &str) -> Response {
    let response = Redirect::to(&format!("/checkout/{reference}")).into_response();
    with_cart_cookie(response, state, &Cart::default())
}

#[derive(askama::Template)]
#[template(path = "shop/received.html")]
struct ReceivedPage {
    page: Page,
    reference: String,
}

/// The confirmation: the reference only, nothing personal, so a shared or
/// guessed link reveals nothing.
pub async fn show_order_received(
    State(state): State<AppState>,
    page: Page,
    Path(reference): Path<String>,
) -> AppResult<Response> {
    if reference.len() > 20 || !db::order_exists(&state.db, &reference).await? {
        return Err(AppError::NotFound);
    }
    render(&ReceivedPage {
        page: page.titled("Order request received"),
        reference,
    })
}

/// An order request as its owner sees it in their account.
pub struct OwnOrder {
    pub reference: String,
    pub status: String,
    pub created_at: i64,
    pub notes: String,
    pub lines: Vec<LineView>,
    pub totals: Vec<TotalView>,
}

/// A person's order requests, newest first (decrypted with their key).
pub async fn orders_of_subject(
    state: &AppState,
    subject: &subjects::Subject,
) -> anyhow::Result<Vec<OwnOrder>> {
    let mut out = vec![];
    for order in db::orders_of_subject(&state.db, subject.id).await? {
        let lines = db::lines(&state.db, order.id).await?;
        let notes = order
            .notes
            .as_deref()
            .map(|n| subject.open("orders", "notes", n))
            .transpose()?
            .unwrap_or_default();
        out.push(OwnOrder {
            reference: order.reference,
            status: order.status,
            created_at: order.created_at,
            notes,
            lines: line_views(&lines),
            totals: totals(&lines),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_phones_and_references_are_checked() {
        assert!(valid_key(&random_token(24)));
        assert!(!valid_key("short"));
        assert!(!valid_key(&"a;".repeat(20)));
        assert!(valid_phone("+1 (510) 555-0142"));
        assert!(!valid_phone("call me"));
        assert!(!valid_phone("12"));
        let r = new_reference();
        assert!(r.starts_with("OC-") && r.len() == 13, "{r}");
        assert!(!r[3..].contains(['0', 'O', '1', 'I']));
    }
}
