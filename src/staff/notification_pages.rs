//! `/admin/notifications`: a member's own notifications, in words, each a
//! link that marks it read; nobody sees or marks another member's.

use super::{Staff, notifications};
use crate::{
    error::{AppError, AppResult},
    platform::{
        Platform,
        templates::{Page, render},
    },
};
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};

/// How many the list shows (older ones stay until retention deletes them).
const SHOWN: i64 = 200;

#[derive(askama::Template)]
#[template(path = "staff/notifications.html")]
struct NotificationsPage {
    page: Page,
    items: Vec<notifications::Listed>,
    unread: i64,
}

pub async fn list_notifications(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
) -> AppResult<Response> {
    let items = notifications::list(&state, user.id, SHOWN).await?;
    let unread = notifications::unread(&state.db, user.id).await?;
    render(&NotificationsPage {
        page: page.titled("Notifications"),
        items,
        unread,
    })
}

/// Marks the notification read and follows its link; 404 when it is not
/// the member's.
pub async fn open_notification(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let link = notifications::open(&mut tx, user.id, id, state.clock.now())
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    // Only our own paths are stored; anything else goes to the list.
    let to = if link.starts_with("/admin") && !link.starts_with("//") {
        link
    } else {
        "/admin/notifications".into()
    };
    Ok(Redirect::to(&to).into_response())
}

pub async fn mark_all_read(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    notifications::mark_all_read(&mut tx, user.id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/notifications").into_response())
}
