//! The pages of two-step sign-in: the second step after the password, the
//! enrolment a requirement forces at sign-in, and the member's own section
//! of `/admin/account` (set up, confirm, switch off) and the admins' switch
//! in `/admin/settings`. Between the password and the second step the
//! browser holds only a signed, short-lived cookie naming the member, never
//! a session.

use super::{
    StaffUser,
    audit::{self, Actor},
    auth::{Admin, Staff},
    db,
    handlers::start_session,
    two_factor::{self, Enrolment},
};
use crate::{
    error::{AppError, AppResult},
    platform::{
        Platform,
        forms::Form,
        settings,
        templates::{Page, render, render_with},
    },
};
use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

const PENDING_COOKIE: &str = "oc_second_step";
const PENDING_PURPOSE: &str = "staff second step";
const PENDING_MINUTES: i64 = 10;
const WRONG_CODE: &str = "That code is not right, or it was used already. Codes change every 30 seconds: type the one your app shows now, or one of your recovery codes.";

/// What the browser still has to do after a correct password.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Type a code (or a recovery code).
    Code,
    /// Set up a second factor first: admins require one.
    Enrol,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Code => "code",
            Step::Enrol => "enrol",
        }
    }
}

fn pending_cookie(state: &Platform, step: Step, user_id: i64) -> Cookie<'static> {
    let expires = state.clock.now() + PENDING_MINUTES * 60_000;
    let value = state.keyring.sign(
        PENDING_PURPOSE,
        &format!("{}.{user_id}.{expires}", step.name()),
    );
    Cookie::build((PENDING_COOKIE, value))
        .path("/admin/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.is_https())
        .build()
}

/// The cookie that ends a second step (set when the session starts).
pub(crate) fn pending_removal(https: bool) -> Cookie<'static> {
    let mut c = Cookie::build((PENDING_COOKIE, ""))
        .path("/admin/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .build();
    c.make_removal();
    c
}

/// The active member this browser is at `step` for, if its cookie is
/// genuine, fresh and theirs.
async fn pending(state: &Platform, headers: &HeaderMap, step: Step) -> AppResult<StaffUser> {
    let jar = CookieJar::from_headers(headers);
    let cookie = jar.get(PENDING_COOKIE).ok_or(AppError::Unauthorized)?;
    let data = state
        .keyring
        .verify(PENDING_PURPOSE, cookie.value())
        .ok_or(AppError::Unauthorized)?;
    let mut parts = data.split('.');
    let (Some(name), Some(id), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AppError::Unauthorized);
    };
    let id: i64 = id.parse().map_err(|_| AppError::Unauthorized)?;
    let expires: i64 = expires.parse().map_err(|_| AppError::Unauthorized)?;
    if name != step.name() || expires < state.clock.now() {
        return Err(AppError::Unauthorized);
    }
    db::active_user(&state.db, id)
        .await?
        .ok_or(AppError::Unauthorized)
}

/// After a correct password: the second step's page when the member has a
/// second factor, enrolment when admins require one they lack, `None` to
/// sign in at once.
pub(crate) async fn after_password(
    state: &Platform,
    user: &StaffUser,
) -> AppResult<Option<Response>> {
    let step = if two_factor::is_enabled(&state.db, user.id).await? {
        Step::Code
    } else if two_factor::required(&state.db).await? {
        Step::Enrol
    } else {
        return Ok(None);
    };
    let target = match step {
        Step::Code => "/admin/login/code",
        Step::Enrol => "/admin/login/enrol",
    };
    let jar = CookieJar::new().add(pending_cookie(state, step, user.id));
    Ok(Some((jar, Redirect::to(target)).into_response()))
}

#[derive(askama::Template)]
#[template(path = "staff/login_code.html")]
struct CodePage {
    page: Page,
    error: String,
}

