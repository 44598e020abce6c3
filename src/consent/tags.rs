//! A third-party tag (Google Analytics, AdSense…) the owner may add. Off by
//! default. While on, it is included only for visitors who gave marketing
//! consent, send neither DNT nor GPC and are not flagged under 13; only
//! those responses get a Content-Security-Policy that lets it load; the
//! privacy policy names it (it reads [`SiteSettings::third_party`]).
//!
//! The tag's own script loads from its origin; the few lines of set-up code
//! such snippets carry are served from ours (`/consent/tag.js`), since our
//! CSP allows no inline script.

use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{FieldErrors, Form},
        settings,
        templates::{Page, render, render_with},
    },
    privacy::Privacy,
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

const PREFIX: &str = "tags.";

/// `(key, label, help)` of the settings, in form order (`enabled` is a checkbox).
pub const FIELDS: &[(&str, &str, &str)] = &[
    (
        "name",
        "Name",
        "As visitors will read it, like “Google Analytics”.",
    ),
    (
        "script_url",
        "Script address",
        "The https address of the provider's script, like https://www.googletagmanager.com/gtag/js?id=G-XXXX.",
    ),
    (
        "init_script",
        "Set-up code (optional)",
        "The JavaScript inside the snippet's second <script> element, without the tags. We serve it from our own site.",
    ),
    (
        "policy_url",
        "Provider's privacy policy (optional)",
        "Linked from our privacy policy.",
    ),
    (
        "origins",
        "Other origins it talks to (optional)",
        "Space-separated, like https://www.google-analytics.com; the script's own origin is always allowed.",
    ),
];

pub use crate::platform::settings::ThirdPartyTag;

/// The form's values, switched on or not, and what is wrong with them.
#[derive(Clone, Debug, Default)]
pub struct TagSettings {
    pub enabled: bool,
    pub values: BTreeMap<&'static str, String>,
}

fn origin_of(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    ok.then(|| url.origin().ascii_serialization())
}

