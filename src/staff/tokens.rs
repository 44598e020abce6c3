//! API tokens: a staff member's named keys to the JSON API, each with
//! scopes no wider than the owner's role and an optional expiry. The
//! secret (`oc_` and 32 random bytes) is shown once and stored as its
//! SHA-256 (a random 256-bit secret needs no slow hash). A token dies
//! with its owner: disabling the account deletes its tokens, deleting it
//! cascades, and each call re-reads the owner's role and state.
//!
//! [`Bearer<S>`] is the whole access check of an API handler: the scope
//! it needs is in its signature, as the role is in `Staff<R>`.

use super::{Role, StaffUser, audit};
use crate::platform::{
    Platform,
    api::ApiError,
    db::{Db, Tx},
    token_hash,
};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use std::marker::PhantomData;

/// What a token may do. Each scope belongs to one role's area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    TicketsRead,
    TicketsWrite,
    ArticlesRead,
    ArticlesWrite,
    SubscribersRead,
    SubscribersWrite,
    AnalyticsRead,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::TicketsRead,
        Scope::TicketsWrite,
        Scope::ArticlesRead,
        Scope::ArticlesWrite,
        Scope::SubscribersRead,
        Scope::SubscribersWrite,
        Scope::AnalyticsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TicketsRead => "tickets:read",
            Scope::TicketsWrite => "tickets:write",
            Scope::ArticlesRead => "articles:read",
            Scope::ArticlesWrite => "articles:write",
            Scope::SubscribersRead => "subscribers:read",
            Scope::SubscribersWrite => "subscribers:write",
            Scope::AnalyticsRead => "analytics:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The role whose pages hold the same data.
    pub fn role(self) -> Role {
        match self {
            Scope::TicketsRead | Scope::TicketsWrite => Role::Agent,
            Scope::ArticlesRead | Scope::ArticlesWrite => Role::Editor,
            Scope::SubscribersRead | Scope::SubscribersWrite | Scope::AnalyticsRead => Role::Admin,
        }
    }

    /// What the scope allows, in words, for the account page.
    pub fn label(self) -> &'static str {
        match self {
            Scope::TicketsRead => "Read tickets and their conversations",
            Scope::TicketsWrite => "Open, answer, assign and change tickets",
            Scope::ArticlesRead => "Read articles and posts, drafts too",
            Scope::ArticlesWrite => "Write, publish and delete articles and posts",
            Scope::SubscribersRead => "Read subscribers and campaigns",
            Scope::SubscribersWrite => "Add and unsubscribe subscribers",
            Scope::AnalyticsRead => "Read the daily traffic figures",
        }
    }

    /// The scopes a member of `role` may give a token.
    pub fn allowed_for(role: Role) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| role.allows(s.role()))
            .collect()
    }
}

/// A token as its owner sees it listed.
pub struct TokenListItem {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenListItem {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    pub fn scope_names(&self) -> String {
        self.scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// A new token's secret: `oc_` and 32 random bytes, URL-safe base64.
pub fn new_secret() -> String {
    format!("oc_{}", crate::platform::random_token(32))
}

/// Creates a token for `owner` (scopes already checked against the role);
/// returns its id and the secret, which is never stored.
pub async fn create(
    tx: &mut Tx,
    owner: &StaffUser,
    name: &str,
    scopes: &[Scope],
    now: i64,
    expires_at: Option<i64>,
) -> Result<(i64, String), sqlx::Error> {
    let secret = new_secret();
    let stored: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(owner.id)
    .bind(name)
    .bind(token_hash(&secret))
    .bind(stored.join(" "))
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut **tx)
    .await?;
    let detail = format!("API token “{name}”: {}", stored.join(", "));
    audit::record(
        tx,
        audit::Actor::Staff(owner),
        "create",
        "api_token",
        id,
        &detail,
    )
    .await?;
    Ok((id, secret))
}

/// A member's own tokens, newest first.
pub async fn list(db: &Db, user_id: i64) -> Result<Vec<TokenListItem>, sqlx::Error> {
    type Row = (i64, String, String, i64, Option<i64>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, scopes, created_at, expires_at, last_used_at)| TokenListItem {
                id,
                name,
                scopes: parse_scopes(&scopes),
                created_at,
                expires_at,
                last_used_at,
            },
        )
        .collect())
}

