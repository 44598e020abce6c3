//! Staff authentication as extractors: `Staff<Admin>` in a handler's
//! arguments is the whole access check. Sessions live in the database
//! (hashed opaque ids), so several instances share them.

use super::{Role, StaffUser, db};
use crate::{
    error::AppError,
    platform::{Platform, token_hash},
};
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
    response::IntoResponse,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::marker::PhantomData;

pub const SESSION_COOKIE: &str = "oc_session";
pub const SESSION_HOURS: i64 = 12;
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Where a signed-in member sets up a second factor (and every step of it).
const ENROLMENT: &str = "/admin/account/two-factor";

/// Which role an extractor demands.
pub trait Requirement {
    const ROLE: Option<Role>;
}
pub struct AnyStaff;
pub struct Admin;
pub struct Agent;
pub struct Editor;
impl Requirement for AnyStaff {
    const ROLE: Option<Role> = None;
}
impl Requirement for Admin {
    const ROLE: Option<Role> = Some(Role::Admin);
}
impl Requirement for Agent {
    const ROLE: Option<Role> = Some(Role::Agent);
}
impl Requirement for Editor {
    const ROLE: Option<Role> = Some(Role::Editor);
}

/// A signed-in staff member holding role `R` (an admin holds every role).
pub struct Staff<R = AnyStaff>(pub StaffUser, pub PhantomData<R>);

impl<R> std::ops::Deref for Staff<R> {
    type Target = StaffUser;
    fn deref(&self) -> &StaffUser {
        &self.0
    }
}

impl<S, R> FromRequestParts<S> for Staff<R>
where
    S: Send + Sync,
    R: Requirement + Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = match parts.extensions.get::<StaffUser>() {
            Some(u) => u.clone(),
            None => {
                let jar = CookieJar::from_headers(&parts.headers);
                let token = jar.get(SESSION_COOKIE).ok_or(AppError::Unauthorized)?;
                let platform = Platform::from_ref(state);
                let user = db::user_for_session(&platform.db, &token_hash(token.value()))
                    .await?
                    .ok_or(AppError::Unauthorized)?;
                // Signed in before admins required a second factor: set
                // one up before anything else.
                if !parts.uri.path().starts_with(ENROLMENT)
                    && super::two_factor::owed(&platform.db, user.id).await?
                {
                    let to = axum::response::Redirect::to(ENROLMENT);
                    return Err(AppError::Answered(Box::new(to.into_response())));
                }
                parts.extensions.insert(user.clone());
                user
            }
        };
        if let Some(required) = R::ROLE
            && !user.role.allows(required)
        {
            return Err(AppError::Forbidden);
        }
        Ok(Staff(user, PhantomData))
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash; with no hash (unknown user)
/// it still does the work, so timing does not reveal which emails exist.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3m1Vn5Rj1V1jUv0eVg1j0Zx8L9nqC6rQw0mZr2c1k3U";
    let hash = stored.unwrap_or(DUMMY);
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && stored.is_some()
}

pub fn password_problem(password: &str) -> Option<String> {
    (password.chars().count() < MIN_PASSWORD_CHARS)
        .then(|| format!("Use at least {MIN_PASSWORD_CHARS} characters."))
}

pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie(String::new(), secure);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong horse battery", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
    }
}
