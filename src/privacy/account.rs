//! Signing a visitor in to their account without a password, by the
//! machinery of the my-data links: a link mailed to an address we know
//! (single-use, expiring, claimed by the first browser that opens it), a
//! button on the page it opens (a mail scanner following the link signs no
//! one in), then a 30-day session whose token the browser keeps in a cookie
//! and the database only as a hash. What the account shows is the
//! features' business (the account feature); this module knows no feature.

use super::{
    inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
    subjects::{self, Subject},
};
use crate::{
    error::AppError,
    platform::{
        Platform,
        db::Db,
        forms::EmailAddress,
        mail::{self, EmailTemplate, Recipient},
        now_ms, random_token, token_hash,
    },
};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use axum_extra::extract::cookie::CookieJar;

/// How long a sign-in link works once mailed.
pub const LINK_VALID_MS: i64 = 3_600_000;
/// How long a session lasts from sign-in (not extended by use).
pub const SESSION_DAYS: i64 = 30;
const SESSION_MS: i64 = SESSION_DAYS * 86_400_000;
/// The session cookie; under https the `__Host-` name (Secure, host-only, Path=/).
pub const COOKIE: &str = "oc_account";
pub const COOKIE_HTTPS: &str = "__Host-oc_account";
/// Binds a sign-in link to the browser that opened it first.
pub const CLAIM_COOKIE: &str = "oc_account_link";
/// `last_seen_at` is written at most this often per session.
const SEEN_EVERY_MS: i64 = 60_000;

