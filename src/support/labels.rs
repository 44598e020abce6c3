//! Priorities and tags on tickets: set on the ticket page (and by
//! automations), shown and filtered in the inbox, every change audited.

use super::{db, tickets::Ticket};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::forms::Form,
    staff::{
        Agent, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::{fmt, str::FromStr};

/// How urgent a ticket is, lowest first.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// A ticket's priority, parsed once at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority(&'static str);

impl Priority {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl FromStr for Priority {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Priority, &'static str> {
        PRIORITIES
            .into_iter()
            .find(|p| *p == s.trim())
            .map(Priority)
            .ok_or("Please choose low, normal, high or urgent.")
    }
}

/// A tag: lower-case letters, digits and dashes, 1 to 32 characters
/// ("VIP customer" is `vip-customer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Tag {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Tag, &'static str> {
        let words: Vec<String> = s
            .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let tag = words.join("-");
        if tag.is_empty() {
            return Err("Please type a tag, like billing or vip.");
        }
        if tag.chars().count() > 32 {
            return Err("A tag has at most 32 characters.");
        }
        if !tag.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err("A tag holds letters, digits and dashes only.");
        }
        Ok(Tag(tag))
    }
}

/// Sets a ticket's priority in the caller's transaction; `false` when it
/// already had it.
pub async fn set_priority(
    tx: &mut crate::platform::db::Tx,
    ticket: &Ticket,
    priority: Priority,
) -> anyhow::Result<bool> {
    if ticket.priority == priority.as_str() {
        return Ok(false);
    }
    db::set_priority(tx, ticket.id, priority.as_str()).await?;
    Ok(true)
}

/// Adds a tag in the caller's transaction; `false` when the ticket had it.
pub async fn add_tag(
    tx: &mut crate::platform::db::Tx,
    ticket: &Ticket,
    tag: &Tag,
) -> anyhow::Result<bool> {
    Ok(db::add_tag(tx, ticket.id, ticket.subject_id, tag.as_str()).await? > 0)
}

#[derive(Deserialize)]
pub struct PriorityForm {
    #[serde(default)]
    priority: String,
}

pub async fn change_priority(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<PriorityForm>,
) -> AppResult<Response> {
    let ticket = load(&state, id).await?;
    let priority: Priority = form
        .priority
        .parse()
        .map_err(|e: &str| AppError::Unprocessable(e.into()))?;
    let mut tx = state.db.begin().await?;
    if set_priority(&mut tx, &ticket, priority).await? {
        let detail = format!("{} -> {}", ticket.priority, priority.as_str());
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "priority",
            "ticket",
            id,
            &detail,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    tag: String,
}

pub async fn tag_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<TagForm>,
) -> AppResult<Response> {
    let ticket = load(&state, id).await?;
    let tag: Tag = form
        .tag
        .parse()
        .map_err(|e: &str| AppError::Unprocessable(e.into()))?;
    let mut tx = state.db.begin().await?;
    if add_tag(&mut tx, &ticket, &tag).await? {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "tag",
            "ticket",
            id,
            tag.as_str(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

pub async fn untag_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<TagForm>,
) -> AppResult<Response> {
    let ticket = load(&state, id).await?;
    let mut tx = state.db.begin().await?;
    if db::remove_tag(&mut tx, ticket.id, form.tag.trim()).await? > 0 {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "untag",
            "ticket",
            id,
            form.tag.trim(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

async fn load(state: &AppState, id: i64) -> AppResult<Ticket> {
    let row = db::ticket(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ok(Ticket::open(state, row)?.ok_or(AppError::NotFound)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_priorities_are_parsed_once() {
        assert_eq!(
            "VIP customer".parse::<Tag>().unwrap().as_str(),
            "vip-customer"
        );
        assert_eq!(" billing ".parse::<Tag>().unwrap().as_str(), "billing");
        for bad in ["", "  ", "a<b", &"x".repeat(33), "semi;colon"] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?}");
        }
        assert_eq!("urgent".parse::<Priority>().unwrap().as_str(), "urgent");
        assert!("critical".parse::<Priority>().is_err());
    }
}