pub async fn show_code_step(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
) -> AppResult<Response> {
    pending(&state, &headers, Step::Code).await?;
    render(&CodePage {
        page: page.titled("Your sign-in code"),
        error: String::new(),
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn check_code_step(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let user = pending(&state, &headers, Step::Code).await?;
    state.rate_limits.check_second_step(user.id)?;
    let mut tx = state.db.begin().await?;
    let proof = two_factor::verify(&state, &mut tx, &user, &form.code).await?;
    let Some(proof) = proof else {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "two-factor-refused",
            "staff_user",
            user.id,
            "a wrong or used code at sign-in",
        )
        .await?;
        tx.commit().await?;
        let body = CodePage {
            page: page.titled("Your sign-in code"),
            error: WRONG_CODE.into(),
        };
        return render_with(StatusCode::UNAUTHORIZED, &body);
    };
    tx.commit().await?;
    let to_admin = Redirect::to("/admin").into_response();
    start_session(&state, &user, &format!("with {}", proof.label()), to_admin).await
}

#[derive(askama::Template)]
#[template(path = "staff/two_factor_enrol.html")]
struct EnrolPage {
    page: Page,
    enrolment: Enrolment,
    /// Where the first code is posted.
    action: &'static str,
    /// Admins require it: the page says so and offers no "cancel".
    required: bool,
    error: String,
}

#[derive(askama::Template)]
#[template(path = "staff/two_factor_codes.html")]
struct CodesPage {
    page: Page,
    codes: Vec<String>,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn show_enrol_at_sign_in(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
) -> AppResult<Response> {
    let user = pending(&state, &headers, Step::Enrol).await?;
    let Some(enrolment) = two_factor::enrolment(&state, &user).await? else {
        // Set up meanwhile (another tab): the ordinary second step.
        let jar = CookieJar::new().add(pending_cookie(&state, Step::Code, user.id));
        return Ok((jar, Redirect::to("/admin/login/code")).into_response());
    };
    Ok(no_store(render(&EnrolPage {
        page: page.titled("Set up two-step sign-in"),
        enrolment,
        action: "/admin/login/enrol",
        required: true,
        error: String::new(),
    })?))
}

pub async fn confirm_enrol_at_sign_in(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let user = pending(&state, &headers, Step::Enrol).await?;
    state.rate_limits.check_second_step(user.id)?;
    let Some(codes) = confirm_with(&state, &user, &form.code).await? else {
        return enrol_again(&state, page, &user, "/admin/login/enrol", true).await;
    };
    let body = render(&CodesPage {
        page: page.titled("Your recovery codes"),
        codes,
    })?;
    start_session(
        &state,
        &user,
        "after setting up two-step sign-in",
        no_store(body),
    )
    .await
}

/// Confirms `user`'s enrolment with the first code (audited); the recovery codes.
async fn confirm_with(
    state: &Platform,
    user: &StaffUser,
    code: &str,
) -> AppResult<Option<Vec<String>>> {
    let mut tx = state.db.begin().await?;
    let codes = two_factor::confirm(state, &mut tx, user, code).await?;
    if codes.is_some() {
        audit::record(
            &mut tx,
            Actor::Staff(user),
            "two-factor-on",
            "staff_user",
            user.id,
            "two-step sign-in set up, ten recovery codes issued",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(codes)
}

async fn enrol_again(
    state: &Platform,
    page: Page,
    user: &StaffUser,
    action: &'static str,
    at_sign_in: bool,
) -> AppResult<Response> {
    let enrolment = two_factor::enrolment(state, user)
        .await?
        .ok_or(AppError::Gone)?;
    let required = at_sign_in || two_factor::required(&state.db).await?;
    Ok(no_store(render_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &EnrolPage {
            page: page.titled("Set up two-step sign-in"),
            enrolment,
            action,
            required,
            error: WRONG_CODE.into(),
        },
    )?))
}

/// `/admin/account`: start setting up a second factor.
pub async fn start_enrolment(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
) -> AppResult<Response> {
    if two_factor::enrolment(&state, &user).await?.is_none() {
        return Ok(Redirect::to("/admin/account").into_response());
    }
    Ok(Redirect::to("/admin/account/two-factor").into_response())
}

pub async fn show_enrolment(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
) -> AppResult<Response> {
    let Some(enrolment) = two_factor::enrolment(&state, &user).await? else {
        return Ok(Redirect::to("/admin/account").into_response());
    };
    Ok(no_store(render(&EnrolPage {
        page: page.titled("Set up two-step sign-in"),
        enrolment,
        action: "/admin/account/two-factor/confirm",
        required: two_factor::required(&state.db).await?,
        error: String::new(),
    })?))
}

pub async fn confirm_enrolment(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    state.rate_limits.check_second_step(user.id)?;
    let Some(codes) = confirm_with(&state, &user, &form.code).await? else {
        return enrol_again(
            &state,
            page,
            &user,
            "/admin/account/two-factor/confirm",
            false,
        )
        .await;
    };
    Ok(no_store(render(&CodesPage {
        page: page.titled("Your recovery codes"),
        codes,
    })?))
}

/// Switches the second factor off: only with a current code (or a recovery code).
pub async fn disable(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    state.rate_limits.check_second_step(user.id)?;
    let mut tx = state.db.begin().await?;
    let Some(proof) = two_factor::verify(&state, &mut tx, &user, &form.code).await? else {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "two-factor-refused",
            "staff_user",
            user.id,
            "a wrong or used code to switch two-step sign-in off",
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Unprocessable(WRONG_CODE.into()));
    };
    two_factor::disable(&mut tx, user.id).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "two-factor-off",
        "staff_user",
        user.id,
        &format!("confirmed with {}", proof.label()),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/account?saved=1").into_response())
}

/// Abandons a setup not confirmed yet.
pub async fn cancel_enrolment(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if two_factor::cancel_enrolment(&mut tx, user.id).await? {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "two-factor-cancel",
            "staff_user",
            user.id,
            "setting up two-step sign-in abandoned before the first code",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/account").into_response())
}

#[derive(Deserialize)]
pub struct RequireForm {
    #[serde(default)]
    required: Option<String>,
}

/// `/admin/settings`: admins require (or stop requiring) two-step sign-in.
pub async fn save_requirement(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    Form(form): Form<RequireForm>,
) -> AppResult<Response> {
    let on = form.required.is_some();
    let mut tx = state.db.begin().await?;
    settings::put(
        &mut tx,
        two_factor::REQUIRE_SETTING,
        if on { "on" } else { "off" },
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "update",
        "settings",
        "site",
        if on {
            "two-step sign-in required of all staff"
        } else {
            "two-step sign-in no longer required"
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/settings").into_response())
}