pub const TABLES: &[Table] = &[
    Table {
        name: "account_links",
        feature: "your account (sign-in links)",
        title: "Sign-in links to your account",
        summary: "Sign-in link sent {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(2),
        personal: &[Field {
            column: "email",
            label: "the address a sign-in link was sent to",
            category: Category::Contact,
            purpose: "to send you the link that signs you in to your account",
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "subject_id",
            "token_hash",
            "created_at",
            "expires_at",
            "claim_hash",
            "claimed_at",
            "used_at",
        ],
        columns: &[
            Column::new("id", "Number", Shown::Internal, ROW_ID),
            Column::new("subject_id", "Your record", Shown::Internal, SUBJECT_ID),
            Column::new(
                "email",
                "Sent to",
                Shown::Email,
                "The address we mailed the sign-in link to.",
            ),
            Column::new(
                "token_hash",
                "Link fingerprint",
                Shown::Internal,
                "A one-way fingerprint of the link, so that only the link itself opens it.",
            ),
            Column::new(
                "created_at",
                "Sent",
                Shown::DateTime,
                "When we mailed the link.",
            ),
            Column::new(
                "expires_at",
                "Expires",
                Shown::DateTime,
                "When the link stops working.",
            ),
            Column::new(
                "claim_hash",
                "Browser fingerprint",
                Shown::Internal,
                "A one-way fingerprint of the browser that opened the link first: only it may use the link.",
            ),
            Column::new(
                "claimed_at",
                "Opened",
                Shown::DateTime,
                "When the link was first opened.",
            ),
            Column::new(
                "used_at",
                "Used",
                Shown::DateTime,
                "When the link signed you in.",
            ),
        ],
    },
    Table {
        name: "account_sessions",
        feature: "your account (signed-in browsers)",
        title: "Browsers signed in to your account",
        summary: "Signed in on {device} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(SESSION_DAYS as u32),
        personal: &[
            Field {
                column: "email",
                label: "the address you signed in to your account with",
                category: Category::Contact,
                purpose: "to fill in your address on our forms while you are signed in",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "device",
                label: "the kind of browser a session of your account is in (like \"Firefox on Linux\"; not the full browser string)",
                category: Category::Technical,
                purpose: "to let you recognise and end your signed-in sessions",
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "subject_id",
            "token_hash",
            "created_at",
            "last_seen_at",
            "expires_at",
        ],
        columns: &[
            Column::new("id", "Number", Shown::Internal, ROW_ID),
            Column::new("subject_id", "Your record", Shown::Internal, SUBJECT_ID),
            Column::new(
                "email",
                "Signed in as",
                Shown::Email,
                "The address this browser is signed in with.",
            ),
            Column::new(
                "device",
                "Browser",
                Shown::Text,
                "The kind of browser, so you can tell your sessions apart.",
            ),
            Column::new(
                "token_hash",
                "Session fingerprint",
                Shown::Internal,
                "A one-way fingerprint of the browser's session cookie.",
            ),
            Column::new(
                "created_at",
                "Signed in",
                Shown::DateTime,
                "When this browser signed in.",
            ),
            Column::new(
                "last_seen_at",
                "Last used",
                Shown::DateTime,
                "When this browser last used your account.",
            ),
            Column::new(
                "expires_at",
                "Ends",
                Shown::DateTime,
                "When the session ends by itself.",
            ),
        ],
    },
];

crate::email_template!(pub struct SignInMail { company: String, link: String, minutes: i64 }
    subject "email/account_sign_in/subject.txt",
    text "email/account_sign_in/body.txt",
    html "email/account_sign_in/body.html",
);

pub fn cookie_name(https: bool) -> &'static str {
    if https { COOKIE_HTTPS } else { COOKIE }
}

/// Mails a sign-in link if we hold anything about the address; the caller
/// answers the same either way (no account enumeration). The link's id.
pub async fn request_link(state: &Platform, email: &EmailAddress) -> anyhow::Result<Option<i64>> {
    let Some(subject) = subjects::find(&state.db, &state.keyring, email.as_str()).await? else {
        return Ok(None);
    };
    let token = random_token(32);
    let now = now_ms();
    let site = state.site();
    let link = state
        .config
        .base_url
        .join(&format!("account/sign-in/{token}"))?
        .to_string();
    let mut tx = state.db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO account_links (subject_id, token_hash, email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(subject.id)
    .bind(token_hash(&token))
    .bind(subject.seal("account_links", "email", email.as_str()))
    .bind(now)
    .bind(now + LINK_VALID_MS)
    .fetch_one(&mut *tx)
    .await?;
    let mail = SignInMail {
        company: site.company_name.clone(),
        link,
        minutes: LINK_VALID_MS / 60_000,
    };
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::Subject(&subject),
        "account-sign-in",
        &format!("account-sign-in:{id}"),
        &mail.to_mail(email.as_str())?,
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Some(id))
}

/// Why a sign-in link does not work (all answered 410 but for `Unknown`).
#[derive(Debug, PartialEq, Eq)]
pub enum LinkProblem {
    /// No such link (a typo, a forged token): 404.
    Unknown,
    Expired,
    Used,
    /// Another browser opened it first.
    OtherBrowser,
}

impl LinkProblem {
    pub fn message(&self) -> &'static str {
        match self {
            LinkProblem::Unknown => {
                "This sign-in link is not one of ours. Please check that the whole link was copied, or ask for a new one."
            }
            LinkProblem::Expired => {
                "This sign-in link has expired: links work for an hour. Ask for a new one below."
            }
            LinkProblem::Used => {
                "This sign-in link was already used: each link signs in once. Ask for a new one below."
            }
            LinkProblem::OtherBrowser => {
                "This sign-in link was opened in another browser first, and only works there. If that was not you, ask for a new link below: nothing was signed in here."
            }
        }
    }
}

/// A sign-in link opened in this browser: whom it signs in.
pub struct OpenedLink {
    pub id: i64,
    pub email: String,
    pub subject: Subject,
    /// `Set-Cookie` value claiming the link for this browser, on first opening.
    pub set_cookie: Option<String>,
}

type LinkRow = (i64, i64, Vec<u8>, i64, Option<String>, Option<i64>);

