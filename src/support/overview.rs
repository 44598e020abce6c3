//! The helpdesk's share of the back-office dashboard: its figures, the
//! replies coming due and its activity in words.

use super::{
    db, settings,
    sla::{Sla, SlaFilter, Timeline},
    tickets::{STATUSES, Ticket},
};
use crate::{AppState, platform::activity::Activity, staff::StaffUser};
use std::collections::HashMap;

/// An open or pending ticket whose first or next response is past its
/// target, or nearing it.
pub struct SlaTicket {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub sla: Sla,
    /// Who has it, in words: "Sam Lee", "Sam Lee (Accounting)",
    /// "Accounting", or "nobody".
    pub owner: String,
}

/// The tickets an SLA filter picks: how many there are, and the `limit`
/// most urgent.
pub struct SlaList {
    pub count: i64,
    pub most_urgent: Vec<SlaTicket>,
}

/// Open or pending tickets assigned to this staff member.
pub async fn my_open(state: &AppState, staff_id: i64) -> anyhow::Result<i64> {
    Ok(db::count_open_assigned_to(&state.db, staff_id).await?)
}

/// Open or pending tickets assigned to nobody.
pub async fn unassigned(state: &AppState) -> anyhow::Result<i64> {
    Ok(db::count_open_unassigned(&state.db).await?)
}

/// Open or pending tickets whose awaited response is past its target at
/// `now` (`filter` breached) or nearing it (nearing): the count, and the
/// `limit` most urgent, most late or least time left first. The database
/// counts them by their clocks' starts; within one priority and response
/// the earliest start is the most urgent, so the `limit` earliest of each
/// are all that is opened and compared.
pub async fn by_sla(
    state: &AppState,
    now: i64,
    filter: SlaFilter,
    limit: usize,
) -> anyhow::Result<SlaList> {
    let settings = settings::load(&state.db).await?;
    let zone = state.site().time_zone;
    let windows = filter.windows(now, &settings, zone).unwrap_or_default();
    let count = db::count_awaiting_in(&state.db, &windows).await?;
    let mut rows = vec![];
    if count > 0 {
        for window in &windows {
            for row in
                db::awaiting_in(&state.db, std::slice::from_ref(window), limit as i64).await?
            {
                let sla = Sla::of(&Timeline::of_row(&row), now, &settings, zone);
                rows.push((sla, row));
            }
        }
    }
    rows.sort_by_key(|(sla, row)| (sla.urgency(), row.id));
    let names: HashMap<i64, String> = crate::staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let teams: HashMap<i64, String> = db::teams(&state.db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut most_urgent = vec![];
    for (sla, row) in rows {
        // A clock's window is a close bound; the ticket's own clock decides.
        if !sla.is(filter) {
            continue;
        }
        if most_urgent.len() >= limit {
            break;
        }
        let Some((ticket, _)) = Ticket::open(state, row)? else {
            continue;
        };
        let person = ticket.assignee_id.and_then(|id| names.get(&id).cloned());
        let team = ticket.team_id.and_then(|id| teams.get(&id).cloned());
        let owner = match (person, team) {
            (Some(p), Some(t)) => format!("{p} ({t})"),
            (Some(p), None) => p,
            (None, Some(t)) => t,
            (None, None) => "nobody".into(),
        };
        most_urgent.push(SlaTicket {
            id: ticket.id,
            reference: ticket.reference,
            title: ticket.title,
            sla,
            owner,
        });
    }
    Ok(SlaList { count, most_urgent })
}

/// The requester as staff may see them: their name, else their email.
fn requester(ticket: &Ticket) -> String {
    if ticket.name.trim().is_empty() {
        ticket.email.clone()
    } else {
        ticket.name.clone()
    }
}

const ACTIONS: &[&str] = &["assign", "reply", "note", "status", "merge"];

/// What happened to tickets lately, in words, as `viewer` reads it:
/// new tickets and what staff did to them.
pub async fn activity(
    state: &AppState,
    viewer: &StaffUser,
    since: i64,
    limit: usize,
) -> anyhow::Result<Vec<Activity>> {
    let names: HashMap<i64, String> = crate::staff::db::active_agents(&state.db)
        .await?
        .into_iter()
        .collect();
    let staff_name = |id: Option<i64>| match id {
        Some(id) if id == viewer.id => "you".to_string(),
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "A colleague".into()),
        None => "The system".into(),
    };
    let mut tickets: HashMap<i64, Option<Ticket>> = HashMap::new();
    let mut items = vec![];
    for row in db::received_since(&state.db, since, limit as i64).await? {
        if let Some((t, _)) = Ticket::open(state, row)? {
            items.push(Activity {
                at: t.created_at,
                words: format!(
                    "{} opened ticket {}: {}",
                    requester(&t),
                    t.reference,
                    t.title
                ),
                href: format!("/admin/tickets/{}", t.id),
            });
            tickets.insert(t.id, Some(t));
        }
    }
    for entry in
        crate::staff::db::recent_actions(&state.db, "ticket", ACTIONS, limit as i64).await?
    {
        let Ok(id) = entry.target_id.parse::<i64>() else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = tickets.entry(id) {
            let opened = match db::ticket(&state.db, id).await? {
                Some(row) => Ticket::open(state, row)?.map(|(t, _)| t),
                None => None,
            };
            slot.insert(opened);
        }
        // An erased requester's ticket has nothing left to tell.
        let Some(Some(t)) = tickets.get(&id) else {
            continue;
        };
        let whose = format!("{}'s ticket {}", requester(t), t.reference);
        let actor = staff_name(entry.actor_user_id);
        let by_viewer = entry.actor_user_id == Some(viewer.id);
        let words = match entry.action.as_str() {
            "assign" => match entry
                .detail
                .strip_prefix("to staff ")
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(to) if to == viewer.id && !by_viewer => {
                    format!("{whose} was assigned to you by {actor}")
                }
                Some(to) if to == viewer.id => format!("You took {whose}"),
                Some(to) => format!(
                    "{} assigned {whose} to {}",
                    cap(&actor),
                    staff_name(Some(to))
                ),
                None => format!("{} unassigned {whose}", cap(&actor)),
            },
            "reply" => format!("{} replied to {whose}", cap(&actor)),
            "note" => format!("{} added an internal note to {whose}", cap(&actor)),
            "status" => {
                let to = entry.detail.rsplit(" -> ").next().unwrap_or_default();
                if STATUSES.contains(&to) {
                    format!("{} marked {whose} as {to}", cap(&actor))
                } else {
                    format!("{} changed the status of {whose}", cap(&actor))
                }
            }
            "merge" => {
                let into = entry
                    .detail
                    .rsplit(" merged into ")
                    .next()
                    .unwrap_or_default();
                format!("{} merged {whose} into {into}", cap(&actor))
            }
            _ => continue,
        };
        items.push(Activity {
            at: entry.at,
            words,
            href: format!("/admin/tickets/{}", t.merged_into.unwrap_or(t.id)),
        });
    }
    items.sort_by_key(|a| std::cmp::Reverse(a.at));
    items.truncate(limit);
    Ok(items)
}

/// "you" at the start of a sentence.
fn cap(name: &str) -> String {
    if name == "you" {
        "You".into()
    } else {
        name.into()
    }
}
