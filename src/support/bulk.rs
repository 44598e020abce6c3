//! The inbox's bulk actions: assign, set the status of, or merge the
//! tickets ticked in the list. Every ticket is checked, the changes made in
//! one transaction, and the page says what happened to each.

use super::{
    db,
    tickets::{STATUSES, Ticket},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{FieldErrors, Form},
        templates::{Page, render_with},
    },
    privacy::subjects::Subject,
    staff::{
        Agent, Staff, StaffUser,
        audit::{self, Actor},
    },
};
use axum::{extract::State, http::StatusCode, response::Response};
use std::collections::HashMap;

#[derive(askama::Template)]
#[template(path = "support/bulk.html")]
struct BulkPage {
    page: Page,
    /// What was done, one sentence a line.
    done: Vec<String>,
    /// What was left alone, and why.
    skipped: Vec<String>,
    errors: FieldErrors,
    /// For a merge without a target yet: the tickets to choose from.
    choose: Vec<Ticket>,
    /// Where to look at the result.
    next: String,
}

#[derive(PartialEq)]
enum Action {
    Assign,
    Status,
    Merge,
}

struct Request {
    action: Action,
    ids: Vec<i64>,
    /// Selected values that are not ticket numbers at all.
    unreadable: usize,
    assignee: String,
    status: String,
    target: String,
}

/// Reads the form's pairs (`ids` repeats, one per ticked row).
fn read(pairs: Vec<(String, String)>) -> Result<Request, AppError> {
    let mut request = Request {
        action: Action::Assign,
        ids: vec![],
        unreadable: 0,
        assignee: String::new(),
        status: String::new(),
        target: String::new(),
    };
    let mut action = None;
    for (key, value) in pairs {
        match key.as_str() {
            "ids" => match value.parse::<i64>() {
                Ok(id) if !request.ids.contains(&id) => request.ids.push(id),
                Ok(_) => {}
                Err(_) => request.unreadable += 1,
            },
            "action" => {
                action = Some(match value.as_str() {
                    "assign" => Action::Assign,
                    "status" => Action::Status,
                    "merge" => Action::Merge,
                    _ => {
                        return Err(AppError::BadRequest(
                            "Please choose assign, change status or merge.".into(),
                        ));
                    }
                })
            }
            "assignee" => request.assignee = value,
            "status" => request.status = value,
            "target" => request.target = value,
            _ => {}
        }
    }
    request.action = action.ok_or_else(|| {
        AppError::BadRequest("Please choose assign, change status or merge.".into())
    })?;
    Ok(request)
}

/// `POST /admin/tickets/bulk`.
pub async fn bulk_action(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let request = read(pairs)?;
    let mut result = BulkPage {
        page: page.titled("Tickets: bulk change"),
        done: vec![],
        skipped: vec![],
        errors: FieldErrors::default(),
        choose: vec![],
        next: "/admin/tickets".into(),
    };
    if request.ids.is_empty() && request.unreadable == 0 {
        result.errors.add(
            "ids",
            "No ticket was selected: tick the tickets in the list first.",
        );
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &result);
    }
    let mut found = vec![];
    // Each requester's key, which seals the webhook events about their tickets.
    let mut subjects = HashMap::new();
    let mut missing = request.unreadable;
    for id in &request.ids {
        match db::ticket(&state.db, *id).await? {
            Some(row) => match Ticket::open(&state, row)? {
                Some((t, subject)) => {
                    subjects.insert(t.id, subject);
                    found.push(t);
                }
                None => missing += 1,
            },
            None => missing += 1,
        }
    }
    if missing > 0 {
        result.skipped.push(match missing {
            1 => "1 selected ticket does not exist (any more) and was left alone.".into(),
            n => format!("{n} selected tickets do not exist (any more) and were left alone."),
        });
    }
    if found.is_empty() {
        result
            .errors
            .add("ids", "None of the selected tickets exists.");
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &result);
    }
    let (merged, live): (Vec<Ticket>, Vec<Ticket>) =
        found.into_iter().partition(|t| t.merged_into.is_some());
    for t in &merged {
        result.skipped.push(format!(
            "{} was left alone: it was merged into another ticket.",
            t.reference
        ));
    }
    if live.is_empty() {
        result
            .errors
            .add("ids", "Every selected ticket was already merged elsewhere.");
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &result);
    }
    match request.action {
        Action::Assign => assign(&state, &user, &request, live, &mut result).await?,
        Action::Status => set_status(&state, &user, &request, live, &subjects, &mut result).await?,
        Action::Merge => merge(&state, &user, &request, live, &subjects, &mut result).await?,
    }
    let status = if result.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with(status, &result)
}

