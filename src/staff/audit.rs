//! The audit log: who did what to which record, when. Written in the same
//! transaction as the change it records.

use super::StaffUser;
use crate::platform::{db::Tx, now_ms};

/// Who acted: a staff member, or the system itself (a job, the CLI).
pub enum Actor<'a> {
    Staff(&'a StaffUser),
    System(&'a str),
}

pub async fn record(
    tx: &mut Tx,
    actor: Actor<'_>,
    action: &str,
    target_kind: &str,
    target_id: impl ToString,
    detail: &str,
) -> Result<(), sqlx::Error> {
    let (id, label) = match actor {
        Actor::Staff(u) => (Some(u.id), u.email.clone()),
        Actor::System(name) => (None, name.to_string()),
    };
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor_label, action, target_kind, target_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now_ms())
    .bind(id)
    .bind(label)
    .bind(action)
    .bind(target_kind)
    .bind(target_id.to_string())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
