use super::{
    Role,
    audit::{self, Actor},
    auth::{self, Admin, Staff},
    db,
};
use crate::{
    error::{AppError, AppResult},
    platform::Platform,
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        http::csrf_cookie,
        mail::{self, EmailTemplate, Recipient},
        random_token, settings,
        templates::{Page, render, render_with},
        token_hash,
    },
};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(askama::Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    page: Page,
    email: String,
    error: String,
}

pub async fn show_login(page: Page) -> AppResult<Response> {
    render(&LoginPage {
        page: page.titled("Staff sign-in"),
        email: String::new(),
        error: String::new(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn log_in(
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    state.rate_limits.check_account_login(&form.email)?;
    let candidate = db::login_candidate(&state.db, &form.email).await?;
    let stored = candidate.as_ref().and_then(|(_, h, _)| h.clone());
    let password = form.password.clone();
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    let user = match candidate {
        Some((user, _, false)) if ok => user,
        _ => {
            let body = LoginPage {
                page: page.titled("Staff sign-in"),
                email: form.email.trim().to_string(),
                error: "That email and password do not match an active account.".into(),
            };
            return render_with(StatusCode::UNAUTHORIZED, &body);
        }
    };
    let token = random_token(32);
    let mut tx = state.db.begin().await?;
    db::create_session(&mut tx, user.id, &token_hash(&token), auth::SESSION_HOURS).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "login",
        "staff_user",
        user.id,
        "",
    )
    .await?;
    tx.commit().await?;
    let https = state.config.is_https();
    let jar = CookieJar::new().add(auth::session_cookie(token, https));
    let mut response = (jar, Redirect::to("/admin")).into_response();
    // A new CSRF token with the new session: one planted before sign-in
    // (on a shared computer, say) is worthless after it.
    if let Some(v) = csrf_cookie(&random_token(32), https) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

pub async fn log_out(State(state): State<Platform>, headers: HeaderMap) -> AppResult<Response> {
    let jar = CookieJar::from_headers(&headers);
    if let Some(token) = jar.get(auth::SESSION_COOKIE) {
        let hash = token_hash(token.value());
        let mut tx = state.db.begin().await?;
        let user = db::user_for_session(&state.db, &hash).await?;
        if let Some(user) = &user {
            audit::record(
                &mut tx,
                Actor::Staff(user),
                "logout",
                "staff_user",
                user.id,
                "",
            )
            .await?;
        }
        db::delete_session(&mut tx, &hash).await?;
        tx.commit().await?;
        if let Some(user) = user {
            let _ = state.staff_changes.send(user.id);
        }
    }
    let jar = CookieJar::new().add(auth::removal_cookie(state.config.is_https()));
    Ok((jar, Redirect::to("/admin/login")).into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/users.html")]
struct UsersPage {
    page: Page,
    q: String,
    users: Vec<db::UserListItem>,
    roles: [Role; 3],
    form: InviteForm,
    errors: FieldErrors,
    invite_link: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

async fn users_page(
    state: &Platform,
    page: Page,
    q: String,
    form: InviteForm,
    errors: FieldErrors,
    invite_link: String,
) -> AppResult<Response> {
    let users = db::list_users(&state.db, &q).await?;
    let status = errors.status();
    let body = UsersPage {
        page: page.titled("Staff accounts"),
        q,
        users,
        roles: Role::ALL,
        form,
        errors,
        invite_link,
    };
    render_with(status, &body)
}

pub async fn list_users(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    users_page(
        &state,
        page,
        search.q,
        InviteForm::default(),
        FieldErrors::default(),
        String::new(),
    )
    .await
}

crate::email_template!(pub struct InviteMail { inviter: String, company: String, link: String }
    subject "email/staff_invite/subject.txt",
    text "email/staff_invite/body.txt",
    html "email/staff_invite/body.html",
);

pub async fn invite_user(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let email = form
        .email
        .parse::<EmailAddress>()
        .map_err(|m| errors.add("email", m))
        .ok();
    let name = match text(&form.display_name, 100) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            errors.add("display_name", "Please enter a name.");
            None
        }
        Err(m) => {
            errors.add("display_name", m);
            None
        }
    };
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let mut tx = state.db.begin().await?;
    if let Some(email) = &email
        && db::email_taken(&mut tx, email.as_str()).await?
    {
        errors.add("email", "There is already an account with this email.");
    }
    let (Some(email), Some(name), Some(role), true) = (email, name, role, errors.is_empty()) else {
        drop(tx);
        return users_page(&state, page, String::new(), form, errors, String::new()).await;
    };
    let user_id = db::insert_user(&mut tx, email.as_str(), &name, role, None).await?;
    let token = random_token(32);
    db::insert_invite(&mut tx, user_id, &token_hash(&token), 7).await?;
    let link = state
        .config
        .base_url
        .join(&format!("admin/invite/{token}"))
        .map_err(anyhow::Error::from)?
        .to_string();
    let site = state.site();
    let invite = InviteMail {
        inviter: admin.display_name.clone(),
        company: site.company_name.clone(),
        link: link.clone(),
    };
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::System,
        "staff-invite",
        &format!("staff-invite:{user_id}"),
        &invite.to_mail(email.as_str())?,
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "invite",
        "staff_user",
        user_id,
        &format!("role {}", role.as_str()),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    users_page(
        &state,
        page,
        String::new(),
        InviteForm::default(),
        FieldErrors::default(),
        link,
    )
    .await
}

#[derive(Deserialize)]
pub struct UpdateUserForm {
    role: String,
    #[serde(default)]
    disabled: Option<String>,
}

pub async fn update_user(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    Path(id): Path<i64>,
    Form(form): Form<UpdateUserForm>,
) -> AppResult<Response> {
    let role =
        Role::parse(&form.role).ok_or_else(|| AppError::Unprocessable("Unknown role.".into()))?;
    let disabled = form.disabled.is_some();
    let mut tx = state.db.begin().await?;
    let (email, old_role, old_disabled) = db::user_state(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let was_active_admin = old_role == "admin" && old_disabled == 0;
    if was_active_admin
        && (role != Role::Admin || disabled)
        && db::active_admins(&mut tx).await? <= 1
    {
        return Err(AppError::Unprocessable(
            "The last active admin cannot be demoted or disabled.".into(),
        ));
    }
    db::set_role_and_disabled(&mut tx, id, role, disabled).await?;
    if disabled {
        db::delete_sessions_of(&mut tx, id).await?;
    }
    let detail = format!(
        "{email}: role {old_role} -> {}, {}",
        role.as_str(),
        if disabled { "disabled" } else { "enabled" }
    );
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "update",
        "staff_user",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    let _ = state.staff_changes.send(id);
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/invite.html")]
struct InvitePage {
    page: Page,
    email: String,
    error: String,
}

pub async fn show_invite(
    State(state): State<Platform>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (_, email) = db::open_invite(&state.db, &token_hash(&token))
        .await?
        .ok_or(AppError::NotFound)?;
    render(&InvitePage {
        page: page.titled("Set your password"),
        email,
        error: String::new(),
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn accept_invite(
    State(state): State<Platform>,
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let hash = token_hash(&token);
    let (user_id, email) = db::open_invite(&state.db, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(problem) = auth::password_problem(&form.password) {
        let body = InvitePage {
            page: page.titled("Set your password"),
            email,
            error: problem,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let password = form.password;
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let mut tx = state.db.begin().await?;
    if !db::use_invite(&mut tx, &hash, user_id, &password_hash).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::System(&email),
        "accept-invite",
        "staff_user",
        user_id,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/login").into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/audit.html")]
struct AuditPage {
    page: Page,
    q: String,
    entries: Vec<db::AuditEntry>,
}

pub async fn list_audit(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let entries = db::list_audit(&state.db, search.q.trim(), 500).await?;
    render(&AuditPage {
        page: page.titled("Audit log"),
        q: search.q,
        entries,
    })
}

#[derive(askama::Template)]
#[template(path = "staff/settings.html")]
struct SettingsPage {
    page: Page,
    values: Vec<(&'static str, &'static str, String)>,
    errors: FieldErrors,
    saved: bool,
}

fn settings_values(get: impl Fn(&str) -> String) -> Vec<(&'static str, &'static str, String)> {
    settings::FIELDS
        .iter()
        .map(|(k, label)| (*k, *label, get(k)))
        .collect()
}

pub async fn show_settings(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
) -> AppResult<Response> {
    let site = state.site();
    render(&SettingsPage {
        page: page.titled("Settings"),
        values: settings_values(|k| site.get(k).to_string()),
        errors: FieldErrors::default(),
        saved: false,
    })
}

pub async fn save_settings(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let mut values = Vec::new();
    for (key, _) in settings::FIELDS {
        let raw = form.get(*key).map(String::as_str).unwrap_or("");
        match text(raw, 500) {
            Ok(Some(v)) => values.push((*key, v)),
            Ok(None) => errors.add(key, "This cannot be empty."),
            Err(m) => errors.add(key, m),
        }
    }
    if let Some((_, email)) = values.iter().find(|(k, _)| *k == "contact_email")
        && let Err(m) = email.parse::<EmailAddress>()
    {
        errors.add("contact_email", m);
    }
    if !errors.is_empty() {
        let body = SettingsPage {
            page: page.titled("Settings"),
            values: settings_values(|k| form.get(k).cloned().unwrap_or_default()),
            errors,
            saved: false,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    let before = state.site();
    let mut changed = Vec::new();
    for (key, value) in &values {
        if before.get(key) != value {
            changed.push(*key);
        }
        settings::put(&mut tx, key, value).await?;
    }
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "update",
        "settings",
        "site",
        &changed.join(", "),
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    let site = state.site();
    let mut response = render(&SettingsPage {
        page: Page {
            site: site.clone(),
            ..page
        }
        .titled("Settings"),
        values: settings_values(|k| site.get(k).to_string()),
        errors: FieldErrors::default(),
        saved: true,
    })?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Creates a staff account from the command line (the first admin).
pub async fn add_user_cli(
    state: &Platform,
    email: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<i64> {
    let email: EmailAddress = email.parse().map_err(|m: &str| anyhow::anyhow!(m))?;
    if let Some(problem) = auth::password_problem(password) {
        anyhow::bail!("password too short: {problem}");
    }
    let hash = auth::hash_password(password)?;
    let mut tx = state.db.begin().await?;
    if db::email_taken(&mut tx, email.as_str()).await? {
        anyhow::bail!("a staff account with email {email} already exists");
    }
    let name = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("staff")
        .to_string();
    let id = db::insert_user(&mut tx, email.as_str(), &name, role, Some(&hash)).await?;
    audit::record(
        &mut tx,
        Actor::System("cli"),
        "create",
        "staff_user",
        id,
        &format!("role {}", role.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
