//! Webhooks for admins (`/admin/webhooks`): endpoints, the events each
//! follows, whether it may receive personal data (the privacy policy then
//! names it), its signing secret and delivery log. The outbox, signing and
//! the guarded sender are `platform::webhooks`; the features raise events
//! through `platform::webhooks::enqueue`. This feature runs the sender and
//! tells the admins when an endpoint is switched off.

mod admin;
pub mod db;

use crate::{
    AppState,
    platform::{
        Platform,
        mail::{self, EmailTemplate, Recipient},
        nav::{Icon, NavItem},
        webhooks::{self, Sender},
    },
    staff::{self, Role},
};
use axum::{
    Router,
    routing::{get, post},
};
use std::time::Duration;

pub const ADMIN_NAV: &[NavItem] = &[NavItem::new(
    "Privacy & admin",
    "Webhooks",
    "/admin/webhooks",
    Role::Admin,
)
.icon(Icon::Box)];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/webhooks",
            get(admin::list_endpoints).post(admin::add_endpoint),
        )
        .route(
            "/admin/webhooks/{id}",
            get(admin::show_endpoint).post(admin::change_endpoint),
        )
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery}/resend",
            post(admin::resend_delivery),
        )
}

crate::email_template!(pub struct DisabledMail { endpoint: String, company: String, link: String }
    subject "email/webhook_disabled/subject.txt",
    text "email/webhook_disabled/body.txt",
    html "email/webhook_disabled/body.html",
);

/// Sends due webhooks until shutdown: every second, and at once after a
/// round that had work.
pub async fn run_worker(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let sender = match Sender::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = ?e, "webhook sender");
            return;
        }
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        let handled = match webhooks::deliver_due(&state, &sender).await {
            Ok(round) => {
                for (id, name) in &round.disabled {
                    if let Err(e) = tell_admins(&state, *id, name).await {
                        tracing::error!(error = ?e, "telling admins of a switched-off webhook");
                    }
                }
                round.handled
            }
            Err(e) => {
                tracing::error!(error = ?e, "webhook worker");
                0
            }
        };
        if handled > 0 {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Mails every active admin that an endpoint was switched off.
async fn tell_admins(state: &Platform, endpoint_id: i64, name: &str) -> anyhow::Result<()> {
    let admins: Vec<String> = staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .filter(|u| u.role == "admin" && !u.disabled && !u.invited)
        .map(|u| u.email)
        .collect();
    let site = state.site();
    let link = state
        .config
        .base_url
        .join(&format!("admin/webhooks/{endpoint_id}"))?
        .to_string();
    let mut tx = state.db.begin().await?;
    for email in admins {
        let m = DisabledMail {
            endpoint: name.to_string(),
            company: site.company_name.clone(),
            link: link.clone(),
        };
        mail::enqueue(
            &mut tx,
            &state.keyring,
            &site,
            Recipient::System,
            "webhook-disabled",
            &format!(
                "webhook-disabled:{endpoint_id}:{}:{email}",
                state.clock.now()
            ),
            &m.to_mail(&email)?,
        )
        .await?;
    }
    staff::audit::record(
        &mut tx,
        staff::audit::Actor::System("webhooks"),
        "disable",
        "webhook_endpoint",
        endpoint_id,
        &format!("{name}: failing for three days"),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}
