//! The back office's first page: figures from several features, so it is
//! composed here, above them. Each feature exposes its own queries; this
//! module picks what the signed-in person's role may see.

use super::AppState;
use crate::{
    analytics, chat,
    error::AppResult,
    newsletter,
    platform::{
        activity::Activity,
        context::Role,
        mail,
        templates::{Page, render},
    },
    shop,
    staff::{self, Staff, StaffUser},
    support,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;

/// The figures that change during a day; `None` where the role may not see
/// them. The page shows them and `/admin/dashboard.json` refreshes them.
#[derive(Serialize, Default)]
pub struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_open_tickets: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unassigned_tickets: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_chats: Option<i64>,
    /// Open tickets whose first or next response is past its target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_breached: Option<i64>,
    /// Open tickets whose awaited response is in the last quarter of its
    /// target's business time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_nearing: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_orders: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitors_today: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribers_today: Option<i64>,
    /// The member's unread notifications (the top bar's bell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_notifications: Option<i64>,
}

struct Lists {
    waiting: Vec<chat::conversations::WaitingChat>,
    breached: Vec<support::overview::SlaTicket>,
    nearing: Vec<support::overview::SlaTicket>,
}

/// Breached, and nearly due, tickets listed on the dashboard (the figures
/// count them all).
const SLA_SHOWN: usize = 10;

async fn gather(state: &AppState, user: &StaffUser) -> anyhow::Result<(Figures, Lists)> {
    let now = state.clock.now();
    let mut figures = Figures {
        unread_notifications: Some(staff::notifications::unread(&state.db, user.id).await?),
        ..Figures::default()
    };
    let mut lists = Lists {
        waiting: vec![],
        breached: vec![],
        nearing: vec![],
    };
    if user.role.allows(Role::Agent) {
        lists.waiting = chat::conversations::waiting(state).await?;
        use support::{overview::by_sla, sla::SlaFilter};
        let breached = by_sla(state, now, SlaFilter::Breached, SLA_SHOWN).await?;
        lists.breached = breached.most_urgent;
        figures.sla_breached = Some(breached.count);
        let nearing = by_sla(state, now, SlaFilter::Nearing, SLA_SHOWN).await?;
        lists.nearing = nearing.most_urgent;
        figures.sla_nearing = Some(nearing.count);
        figures.my_open_tickets = Some(support::overview::my_open(state, user.id).await?);
        figures.unassigned_tickets = Some(support::overview::unassigned(state).await?);
        figures.waiting_chats = Some(lists.waiting.len() as i64);
    }
    if user.role.allows(Role::Admin) {
        // "Today" is the company's day, as analytics counts it.
        let company_day_start = crate::platform::zones::start_of_day(now, state.site().time_zone);
        figures.new_orders = Some(shop::db::count_new_orders(&state.db).await?);
        figures.visitors_today = Some(analytics::visitors_today(state).await?);
        figures.subscribers_today =
            Some(newsletter::db::count_confirmed_since(&state.db, company_day_start).await?);
    }
    Ok((figures, lists))
}

#[derive(askama::Template)]
#[template(path = "app/dashboard.html")]
struct DashboardPage {
    page: Page,
    figures: Figures,
    waiting: Vec<chat::conversations::WaitingChat>,
    breached: Vec<support::overview::SlaTicket>,
    nearing: Vec<support::overview::SlaTicket>,
    activity: Vec<Activity>,
    outbox_depth: i64,
    staff_count: i64,
    integrity_findings: i64,
    csat: crate::support::csat::CsatSummary,
}

pub async fn show_dashboard(
    Staff(user, ..): Staff,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let (figures, lists) = gather(&state, &user).await?;
    let activity = if user.role.allows(Role::Agent) {
        let since = state.clock.now() - 7 * DAY_MS;
        support::overview::activity(&state, &user, since, 15).await?
    } else {
        vec![]
    };
    let admin = user.role.allows(Role::Admin);
    render(&DashboardPage {
        page: page.titled("Dashboard"),
        figures,
        waiting: lists.waiting,
        breached: lists.breached,
        nearing: lists.nearing,
        activity,
        outbox_depth: if admin {
            mail::depth(&state.db).await?
        } else {
            0
        },
        staff_count: if admin {
            staff::db::count_users(&state.db).await?
        } else {
            0
        },
        integrity_findings: if admin {
            crate::ops::open_findings(&state).await?
        } else {
            0
        },
        csat: crate::support::csat::summary(&state).await?,
    })
}

/// `GET /admin/dashboard.json`: the figures, for the page to refresh them
/// without a reload (static/dashboard.js polls it).
pub async fn dashboard_figures(
    Staff(user, ..): Staff,
    State(state): State<AppState>,
) -> AppResult<Response> {
    let (figures, _) = gather(&state, &user).await?;
    let mut response = Json(figures).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
