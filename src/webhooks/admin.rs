//! `/admin/webhooks` [admin]: add an endpoint, see its secret and delivery
//! log, send a delivery again, switch it on or off, delete it.

use super::db::{self, Endpoint, NewEndpoint};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        db::Tx,
        forms::{FieldErrors, Form, text},
        settings,
        templates::{Page, render_with},
        webhooks::{self, EVENTS},
    },
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::{collections::HashMap, net::IpAddr, time::Duration};

/// What the add form holds, as typed.
#[derive(Default, Clone)]
pub struct EndpointForm {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub include_personal: bool,
    pub allow_private: bool,
}

impl EndpointForm {
    fn from_fields(fields: &HashMap<String, String>) -> EndpointForm {
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let ticked = |k: &str| fields.get(k).is_some_and(|v| !v.trim().is_empty());
        EndpointForm {
            name: get("name"),
            url: get("url"),
            events: EVENTS
                .iter()
                .filter(|(e, _)| ticked(&format!("event:{e}")))
                .map(|(e, _)| e.to_string())
                .collect(),
            include_personal: ticked("include_personal"),
            allow_private: ticked("allow_private"),
        }
    }

    pub fn has(&self, event: &&str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

#[derive(askama::Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    page: Page,
    endpoints: Vec<Endpoint>,
    events: &'static [(&'static str, &'static str)],
    form: EndpointForm,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    page: Page,
    form: EndpointForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = errors.status();
    render_with(
        status,
        &ListPage {
            page: page.titled("Webhooks"),
            endpoints: db::endpoints(&state.db).await?,
            events: EVENTS,
            form,
            errors,
        },
    )
}

pub async fn list_endpoints(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    list_page(
        &state,
        page,
        EndpointForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// Refuses an address that is, or resolves only to, somewhere private
/// unless the admin allowed that (and a metadata address always): the
/// sender checks again at each connection.
async fn check_reachable(url: &url::Url, allow_private: bool) -> Result<(), String> {
    let refuse = |ip: IpAddr| {
        if allow_private {
            format!("{ip} is a cloud metadata or reserved address: webhooks never go there.")
        } else {
            format!(
                "{ip} is a private, loopback, link-local or metadata address. Tick \"allow private addresses\" if this endpoint is on your own network."
            )
        }
    };
    let found: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            // A name that does not resolve yet may be set up later; one
            // that resolves only to refused addresses is refused now.
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::lookup_host((name, port)),
            )
            .await
            {
                Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                _ => vec![],
            }
        }
        None => vec![],
    };
    match found.first() {
        Some(first)
            if found
                .iter()
                .all(|ip| !webhooks::address_allowed(*ip, allow_private)) =>
        {
            Err(refuse(*first))
        }
        _ => Ok(()),
    }
}

pub async fn add_endpoint(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Form(fields): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let form = EndpointForm::from_fields(&fields);
    let mut errors = FieldErrors::default();
    let name = match text(&form.name, 100) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            errors.add("name", "Name the service that receives the events (it appears in the privacy policy when it receives personal data).");
            None
        }
        Err(m) => {
            errors.add("name", m);
            None
        }
    };
    let url = match webhooks::check_url(&form.url) {
        Ok(url) => match check_reachable(&url, form.allow_private).await {
            Ok(()) => Some(url),
            Err(m) => {
                errors.add("url", m);
                None
            }
        },
        Err(m) => {
            errors.add("url", m);
            None
        }
    };
    let events: Vec<&'static str> = EVENTS
        .iter()
        .map(|(e, _)| *e)
        .filter(|e| form.has(e))
        .collect();
    if events.is_empty() {
        errors.add("events", "Choose at least one event.");
    }
    let (Some(name), Some(url), true) = (name, url, errors.is_empty()) else {
        return list_page(&state, page, form, errors).await;
    };
    let secret = webhooks::new_secret();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let id = db::insert_endpoint(
        &mut tx,
        &NewEndpoint {
            name: &name,
            url: url.as_str(),
            secret: webhooks::seal_secret(&state.keyring, &secret),
            events: &events,
            include_personal: form.include_personal,
            allow_private: form.allow_private,
        },
        now,
    )
    .await?;
    sync_disclosures(&mut tx).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "create",
        "webhook_endpoint",
        id,
        &format!(
            "{name} ({}): {}{}{}",
            url.host_str().unwrap_or_default(),
            events.join(", "),
            if form.include_personal {
                "; with personal data"
            } else {
                ""
            },
            if form.allow_private {
                "; private addresses allowed"
            } else {
                ""
            },
        ),
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    Ok(Redirect::to(&format!("/admin/webhooks/{id}")).into_response())
}

/// The settings keys the privacy policy reads to name every endpoint that
/// receives personal data, rewritten from the endpoints.
async fn sync_disclosures(tx: &mut Tx) -> anyhow::Result<()> {
    settings::remove_prefix(tx, webhooks::DISCLOSURE_PREFIX).await?;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM webhook_endpoints WHERE include_personal = 1")
            .fetch_all(&mut **tx)
            .await?;
    for (id, name) in rows {
        settings::put(tx, &format!("{}{id}", webhooks::DISCLOSURE_PREFIX), &name).await?;
    }
    Ok(())
}

#[derive(askama::Template)]
#[template(path = "webhooks/endpoint.html")]
struct EndpointPage {
    page: Page,
    endpoint: Endpoint,
    secret: String,
    deliveries: Vec<db::Delivery>,
    notice: String,
}

impl EndpointPage {
    fn label(&self, event: &str) -> &'static str {
        EVENTS
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, l)| *l)
            .unwrap_or("")
    }
}

async fn endpoint_page(
    state: &AppState,
    page: Page,
    id: i64,
    status: StatusCode,
    notice: String,
) -> AppResult<Response> {
    let endpoint = db::endpoint_by_id(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let secret = webhooks::open_secret(&state.keyring, &endpoint.secret)?;
    let deliveries = db::deliveries(&state.db, id, 100).await?;
    render_with(
        status,
        &EndpointPage {
            page: page.titled(format!("Webhook: {}", endpoint.name)),
            endpoint,
            secret,
            deliveries,
            notice,
        },
    )
}

pub async fn show_endpoint(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    endpoint_page(&state, page, id, StatusCode::OK, String::new()).await
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    SwitchOn,
    SwitchOff,
    Delete,
}

#[derive(Deserialize)]
pub struct ChangeForm {
    action: Change,
}

pub async fn change_endpoint(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let (done, what) = match form.action {
        Change::SwitchOn => (db::set_enabled(&mut tx, id, true, now).await?, "switch-on"),
        Change::SwitchOff => (
            db::set_enabled(&mut tx, id, false, now).await?,
            "switch-off",
        ),
        Change::Delete => (db::delete_endpoint(&mut tx, id).await?, "delete"),
    };
    if !done {
        return Err(AppError::NotFound);
    }
    sync_disclosures(&mut tx).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        what,
        "webhook_endpoint",
        id,
        "",
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    Ok(match form.action {
        Change::Delete => Redirect::to("/admin/webhooks"),
        _ => Redirect::to(&format!("/admin/webhooks/{id}")),
    }
    .into_response())
}

pub async fn resend_delivery(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path((id, delivery)): Path<(i64, i64)>,
) -> AppResult<Response> {
    if !webhooks::resend(&state.db, id, delivery).await? {
        return endpoint_page(
            &state,
            page,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That delivery cannot be sent again: it is waiting to be sent already, or its content was erased with the person's data.".into(),
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "resend",
        "webhook_delivery",
        delivery,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/webhooks/{id}")).into_response())
}