/// Revokes one of `owner`'s tokens; `false` when it is not theirs (or gone).
pub async fn revoke(tx: &mut Tx, owner: &StaffUser, id: i64) -> Result<bool, sqlx::Error> {
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING name")
            .bind(id)
            .bind(owner.id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(name) = name else {
        return Ok(false);
    };
    audit::record(
        tx,
        audit::Actor::Staff(owner),
        "revoke",
        "api_token",
        id,
        &format!("API token “{name}”"),
    )
    .await?;
    Ok(true)
}

/// Deletes every token of a member (their account was disabled).
pub async fn delete_all_of(tx: &mut Tx, user_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// The caller of an API request: the token's owner as they are now, and
/// the token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: StaffUser,
    pub token_id: i64,
    pub token_name: String,
    pub scopes: Vec<Scope>,
}

/// Finds the live token with this secret and its enabled owner.
async fn authenticate(db: &Db, secret: &str, now: i64) -> Result<Option<Caller>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        Option<i64>,
        i64,
        String,
        String,
        String,
        String,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.id, t.name, t.scopes, t.last_used_at, \
                u.id, u.email, u.display_name, u.role, u.time_zone \
         FROM api_tokens t JOIN staff_users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND u.disabled = 0 \
           AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(token_hash(secret))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let Some((token_id, token_name, scopes, last_used, id, email, display_name, role, zone)) = row
    else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    // "Last used" to the minute: one write a minute per token, not one a call.
    if last_used.is_none_or(|t| now - t >= 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(token_id)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some(Caller {
        user: StaffUser {
            id,
            email,
            display_name,
            role,
            time_zone: zone.parse().ok(),
        },
        token_id,
        token_name,
        scopes: parse_scopes(&scopes),
    }))
}

/// Which scope an API handler needs.
pub trait Needs {
    const SCOPE: Scope;
}

macro_rules! needs {
    ($($name:ident => $scope:ident),* $(,)?) => {$(
        pub struct $name;
        impl Needs for $name {
            const SCOPE: Scope = Scope::$scope;
        }
    )*};
}

needs! {
    TicketsRead => TicketsRead,
    TicketsWrite => TicketsWrite,
    ArticlesRead => ArticlesRead,
    ArticlesWrite => ArticlesWrite,
    SubscribersRead => SubscribersRead,
    SubscribersWrite => SubscribersWrite,
    AnalyticsRead => AnalyticsRead,
}

/// An API call made with a live token holding scope `S`, whose owner's
/// role still allows it. Only the `Authorization: Bearer` header is read:
/// a session cookie never opens the API. Each token is rate-limited.
pub struct Bearer<S>(pub Caller, pub PhantomData<S>);

impl<S> std::ops::Deref for Bearer<S> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<St, S> FromRequestParts<St> for Bearer<S>
where
    St: Send + Sync,
    S: Needs + Send + Sync,
    Platform: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let caller = match parts.extensions.get::<Caller>() {
            Some(c) => c.clone(),
            None => {
                let secret = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, secret)| secret.trim())
                    .filter(|s| s.starts_with("oc_") && s.len() < 100)
                    .ok_or(ApiError::Unauthorized)?;
                let platform = Platform::from_ref(state);
                let caller = authenticate(&platform.db, secret, platform.clock.now())
                    .await?
                    .ok_or(ApiError::Unauthorized)?;
                platform
                    .rate_limits
                    .check_api(caller.token_id)
                    .map_err(ApiError::TooManyRequests)?;
                parts.extensions.insert(caller.clone());
                caller
            }
        };
        if !caller.scopes.contains(&S::SCOPE) || !caller.user.role.allows(S::SCOPE.role()) {
            return Err(ApiError::MissingScope(S::SCOPE.as_str()));
        }
        Ok(Bearer(caller, PhantomData))
    }
}
