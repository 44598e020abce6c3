//! SLA escalation: when a ticket's response nears its target (the last
//! quarter of it, see `sla`), the members of its team are told (through
//! `staff::notifications`, by mail and/or the bell as each chose), or its
//! assignee when it has no team; active agents and admins only. Once
//! per ticket, per response and per response cycle (the clock's start is
//! in the dedupe key), however often the sweep runs. The mail names the
//! reference and links to the ticket, never what anyone wrote.
//!
//! [`run`] sweeps every minute in the background; tests call [`sweep`]
//! with the moved clock.

use super::{
    db::{self, TicketRow},
    settings,
    sla::{self, Response, Sla, SlaFilter, Timeline},
};
use crate::{
    AppState,
    platform::db::Tx,
    staff::notifications::{self, Kind, Notice},
};

/// The most nearing tickets one sweep reads, the closest to their target
/// first (far more than a small helpdesk ever has at once).
const SWEEP_LIMIT: i64 = 5_000;

/// Tells everyone concerned that `ticket`'s `response` nears its target
/// (by mail and/or in the back office, as each chose), in the caller's
/// transaction; how many of them were told anew. Who is told: the
/// active agents and admins of the ticket's team, or, when it has no team
/// (or none of its members is active), its assignee if active.
pub async fn sla_nearing(
    state: &AppState,
    tx: &mut Tx,
    ticket: &TicketRow,
    response: Response,
    left: i64,
) -> anyhow::Result<usize> {
    let since = match response {
        Response::First => ticket.created_at,
        Response::Next => ticket.awaiting_since.unwrap_or(ticket.created_at),
    };
    let mut to = vec![];
    if let Some(team_id) = ticket.team_id {
        to = db::active_team_members(tx, team_id).await?;
    }
    if to.is_empty()
        && let Some(assignee) = ticket.assignee_id
        && let Some((email, role, disabled)) = crate::staff::db::user_state(tx, assignee).await?
        && disabled == 0
        && matches!(role.as_str(), "agent" | "admin")
    {
        to.push((assignee, email));
    }
    if to.is_empty() {
        return Ok(0);
    }
    let reference = ticket.reference.clone().unwrap_or_default();
    let detail = format!(
        "{} due in {}",
        response.words(),
        sla::duration_words(left, true)
    );
    let mut sent = 0;
    for (staff_id, _) in to {
        let notice = Notice {
            kind: Kind::SlaNearing,
            about: reference.clone(),
            detail: detail.clone(),
            person: None,
            link: format!("/admin/tickets/{}", ticket.id),
            key: format!("sla-nearing:{}:{}:{since}", ticket.id, response.as_str()),
        };
        if notifications::notify(state, tx, staff_id, &notice).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Finds the open or pending tickets whose response nears its target at
/// `now` (the database picks them by their clocks' starts) and tells their
/// people about each, once.
/// Returns how many mails it enqueued.
pub async fn sweep(state: &AppState, now: i64) -> anyhow::Result<usize> {
    let settings = settings::load(&state.db).await?;
    let zone = state.site().time_zone;
    let windows = SlaFilter::Nearing
        .windows(now, &settings, zone)
        .unwrap_or_default();
    let mut sent = 0;
    for row in db::awaiting_in(&state.db, &windows, SWEEP_LIMIT).await? {
        let sla = Sla::of(&Timeline::of_row(&row), now, &settings, zone);
        let Sla::Due { response, left, .. } = sla else {
            continue;
        };
        if !sla.nearing() {
            continue;
        }
        let mut tx = state.db.begin().await?;
        sent += sla_nearing(state, &mut tx, &row, response, left).await?;
        tx.commit().await?;
    }
    if sent > 0 {
        state.mail_wakeup.notify_one();
    }
    Ok(sent)
}

/// Sweeps every minute until shutdown.
pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = sweep(&state, state.clock.now()).await {
                    tracing::warn!(error = format!("{e:#}"), "SLA escalation sweep");
                }
            }
            // The guard `wait_for` answers is not `Send`: dropped inside.
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
        }
    }
}