/// Checks a link and claims it for this browser if no browser has.
pub async fn open_link(
    state: &Platform,
    headers: &HeaderMap,
    token: &str,
) -> anyhow::Result<Result<OpenedLink, LinkProblem>> {
    let row: Option<LinkRow> = sqlx::query_as(
        "SELECT id, subject_id, email, expires_at, claim_hash, used_at FROM account_links \
         WHERE token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((id, subject_id, sealed_email, expires_at, claim_hash, used_at)) = row else {
        return Ok(Err(LinkProblem::Unknown));
    };
    let Some(key) = subjects::key(&state.db, &state.keyring, subject_id).await? else {
        return Ok(Err(LinkProblem::Unknown));
    };
    let subject = Subject {
        id: subject_id,
        key,
    };
    if used_at.is_some() {
        return Ok(Err(LinkProblem::Used));
    }
    if expires_at < now_ms() {
        return Ok(Err(LinkProblem::Expired));
    }
    let mut set_cookie = None;
    match claim_hash {
        Some(claim) => {
            let mine = CookieJar::from_headers(headers)
                .get(CLAIM_COOKIE)
                .is_some_and(|c| token_hash(c.value()) == claim);
            if !mine {
                return Ok(Err(LinkProblem::OtherBrowser));
            }
        }
        None => {
            let secret = random_token(32);
            let claimed = sqlx::query(
                "UPDATE account_links SET claim_hash = $1, claimed_at = $2 \
                 WHERE id = $3 AND claim_hash IS NULL",
            )
            .bind(token_hash(&secret))
            .bind(now_ms())
            .bind(id)
            .execute(&state.db.pool)
            .await?
            .rows_affected();
            if claimed != 1 {
                return Ok(Err(LinkProblem::OtherBrowser));
            }
            let secure = if state.config.is_https() {
                "; Secure"
            } else {
                ""
            };
            set_cookie = Some(format!(
                "{CLAIM_COOKIE}={secret}; Path=/account/sign-in; HttpOnly; SameSite=Lax; Max-Age=3600{secure}"
            ));
        }
    }
    let email = subject.open("account_links", "email", &sealed_email)?;
    Ok(Ok(OpenedLink {
        id,
        email,
        subject,
        set_cookie,
    }))
}

/// Uses the link (once) and starts a session; the `Set-Cookie` value of the
/// session, or `None` when the link was used in the meantime.
pub async fn sign_in(
    state: &Platform,
    link: &OpenedLink,
    user_agent: &str,
) -> anyhow::Result<Option<String>> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let used =
        sqlx::query("UPDATE account_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(link.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if used != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let token = random_token(32);
    let subject = &link.subject;
    sqlx::query(
        "INSERT INTO account_sessions (subject_id, token_hash, email, device, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $5, $6)",
    )
    .bind(subject.id)
    .bind(token_hash(&token))
    .bind(subject.seal("account_sessions", "email", &link.email))
    .bind(subject.seal("account_sessions", "device", &device_label(user_agent)))
    .bind(now)
    .bind(now + SESSION_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(session_cookie(state, &token, SESSION_MS / 1000)))
}

/// The `Set-Cookie` value of a session cookie (`max_age` 0 removes it).
pub fn session_cookie(state: &Platform, token: &str, max_age_secs: i64) -> String {
    let https = state.config.is_https();
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        cookie_name(https)
    )
}

/// The browser family and system from a User-Agent, coarsely: the full
/// string is never kept.
pub fn device_label(user_agent: &str) -> String {
    let ua = user_agent.to_ascii_lowercase();
    let browser = if ua.contains("edg/") || ua.contains("edge/") {
        "Edge"
    } else if ua.contains("opr/") || ua.contains("opera") {
        "Opera"
    } else if ua.contains("firefox/") || ua.contains("fxios/") {
        "Firefox"
    } else if ua.contains("chrome/") || ua.contains("chromium/") || ua.contains("crios/") {
        "Chrome"
    } else if ua.contains("safari/") {
        "Safari"
    } else {
        "A browser"
    };
    let system = if ua.contains("iphone") {
        "iPhone"
    } else if ua.contains("ipad") {
        "iPad"
    } else if ua.contains("android") {
        "Android"
    } else if ua.contains("windows") {
        "Windows"
    } else if ua.contains("mac os") || ua.contains("macintosh") {
        "macOS"
    } else if ua.contains("cros") {
        "ChromeOS"
    } else if ua.contains("linux") {
        "Linux"
    } else {
        ""
    };
    if system.is_empty() {
        browser.to_string()
    } else {
        format!("{browser} on {system}")
    }
}

