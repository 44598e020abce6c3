//! Cookie consent: the banner, the /cookies page, the signed `oc_consent`
//! cookie that remembers a choice, and the hash-chained proof ledger of
//! every choice made. Third-party tags (off by default) live in [`tags`].
//!
//! Signals win: with `DNT: 1` or `Sec-GPC: 1` the tracking categories are
//! off without asking. A visitor may still opt in explicitly; the choice is
//! recorded, but while the browser sends the signal nothing that tracks runs
//! (`Privacy::tracking_allowed`).

pub mod admin;
mod handlers;
pub mod ledger;
pub mod tags;

use crate::{
    AppState,
    platform::{Platform, Privacy, crypto::Keyring, subjects::Subject, token_hash},
    privacy::inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
};
use axum::{
    Router,
    http::{HeaderMap, HeaderValue, header},
    response::Response,
    routing::get,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use futures_util::future::BoxFuture;

pub const CONSENT_COOKIE: &str = "oc_consent";
const SIGNING_PURPOSE: &str = "consent";
/// A choice is asked again after this long.
const COOKIE_DAYS: i64 = 180;

pub const TABLES: &[Table] = &[
    Table {
        name: "consent_records",
        feature: "cookie choices (proof of consent)",
        title: "Cookie choice ledger",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        // `visitor` is a hash of the random number in a consent cookie: it
        // names nobody unless the person links it (see `consent_receipts`).
        personal: &[],
        other: &[
            "id",
            "created_at",
            "visitor",
            "preferences",
            "analytics",
            "marketing",
            "policy_version",
            "dnt",
            "gpc",
            "via",
            "prev_hash",
            "hash",
        ],
        columns: &[],
    },
    Table {
        name: "consent_receipts",
        feature: "cookie choices (proof of consent)",
        title: "Your cookie choices",
        summary: "Cookie choices · {linked_at}",
        subject_column: Some("subject_id"),
        created_column: Some("linked_at"),
        retention: Retention::UntilErased,
        personal: &[Field {
            column: "receipt",
            label: "the cookie choices made in your browser (time, choices, policy version, signals)",
            category: Category::Technical,
            purpose: "to show you, and prove, what you agreed to",
            encrypted: true,
            shared_with: &[],
        }],
        other: &["id", "subject_id", "record_id", "record_hash", "linked_at"],
        columns: &[
            Column::new(
                "receipt",
                "Choices",
                Shown::Record,
                "What you chose in your browser, when, under which policy version, and the privacy signals it sent.",
            ),
            Column::new(
                "linked_at",
                "Linked to you",
                Shown::DateTime,
                "When you opened this page in that browser, which linked its choices to you.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal(
                "record_id",
                "The entry in our record of consents that this copies.",
            ),
            Column::internal(
                "record_hash",
                "The fingerprint of that entry, which proves it has not been changed.",
            ),
        ],
    },
];

pub use crate::platform::context::Consent;

/// The optional categories, as chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    pub preferences: bool,
    pub analytics: bool,
    pub marketing: bool,
}

impl Choices {
    pub const ALL: Choices = Choices {
        preferences: true,
        analytics: true,
        marketing: true,
    };
    pub const NONE: Choices = Choices {
        preferences: false,
        analytics: false,
        marketing: false,
    };

    fn flags(self) -> String {
        [self.preferences, self.analytics, self.marketing]
            .iter()
            .map(|b| if *b { '1' } else { '0' })
            .collect()
    }

