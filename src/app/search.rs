//! The back office's global search (`/admin/search?q=`): each feature
//! searches what it owns, the way its own list does; a section is there only
//! for the roles that may open that list.

use super::AppState;
use crate::{
    error::AppResult,
    platform::{
        nav::SearchHit,
        templates::{Page, render_with},
    },
    staff::{
        Role, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};

/// Longer searches are refused (every section scans up to 500 rows).
pub const MAX_QUERY_CHARS: usize = 200;
/// Results shown per section.
const PER_SECTION: usize = 20;

pub struct Section {
    pub title: &'static str,
    /// The full list, filtered the same way.
    pub more: String,
    pub hits: Vec<SearchHit>,
}

#[derive(askama::Template)]
#[template(path = "app/search.html")]
struct SearchPage {
    page: Page,
    q: String,
    problem: String,
    sections: Vec<Section>,
}

impl SearchPage {
    fn found(&self) -> usize {
        self.sections.iter().map(|s| s.hits.len()).sum()
    }
}

/// The search text, or why it cannot be searched.
fn parse_query(raw: Option<&str>) -> Result<String, &'static str> {
    let q = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(
            "That search is too long: use at most 200 characters, like a reference, a name or a few words.",
        );
    }
    if q.contains('\u{FFFD}') || q.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(
            "That search holds characters we cannot search for: use letters, digits and punctuation.",
        );
    }
    Ok(q.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn list_link(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

pub async fn search(
    Staff(user, ..): Staff,
    State(state): State<AppState>,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let page = page.titled("Search");
    let q = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(problem) => {
            let body = SearchPage {
                page,
                q: String::new(),
                problem: problem.into(),
                sections: vec![],
            };
            return render_with(StatusCode::BAD_REQUEST, &body);
        }
    };
    let mut sections = vec![];
    if !q.is_empty() {
        let needle = q.to_lowercase();
        if user.role.allows(Role::Agent) {
            let hits = crate::support::search::for_staff(&state, &needle, PER_SECTION).await?;
            sections.push(Section {
                title: "Tickets",
                more: list_link("/admin/tickets", &[("status", "all"), ("q", &q)]),
                hits,
            });
            sections.push(Section {
                title: "Chats",
                more: list_link("/admin/chat", &[("q", &q)]),
                hits: crate::chat::search::for_staff(&state, &q, PER_SECTION, page.zone()).await?,
            });
        }
        if user.role.allows(Role::Editor) {
            sections.push(Section {
                title: "Articles and posts",
                more: list_link("/admin/articles", &[("q", &q)]),
                hits: crate::content::search_for_editors(&state, &q, PER_SECTION as i64).await?,
            });
        }
        if user.role.allows(Role::Admin) {
            sections.push(Section {
                title: "Newsletter subscribers",
                more: list_link("/admin/subscribers", &[("q", &q)]),
                hits: crate::newsletter::subscribers::search(&state, &needle, PER_SECTION).await?,
            });
            sections.push(Section {
                title: "Orders",
                more: list_link("/admin/orders", &[("q", &q)]),
                hits: crate::shop::search_orders(&state, &needle, PER_SECTION).await?,
            });
        }
        // What was shown may be personal data; the search text itself is
        // not logged, only that a search ran and which records it showed.
        let shown: Vec<String> = sections
            .iter()
            .map(|s| format!("{}: {}", s.title, s.hits.len()))
            .collect();
        let mut tx = state.db.begin().await?;
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "search",
            "back office",
            "",
            &shown.join(", "),
        )
        .await?;
        tx.commit().await?;
    }
    let body = SearchPage {
        page,
        q,
        problem: String::new(),
        sections,
    };
    render_with(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    #[test]
    fn searches_are_tidied_and_hostile_ones_refused() {
        assert_eq!(
            parse_query(Some("q=%20printer%20%20jams%20")).unwrap(),
            "printer jams"
        );
        assert_eq!(parse_query(None).unwrap(), "");
        assert!(parse_query(Some("q=a%00b")).is_err());
        assert!(parse_query(Some("q=%FF%FE")).is_err());
        assert!(parse_query(Some(&format!("q={}", "x".repeat(201)))).is_err());
        assert_eq!(parse_query(Some("q=%27%3B--%25_")).unwrap(), "';--%_");
    }
}