fn references(tickets: &[Ticket]) -> String {
    tickets
        .iter()
        .map(|t| t.reference.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn assign(
    state: &AppState,
    user: &StaffUser,
    request: &Request,
    tickets: Vec<Ticket>,
    result: &mut BulkPage,
) -> AppResult<()> {
    let agents = crate::staff::db::active_agents(&state.db).await?;
    let (assignee, name) = match request.assignee.as_str() {
        "" | "none" => (None, "nobody".to_string()),
        "me" => (Some(user.id), "you".to_string()),
        other => match other
            .parse::<i64>()
            .ok()
            .and_then(|id| agents.iter().find(|(a, _)| *a == id))
        {
            Some((id, name)) => (Some(*id), name.clone()),
            None => {
                result.errors.add(
                    "assignee",
                    "Tickets can be assigned to active agents and admins only.",
                );
                return Ok(());
            }
        },
    };
    let mut tx = state.db.begin().await?;
    for t in &tickets {
        db::set_assignee(&mut tx, t.id, assignee).await?;
        let by = super::notify::AssignedBy::Staff(user.id, &user.display_name);
        super::notify::assigned(state, &mut tx, t, assignee, by).await?;
        let detail = assignee.map_or("unassigned".to_string(), |a| format!("to staff {a}"));
        audit::record(
            &mut tx,
            Actor::Staff(user),
            "assign",
            "ticket",
            t.id,
            &detail,
        )
        .await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    result.done.push(match assignee {
        None => format!("Unassigned: {}.", references(&tickets)),
        Some(_) => format!("Assigned to {name}: {}.", references(&tickets)),
    });
    Ok(())
}

async fn set_status(
    state: &AppState,
    user: &StaffUser,
    request: &Request,
    tickets: Vec<Ticket>,
    subjects: &HashMap<i64, Subject>,
    result: &mut BulkPage,
) -> AppResult<()> {
    let Some(status) = STATUSES.into_iter().find(|s| *s == request.status) else {
        result
            .errors
            .add("status", "Please choose open, pending, solved or closed.");
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    for t in &tickets {
        db::set_status(&mut tx, t.id, status).await?;
        if let Some(subject) = subjects.get(&t.id) {
            super::tickets::status_moved(state, &mut tx, t, subject, status, "bulk").await?;
        }
        if status == "solved" && t.status != "solved" {
            // The rating request is sealed under the requester's key.
            if let Some(row) = db::ticket(&state.db, t.id).await?
                && let Some((ticket, subject)) = Ticket::open(state, row)?
            {
                let agent = ticket.assignee_id.or(Some(user.id));
                super::csat::request_on_solve(state, &mut tx, &ticket, &subject, agent).await?;
            }
        }
        audit::record(
            &mut tx,
            Actor::Staff(user),
            "status",
            "ticket",
            t.id,
            &format!("{} -> {status}", t.status),
        )
        .await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    result
        .done
        .push(format!("Marked as {status}: {}.", references(&tickets)));
    Ok(())
}

async fn merge(
    state: &AppState,
    user: &StaffUser,
    request: &Request,
    tickets: Vec<Ticket>,
    subjects: &HashMap<i64, Subject>,
    result: &mut BulkPage,
) -> AppResult<()> {
    if tickets.len() < 2 {
        result.errors.add(
            "ids",
            "Select at least two tickets to merge: the one to keep and its duplicates.",
        );
        return Ok(());
    }
    if request.target.is_empty() {
        // Without a target yet: ask which ticket the others go into.
        result.choose = tickets;
        return Ok(());
    }
    let Some(target) = request
        .target
        .parse::<i64>()
        .ok()
        .and_then(|id| tickets.iter().find(|t| t.id == id))
        .cloned()
    else {
        result.errors.add(
            "target",
            "Please choose the ticket to keep among the selected ones.",
        );
        result.choose = tickets;
        return Ok(());
    };
    let mut moved = vec![];
    let mut tx = state.db.begin().await?;
    for t in tickets.into_iter().filter(|t| t.id != target.id) {
        // Messages are sealed under the requester's key: only their own tickets can be joined.
        if t.subject_id != target.subject_id {
            result.skipped.push(format!(
                "{} was not merged: only duplicates from the same email address can be merged.",
                t.reference
            ));
            continue;
        }
        db::merge(&mut tx, t.id, target.id).await?;
        if let Some(subject) = subjects.get(&t.id) {
            super::tickets::status_moved(state, &mut tx, &t, subject, "closed", "merge").await?;
        }
        super::search::WORDS
            .copy(&mut tx, t.subject_id, t.id, target.id)
            .await?;
        audit::record(
            &mut tx,
            Actor::Staff(user),
            "merge",
            "ticket",
            t.id,
            &format!("{} merged into {}", t.reference, target.reference),
        )
        .await?;
        moved.push(t);
    }
    tx.commit().await?;
    if !moved.is_empty() {
        result.done.push(format!(
            "Merged into {}: {}. Their messages are in {} now and the duplicates are closed.",
            target.reference,
            references(&moved),
            target.reference
        ));
    }
    result.next = format!("/admin/tickets/{}", target.id);
    Ok(())
}