    fn from_flags(s: &str) -> Option<Choices> {
        let b: Vec<bool> = s
            .chars()
            .map(|c| match c {
                '0' => Some(false),
                '1' => Some(true),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match b[..] {
            [preferences, analytics, marketing] => Some(Choices {
                preferences,
                analytics,
                marketing,
            }),
            _ => None,
        }
    }

    /// "analytics, marketing" or "none", for people.
    pub fn describe(self) -> String {
        let on: Vec<&str> = [
            (self.preferences, "preferences"),
            (self.analytics, "analytics"),
            (self.marketing, "marketing"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        if on.is_empty() {
            "necessary only".into()
        } else {
            format!("necessary, {}", on.join(", "))
        }
    }
}

impl Consent {
    /// Reads the signed cookie; a missing, altered or malformed one is "not decided".
    pub fn from_cookie(value: Option<&str>, keyring: &Keyring) -> Consent {
        let Some(data) = value.and_then(|v| keyring.verify(SIGNING_PURPOSE, v)) else {
            return Consent::default();
        };
        let Some((id, flags)) = data.split_once(':') else {
            return Consent::default();
        };
        match Choices::from_flags(flags) {
            Some(c) if valid_id(id) => Consent {
                decided: true,
                preferences: c.preferences,
                analytics: c.analytics,
                marketing: c.marketing,
                id: Some(id.to_string()),
            },
            _ => Consent::default(),
        }
    }

    pub fn from_headers(headers: &HeaderMap, keyring: &Keyring) -> Consent {
        let jar = CookieJar::from_headers(headers);
        Consent::from_cookie(jar.get(CONSENT_COOKIE).map(|c| c.value()), keyring)
    }

    pub fn choices(&self) -> Choices {
        Choices {
            preferences: self.preferences,
            analytics: self.analytics,
            marketing: self.marketing,
        }
    }

    /// Whether the banner asks on this page: not once a choice is made, not
    /// on the cookie page itself, never in the back office.
    pub fn show_banner(&self, path: &str) -> bool {
        !self.decided && path != "/cookies" && !path.starts_with("/admin")
    }
}

fn valid_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the ledger stores instead of the cookie's id.
pub fn visitor_of(id: &str) -> String {
    token_hash(id)[..32].to_string()
}

/// The consent cookie for a choice, keeping the browser's id.
fn consent_cookie(id: &str, choices: Choices, keyring: &Keyring, secure: bool) -> String {
    let value = keyring.sign(SIGNING_PURPOSE, &format!("{id}:{}", choices.flags()));
    let cookie = Cookie::build((CONSENT_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    // `time` is not a dependency of ours, so Max-Age is written by hand.
    format!("{cookie}; Max-Age={}", COOKIE_DAYS * 86_400)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Links the choices made in this browser (its consent cookie) to a person
/// who proved who they are in it (the my-data page), so they appear in
/// their export and go with an erasure. The ledger itself stays anonymous.
/// Registered as a [`crate::platform::state::BrowserLink`].
pub fn link_browser<'a>(
    platform: &'a Platform,
    subject: &'a Subject,
    privacy: &'a Privacy,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        if let Some(id) = &privacy.consent.id {
            ledger::link(
                &platform.db,
                subject,
                &visitor_of(id),
                platform.site().time_zone,
            )
            .await?;
        }
        Ok(())
    })
}

/// A cookie choice recorded for a person, as their account lists it.
pub struct OwnChoice {
    pub at: i64,
    /// "necessary, analytics".
    pub choices: String,
    /// "This browser", or "Another browser" (2, 3… when there are several).
    pub browser: String,
    pub via: String,
    /// "Do Not Track, Global Privacy Control", or empty.
    pub signals: String,
    pub policy_version: String,
}

/// The newest cookie choices linked to a person (`link_browser`), each
/// with the browser it was made in told apart from `current` (this
/// browser's choices). Only the person's own receipts are read.
pub async fn choices_of(
    platform: &Platform,
    subject_id: i64,
    current: &Consent,
) -> anyhow::Result<Vec<OwnChoice>> {
    let records = ledger::for_subject(&platform.db, subject_id, 20).await?;
    let this = current.id.as_deref().map(visitor_of);
    let mut others: Vec<&str> = records
        .iter()
        .map(|r| r.visitor.as_str())
        .filter(|v| Some(*v) != this.as_deref())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    others.retain(|v| seen.insert(*v));
    Ok(records
        .iter()
        .map(|r| {
            let browser = if Some(r.visitor.as_str()) == this.as_deref() {
                "This browser".to_string()
            } else if others.len() < 2 {
                "Another browser".to_string()
            } else {
                let n = others.iter().position(|v| *v == r.visitor).unwrap_or(0) + 1;
                format!("Another browser ({n})")
            };
            let signals: Vec<&str> = [(r.dnt, "Do Not Track"), (r.gpc, "Global Privacy Control")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect();
            OwnChoice {
                at: r.created_at,
                choices: r.choices.describe(),
                browser,
                via: format!("on the {}", r.via),
                signals: signals.join(", "),
                policy_version: r.policy_version.clone(),
            }
        })
        .collect())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/cookies",
            get(handlers::show_cookies).post(handlers::save_choices),
        )
        .route("/consent/tag.js", get(tags::serve_init_script))
        .route("/admin/consent", get(admin::show_ledger))
        .route(
            "/admin/consent/tags",
            get(tags::show_settings).post(tags::save_settings),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_round_trips_and_a_forged_one_is_ignored() {
        let keyring = Keyring::from_secret(&[9; 32]);
        let id = crate::platform::random_token(16);
        let choices = Choices {
            preferences: false,
            analytics: true,
            marketing: false,
        };
        let header = consent_cookie(&id, choices, &keyring, false);
        let value = header
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("oc_consent=");
        let c = Consent::from_cookie(Some(value), &keyring);
        assert!(c.decided && c.analytics && !c.marketing && !c.preferences);
        assert_eq!(c.id.as_deref(), Some(id.as_str()));
        assert!(header.contains("HttpOnly") && header.contains("Max-Age=15552000"));
        let forged = value.replace(":010", ":111");
        assert_eq!(
            Consent::from_cookie(Some(&forged), &keyring),
            Consent::default()
        );
        assert!(!Consent::from_cookie(Some("x"), &keyring).decided);
    }

    #[test]
    fn the_banner_asks_until_a_choice_is_made_and_never_in_the_back_office() {
        let c = Consent::default();
        assert!(c.show_banner("/") && c.show_banner("/articles/x"));
        assert!(!c.show_banner("/cookies") && !c.show_banner("/admin/tickets"));
        let decided = Consent {
            decided: true,
            ..Consent::default()
        };
        assert!(!decided.show_banner("/"));
    }
}