impl TagSettings {
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    /// Checks every field; the tag when on and valid.
    pub fn validate(&self) -> Result<Option<ThirdPartyTag>, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.get("name").trim();
        let script_url = self.get("script_url").trim();
        let policy_url = self.get("policy_url").trim();
        if name.chars().count() > 60 || name.chars().any(char::is_control) {
            errors.add("name", "Please use at most 60 characters on one line.");
        }
        if self.enabled && name.is_empty() {
            errors.add("name", "Please name the tag: the privacy policy lists it.");
        }
        if !script_url.is_empty() && (origin_of(script_url).is_none() || script_url.len() > 500) {
            errors.add(
                "script_url",
                "Please enter a full http(s) address, like https://example.com/tag.js.",
            );
        }
        if self.enabled && script_url.is_empty() {
            errors.add("script_url", "Please enter the address of the script.");
        }
        if !policy_url.is_empty() && origin_of(policy_url).is_none() {
            errors.add(
                "policy_url",
                "Please enter a full http(s) address, or leave it empty.",
            );
        }
        if self.get("init_script").len() > 10_000 {
            errors.add(
                "init_script",
                "Please keep the set-up code under 10,000 characters.",
            );
        }
        let mut origins = Vec::new();
        for o in self
            .get("origins")
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|o| !o.is_empty())
        {
            match origin_of(o) {
                Some(o) if !origins.contains(&o) => origins.push(o),
                Some(_) => {}
                None => errors.add(
                    "origins",
                    format!("“{o}” is not an origin like https://example.com."),
                ),
            }
        }
        errors.into_result()?;
        Ok(self.enabled.then(|| ThirdPartyTag {
            name: name.to_string(),
            script_url: script_url.to_string(),
            init_script: self.get("init_script").trim().to_string(),
            policy_url: policy_url.to_string(),
            origins,
        }))
    }

    fn from_settings(map: &BTreeMap<String, String>) -> TagSettings {
        TagSettings {
            enabled: map.get("tags.enabled").is_some_and(|v| v == "1"),
            values: FIELDS
                .iter()
                .map(|(k, _, _)| {
                    (
                        *k,
                        map.get(&format!("{PREFIX}{k}"))
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

impl ThirdPartyTag {
    /// The tag from the stored settings, if switched on (and still valid).
    pub fn from_settings(map: &BTreeMap<String, String>) -> Option<ThirdPartyTag> {
        TagSettings::from_settings(map).validate().ok().flatten()
    }

    /// Where the script comes from.
    pub fn origin(&self) -> String {
        origin_of(&self.script_url).unwrap_or_default()
    }

    /// Whether this page carries the tag for this visitor: marketing
    /// allowed, and a public content page (see [`carries_tags`]).
    pub fn allowed_on(&self, privacy: &Privacy, path: &str) -> bool {
        privacy.marketing_allowed() && carries_tags(path)
    }

    /// Changes with the set-up code, so browsers fetch the new one.
    pub fn init_version(&self) -> String {
        hex::encode(&Sha256::digest(self.init_script.as_bytes())[..4])
    }

    /// Our usual policy, widened to the tag's origins.
    pub fn csp(&self) -> String {
        let own = self.origin();
        let mut all = vec![own.clone()];
        all.extend(self.origins.iter().filter(|o| **o != own).cloned());
        let o = all.join(" ");
        format!(
            "default-src 'self'; script-src 'self' {o}; style-src 'self'; img-src 'self' data: {o}; \
             connect-src 'self' {o}; font-src 'self'; frame-src {o}; object-src 'none'; \
             base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// Public content pages, the only ones a vendor's script may run on: never
/// the back office, forms that take personal data, conversations, my-data,
/// the cart and checkout, preference or unsubscribe pages, where it could
/// read what a person typed, what we hold about them or a CSRF token.
pub fn carries_tags(path: &str) -> bool {
    const CONTENT: &[&str] = &["/articles", "/blog", "/tags/", "/search", "/services"];
    path == "/"
        || CONTENT.iter().any(|prefix| {
            path.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
            })
        })
}

/// The widened CSP on exactly the pages that carry the tag (called by the
/// site middleware on every response).
pub fn widen_csp(state: &AppState, privacy: &Privacy, path: &str, response: &mut Response) {
    let site = state.site();
    let Some(tag) = site.third_party.as_ref() else {
        return;
    };
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html
        && tag.allowed_on(privacy, path)
        && let Ok(v) = HeaderValue::from_str(&tag.csp())
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// The tag's set-up code, from our origin, for those who may have it.
pub async fn serve_init_script(page: Page) -> AppResult<Response> {
    let tag = page.site.third_party.as_ref().ok_or(AppError::NotFound)?;
    if tag.init_script.is_empty() || !page.privacy.marketing_allowed() {
        return Err(AppError::NotFound);
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        tag.init_script.clone(),
    )
        .into_response())
}

pub async fn load(db: &crate::platform::db::Db) -> Result<TagSettings, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE key LIKE 'tags.%'")
            .fetch_all(&db.pool)
            .await?;
    Ok(TagSettings::from_settings(&rows.into_iter().collect()))
}

#[derive(askama::Template)]
#[template(path = "consent/tag_settings.html")]
struct SettingsPage {
    page: Page,
    form: TagSettings,
    errors: FieldErrors,
    saved: bool,
}

pub async fn show_settings(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    render(&SettingsPage {
        page: page.titled("Third-party tag"),
        form: load(&state.db).await?,
        errors: FieldErrors::default(),
        saved: false,
    })
}

pub async fn save_settings(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let typed = TagSettings {
        enabled: form.get("enabled").is_some_and(|v| !v.is_empty()),
        values: FIELDS
            .iter()
            .map(|(k, _, _)| (*k, form.get(*k).cloned().unwrap_or_default()))
            .collect(),
    };
    if let Err(errors) = typed.validate() {
        let body = SettingsPage {
            page: page.titled("Third-party tag"),
            form: typed,
            errors,
            saved: false,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    settings::put(
        &mut tx,
        "tags.enabled",
        if typed.enabled { "1" } else { "0" },
    )
    .await?;
    for (key, _, _) in FIELDS {
        settings::put(&mut tx, &format!("{PREFIX}{key}"), typed.get(key).trim()).await?;
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        if typed.enabled {
            "third-party-tag-on"
        } else {
            "third-party-tag-off"
        },
        "settings",
        "tags",
        typed.get("name").trim(),
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    render(&SettingsPage {
        page: page.titled("Third-party tag"),
        form: typed,
        errors: FieldErrors::default(),
        saved: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_tag_is_off_until_switched_on_with_a_name_and_a_script() {
        assert_eq!(ThirdPartyTag::from_settings(&BTreeMap::new()), None);
        let on = settings(&[
            ("tags.enabled", "1"),
            ("tags.name", "Example Analytics"),
            ("tags.script_url", "https://tags.example.com/t.js?id=1"),
            (
                "tags.origins",
                "https://collect.example.com/ https://collect.example.com",
            ),
        ]);
        let tag = ThirdPartyTag::from_settings(&on).unwrap();
        assert_eq!(tag.origin(), "https://tags.example.com");
        assert_eq!(tag.origins, vec!["https://collect.example.com".to_string()]);
        let csp = tag.csp();
        assert!(
            csp.contains("script-src 'self' https://tags.example.com https://collect.example.com;")
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"));
        let mut off = on.clone();
        off.insert("tags.enabled".into(), "0".into());
        assert_eq!(ThirdPartyTag::from_settings(&off), None);
        let mut broken = on;
        broken.insert("tags.script_url".into(), "javascript:alert(1)".into());
        assert_eq!(ThirdPartyTag::from_settings(&broken), None);
    }

    #[test]
    fn only_visitors_with_marketing_consent_and_no_signal_get_the_tag() {
        let tag = ThirdPartyTag {
            name: "T".into(),
            script_url: "https://t.example/t.js".into(),
            init_script: String::new(),
            policy_url: String::new(),
            origins: vec![],
        };
        let mut p = Privacy::default();
        assert!(!tag.allowed_on(&p, "/articles"), "undecided");
        p.consent.decided = true;
        p.consent.marketing = true;
        assert!(tag.allowed_on(&p, "/articles"));
        for private in [
            "/admin",
            "/my-data/x",
            "/contact",
            "/checkout",
            "/articlesx",
            "/unsubscribe/t",
        ] {
            assert!(!tag.allowed_on(&p, private), "{private}");
        }
        for public in [
            "/",
            "/articles/fix-outlook",
            "/blog",
            "/tags/email",
            "/search",
            "/services",
        ] {
            assert!(tag.allowed_on(&p, public), "{public}");
        }
        for signal in 0..3 {
            let mut q = p.clone();
            match signal {
                0 => q.do_not_track = true,
                1 => q.global_privacy_control = true,
                _ => q.child = true,
            }
            assert!(!tag.allowed_on(&q, "/"), "signal {signal}");
        }
    }
}