/// A signed-in visitor: their subject and the address they signed in with.
#[derive(Clone, Debug)]
pub struct AccountSession {
    pub id: i64,
    pub subject: Subject,
    pub email: String,
}

/// The signed-in visitor of a request, if any (an extractor; never
/// refuses: an unknown, ended, expired or altered cookie is no session).
#[derive(Clone, Debug)]
pub struct MaybeAccount(pub Option<AccountSession>);

impl MaybeAccount {
    pub fn email(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.email.as_str())
    }
}

impl<S> FromRequestParts<S> for MaybeAccount
where
    S: Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(found) = parts.extensions.get::<MaybeAccount>() {
            return Ok(found.clone());
        }
        let state = Platform::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let found = match jar.get(cookie_name(state.config.is_https())) {
            Some(c) => session(&state, c.value()).await?,
            None => None,
        };
        let found = MaybeAccount(found);
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

type SessionRow = (i64, i64, Vec<u8>, i64);

/// The live session a cookie value names.
async fn session(state: &Platform, token: &str) -> anyhow::Result<Option<AccountSession>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let now = now_ms();
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id, subject_id, email, last_seen_at FROM account_sessions \
         WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((id, subject_id, sealed_email, last_seen)) = row else {
        return Ok(None);
    };
    let Some(key) = subjects::key(&state.db, &state.keyring, subject_id).await? else {
        return Ok(None);
    };
    let subject = Subject {
        id: subject_id,
        key,
    };
    if now - last_seen > SEEN_EVERY_MS {
        sqlx::query("UPDATE account_sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&state.db.pool)
            .await?;
    }
    let email = subject.open("account_sessions", "email", &sealed_email)?;
    Ok(Some(AccountSession { id, subject, email }))
}

/// One signed-in browser of a person, for their sessions list.
pub struct SessionView {
    pub id: i64,
    pub device: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub current: bool,
}

/// The person's live sessions, this one first, then the most recently used.
pub async fn sessions(db: &Db, current: &AccountSession) -> anyhow::Result<Vec<SessionView>> {
    let rows: Vec<(i64, Vec<u8>, i64, i64)> = sqlx::query_as(
        "SELECT id, device, created_at, last_seen_at FROM account_sessions \
         WHERE subject_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC, id DESC",
    )
    .bind(current.subject.id)
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    let mut out = rows
        .into_iter()
        .map(|(id, device, created_at, last_seen_at)| {
            Ok(SessionView {
                id,
                device: current
                    .subject
                    .open("account_sessions", "device", &device)?,
                created_at,
                last_seen_at,
                current: id == current.id,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.sort_by_key(|s| !s.current);
    Ok(out)
}

/// Ends one of the person's sessions; false if it is not theirs (or gone).
pub async fn end_session(db: &Db, subject_id: i64, session_id: i64) -> anyhow::Result<bool> {
    let n = sqlx::query("DELETE FROM account_sessions WHERE id = $1 AND subject_id = $2")
        .bind(session_id)
        .bind(subject_id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Ends every session of the person ("sign out everywhere").
pub async fn end_all(db: &Db, subject_id: i64) -> anyhow::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM account_sessions WHERE subject_id = $1")
            .bind(subject_id)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// A `Set-Cookie` header value, for handlers to append.
pub fn header_value(cookie: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(cookie).ok()
}

/// Adds `Set-Cookie` values and `Cache-Control: no-store` (an account page
/// is never for a shared cache).
pub fn private_response(
    mut response: axum::response::Response,
    cookies: &[String],
) -> axum::response::Response {
    for c in cookies {
        if let Some(v) = header_value(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_coarsely() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "A browser"),
            ("", "A browser"),
        ];
        for (ua, label) in cases {
            assert_eq!(device_label(ua), label, "{ua}");
        }
    }
}
