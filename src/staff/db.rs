//! Queries of the staff domain.

use super::{Role, StaffUser};
use crate::platform::{
    db::{Db, Tx},
    now_ms,
};

type UserRow = (i64, String, String, String, String);

fn to_user((id, email, display_name, role, time_zone): UserRow) -> Option<StaffUser> {
    Some(StaffUser {
        id,
        email,
        display_name,
        role: Role::parse(&role)?,
        // Empty (never chosen) or no longer known: the company's zone.
        time_zone: time_zone.parse().ok(),
    })
}

pub async fn user_for_session(db: &Db, token_hash: &str) -> Result<Option<StaffUser>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.role, u.time_zone FROM staff_sessions s \
         JOIN staff_users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(to_user))
}

/// An active (not disabled) member by id.
pub async fn active_user(db: &Db, id: i64) -> Result<Option<StaffUser>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT id, email, display_name, role, time_zone FROM staff_users WHERE id = $1 AND disabled = 0",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(to_user))
}

/// `(user, password hash, disabled)` for a login attempt.
pub async fn login_candidate(
    db: &Db,
    email: &str,
) -> Result<Option<(StaffUser, Option<String>, bool)>, sqlx::Error> {
    type Row = (i64, String, String, String, String, Option<String>, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, email, display_name, role, time_zone, password_hash, disabled FROM staff_users WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(&db.pool)
    .await?;
    Ok(
        row.and_then(|(id, email, name, role, zone, hash, disabled)| {
            to_user((id, email, name, role, zone)).map(|u| (u, hash, disabled != 0))
        }),
    )
}

pub async fn create_session(
    tx: &mut Tx,
    user_id: i64,
    token_hash: &str,
    hours: i64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query("INSERT INTO staff_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(now + hours * 3_600_000)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE staff_users SET last_login_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete_session(tx: &mut Tx, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every session of `user_id` but the one whose hash is `keep`; how many.
pub async fn delete_other_sessions(
    tx: &mut Tx,
    user_id: i64,
    keep: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM staff_sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// A member's password hash (none while an invitation is open).
pub async fn password_hash(db: &Db, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT password_hash FROM staff_users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?
    .flatten())
}

pub async fn set_password(tx: &mut Tx, user_id: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff_users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete_sessions_of(tx: &mut Tx, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staff_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Creates a user; `password_hash` is `None` for an invited user.
pub async fn insert_user(
    tx: &mut Tx,
    email: &str,
    display_name: &str,
    role: Role,
    password_hash: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO staff_users (email, display_name, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

pub async fn email_taken(tx: &mut Tx, email: &str) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM staff_users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_one(&mut **tx)
            .await?;
    Ok(n > 0)
}

/// Active staff who hold the agent role (agents and admins), who can take
/// chats and be assigned tickets: `(id, display name)`.
pub async fn active_agents(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    Ok(list_users(db, "")
        .await?
        .into_iter()
        .filter(|u| !u.disabled && Role::parse(&u.role).is_some_and(|r| r.allows(Role::Agent)))
        .map(|u| (u.id, u.display_name))
        .collect())
}

pub struct UserListItem {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub invited: bool,
    pub last_login_at: Option<i64>,
}

pub async fn list_users(db: &Db, q: &str) -> Result<Vec<UserListItem>, sqlx::Error> {
    type Row = (i64, String, String, String, i64, i64, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, email, display_name, role, disabled, \
         CASE WHEN password_hash IS NULL THEN 1 ELSE 0 END, last_login_at FROM staff_users \
         WHERE $1 = '' OR lower(email) LIKE '%' || lower($1) || '%' OR lower(display_name) LIKE '%' || lower($1) || '%' \
         ORDER BY email",
    )
    .bind(q)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, email, display_name, role, disabled, invited, last_login_at)| UserListItem {
                id,
                email,
                display_name,
                role,
                disabled: disabled != 0,
                invited: invited != 0,
                last_login_at,
            },
        )
        .collect())
}

/// `(email, role, disabled)` of a user.
pub async fn user_state(
    tx: &mut Tx,
    id: i64,
) -> Result<Option<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT email, role, disabled FROM staff_users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn active_admins(tx: &mut Tx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM staff_users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(&mut **tx)
        .await
}

pub async fn set_role_and_disabled(
    tx: &mut Tx,
    id: i64,
    role: Role,
    disabled: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff_users SET role = $1, disabled = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn insert_invite(
    tx: &mut Tx,
    user_id: i64,
    token_hash: &str,
    days: i64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query("INSERT INTO staff_invites (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(now + days * 86_400_000)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The invited user's `(id, email)` if the invite is valid and unused.
pub async fn open_invite(db: &Db, token_hash: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.email FROM staff_invites i JOIN staff_users u ON u.id = i.user_id \
         WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// A member's own choices: the name people see and the zone they read times in
/// (empty: the company's).
pub async fn set_profile(
    tx: &mut Tx,
    id: i64,
    display_name: &str,
    time_zone: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff_users SET display_name = $1, time_zone = $2 WHERE id = $3")
        .bind(display_name)
        .bind(time_zone)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The name an admin gave an invited member, to start their form with.
pub async fn display_name(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT display_name FROM staff_users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

/// Marks the invite used and sets the password and the name the member
/// chose; false if it was already used.
pub async fn use_invite(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
    password_hash: &str,
    display_name: &str,
) -> Result<bool, sqlx::Error> {
    let used = sqlx::query(
        "UPDATE staff_invites SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now_ms())
    .bind(token_hash)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if used != 1 {
        return Ok(false);
    }
    sqlx::query("UPDATE staff_users SET password_hash = $1, display_name = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(display_name)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

pub struct AuditEntry {
    pub at: i64,
    pub actor_label: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub detail: String,
}

pub async fn list_audit(db: &Db, q: &str, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as(
        "SELECT at, actor_label, action, target_kind, target_id, detail FROM audit_log \
         WHERE $1 = '' OR lower(actor_label || ' ' || action || ' ' || target_kind || ' ' || target_id || ' ' || detail) \
         LIKE '%' || lower($1) || '%' ORDER BY id DESC LIMIT $2",
    )
    .bind(q)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(at, actor_label, action, target_kind, target_id, detail)| AuditEntry {
                at,
                actor_label,
                action,
                target_kind,
                target_id,
                detail,
            },
        )
        .collect())
}

pub async fn count_users(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM staff_users")
        .fetch_one(&db.pool)
        .await
}

/// A staff action on one kind of record, for activity feeds.
pub struct ActionEntry {
    pub at: i64,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub target_id: String,
    pub detail: String,
}

/// The newest audited `actions` on records of `target_kind`, newest first.
pub async fn recent_actions(
    db: &Db,
    target_kind: &str,
    actions: &[&str],
    limit: i64,
) -> Result<Vec<ActionEntry>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>, String, String, String)> = sqlx::query_as(
        "SELECT at, actor_user_id, action, target_id, detail FROM audit_log \
         WHERE target_kind = $1 AND (',' || $2 || ',') LIKE ('%,' || action || ',%') \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(target_kind)
    .bind(actions.join(","))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(at, actor_user_id, action, target_id, detail)| ActionEntry {
                at,
                actor_user_id,
                action,
                target_id,
                detail,
            },
        )
        .collect())
}
