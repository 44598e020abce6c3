//! The banner's form and the /cookies page: both post here, with or without
//! JavaScript.

use super::{
    Choices, Consent,
    ledger::{self, NewRecord, Record, Via},
    tags::ThirdPartyTag,
    visitor_of, with_cookie,
};
use crate::{
    AppState,
    error::AppResult,
    platform::{
        forms::Form,
        random_token,
        templates::{Page, render, render_with},
    },
    privacy::{
        inventory::{self, CookieCategory},
        policy,
    },
};
use axum::{
    Json,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

/// One cookie as the page lists it.
pub struct CookieRow {
    pub name: String,
    pub purpose: String,
    pub lifetime: String,
}

pub struct CategoryView {
    pub key: &'static str,
    pub title: &'static str,
    pub description: String,
    pub cookies: Vec<CookieRow>,
    pub checked: bool,
}

#[derive(askama::Template)]
#[template(path = "consent/cookies.html")]
struct CookiesPage {
    page: Page,
    necessary: Vec<CookieRow>,
    categories: Vec<CategoryView>,
    history: Vec<Record>,
    saved: bool,
    error: String,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

fn rows(category: CookieCategory) -> Vec<CookieRow> {
    inventory::COOKIES
        .iter()
        .filter(|c| c.category == category)
        .map(|c| CookieRow {
            name: c.name.into(),
            purpose: c.purpose.into(),
            lifetime: c.lifetime.into(),
        })
        .collect()
}

fn categories(consent: &Consent, tag: Option<&ThirdPartyTag>) -> Vec<CategoryView> {
    let mut marketing = rows(CookieCategory::Marketing);
    if let Some(tag) = tag {
        marketing.push(CookieRow {
            name: format!("set by {}", tag.name),
            purpose: format!(
                "{} loads from {} and may set cookies of its own; its privacy policy applies to them.",
                tag.name,
                tag.origin()
            ),
            lifetime: format!("as {} sets them", tag.name),
        });
    }
    vec![
        CategoryView {
            key: "preferences",
            title: "Preferences",
            description: "Remember settings you choose on this site. We set no preference \
                          cookie today; if we add one, it is only set with this on."
                .into(),
            cookies: rows(CookieCategory::Preferences),
            checked: consent.decided && consent.preferences,
        },
        CategoryView {
            key: "analytics",
            title: "Analytics",
            description: "Our own visit statistics, counted on our server from each page \
                          request: no cookie, no script, nothing sent to anyone else. Daily \
                          visitors are told apart by a hash of the IP address and browser made \
                          with a key we delete at the end of each day. Until you choose we count \
                          visits this way; with this off (or with Do Not Track or Global \
                          Privacy Control) your visits are not counted at all."
                .into(),
            cookies: rows(CookieCategory::Analytics),
            checked: consent.decided && consent.analytics,
        },
        CategoryView {
            key: "marketing",
            title: "Marketing and third parties",
            description: match tag {
                Some(tag) => format!(
                    "Lets {} run on our pages. It is a third party: it receives your IP \
                     address and the pages you visit and may set cookies. It never runs \
                     for a browser that sends Do Not Track or Global Privacy Control, or \
                     for anyone under 13.",
                    tag.name
                ),
                None => "We run no third-party tags or advertising today. If we add one, \
                         it only runs with this on, never with Do Not Track or Global \
                         Privacy Control, and never for anyone under 13."
                    .into(),
            },
            cookies: marketing,
            checked: consent.decided && consent.marketing,
        },
    ]
}

async fn cookies_page(
    state: &AppState,
    page: Page,
    saved: bool,
    error: String,
) -> AppResult<CookiesPage> {
    let consent = page.privacy.consent.clone();
    let history = match &consent.id {
        Some(id) => ledger::for_visitor(&state.db, &visitor_of(id)).await?,
        None => vec![],
    };
    let tag = page.site.third_party.clone();
    Ok(CookiesPage {
        necessary: rows(CookieCategory::Necessary),
        categories: categories(&consent, tag.as_ref()),
        history,
        saved,
        error,
        page: page.titled("Cookie choices"),
    })
}

pub async fn show_cookies(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<SavedQuery>,
) -> AppResult<Response> {
    render(&cookies_page(&state, page, query.saved.is_some(), String::new()).await?)
}

#[derive(Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    choice: String,
    preferences: Option<String>,
    analytics: Option<String>,
    marketing: Option<String>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    return_to: String,
}

/// A path on this site to go back to; anything else goes to the cookie page.
fn local_path(p: &str) -> Option<&str> {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && p.len() <= 512
        && p.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(p)
}

pub async fn save_choices(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<ChoiceForm>,
) -> AppResult<Response> {
    let ticked = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    let choices = match form.choice.as_str() {
        "accept" => Choices::ALL,
        "reject" => Choices::NONE,
        "save" => Choices {
            preferences: ticked(&form.preferences),
            analytics: ticked(&form.analytics),
            marketing: ticked(&form.marketing),
        },
        _ => {
            let body = cookies_page(
                &state,
                page,
                false,
                "Please choose “Accept all”, “Reject all” or “Save my choices”.".into(),
            )
            .await?;
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    };
    let consent = &page.privacy.consent;
    let id = consent
        .id
        .clone()
        .unwrap_or_else(|| random_token(16).replace(['-', '_'], "x"));
    let policy = policy::generate(&page.site, &state.registry.inventory);
    // Stored so the version a record names can always be read again.
    policy::record(&state.db, &policy).await?;
    let via = if form.from == "banner" {
        Via::Banner
    } else {
        Via::CookiePage
    };
    let record = ledger::append(
        &state.db,
        &NewRecord {
            visitor: &visitor_of(&id),
            choices,
            policy_version: &policy.version,
            dnt: page.privacy.do_not_track,
            gpc: page.privacy.global_privacy_control,
            via,
        },
    )
    .await?;
    let cookie = super::consent_cookie(&id, choices, &state.keyring, state.config.is_https());
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let response = if wants_json {
        Json(serde_json::json!({
            "choices": choices.describe(),
            "record": record.id,
            "signal_honoured": page.privacy.opted_out(),
            // A tag may now load, under a policy this page did not get.
            "reload": page.site.third_party.is_some()
                && choices.marketing
                && page.privacy.tracking_allowed(),
        }))
        .into_response()
    } else {
        let target = match (via, local_path(&form.return_to)) {
            (Via::Banner, Some(path)) => path.to_string(),
            _ => "/cookies?saved=1".to_string(),
        };
        Redirect::to(&target).into_response()
    };
    Ok(with_cookie(response, &cookie))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_returned_to() {
        use super::local_path;
        assert_eq!(local_path("/articles/x?y=1"), Some("/articles/x?y=1"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "/a b",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}
