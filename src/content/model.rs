//! The content types, parsed once at the edge: kinds, publication states,
//! slugs, tags, and the editor's form turned into a valid [`ArticleInput`].

use crate::platform::forms::{FieldErrors, text};
use serde::Deserialize;
use std::fmt;

/// Knowledge-base article or blog post: same fields, different sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Article,
    Post,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Article, Kind::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Article => "article",
            Kind::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The public section: `/articles` or `/blog`.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Article => "/articles",
            Kind::Post => "/blog",
        }
    }

    pub fn section_name(self) -> &'static str {
        match self {
            Kind::Article => "Help articles",
            Kind::Post => "Blog",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Article => "Help article",
            Kind::Post => "Blog post",
        }
    }

    pub fn path(self, slug: &str) -> String {
        format!("{}/{slug}", self.section())
    }
}

/// What is stored. "Scheduled" is `Published` with a future `publish_at`:
/// visibility is a comparison with the clock, so nothing has to wake up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Draft,
    Published,
    Unpublished,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Unpublished => "unpublished",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Draft, Status::Published, Status::Unpublished]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What an editor sees and chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Draft,
    Scheduled,
    Published,
    Unpublished,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Draft,
        State::Published,
        State::Scheduled,
        State::Unpublished,
    ];

    pub fn of(status: Status, publish_at: Option<i64>, now: i64) -> State {
        match status {
            Status::Draft => State::Draft,
            Status::Unpublished => State::Unpublished,
            Status::Published if publish_at.is_some_and(|t| t > now) => State::Scheduled,
            Status::Published => State::Published,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Scheduled => "scheduled",
            State::Published => "published",
            State::Unpublished => "unpublished",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A URL slug: lower-case ASCII letters, digits and single inner hyphens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

pub const MAX_SLUG: usize = 80;

impl Slug {
    /// Makes a slug from any text (a title, or what an editor typed);
    /// `None` when nothing usable is left.
    pub fn from_text(text: &str) -> Option<Slug> {
        let mut slug = String::new();
        for word in text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let dash = usize::from(!slug.is_empty());
            if slug.len() + dash + word.len() > MAX_SLUG {
                break;
            }
            if !slug.is_empty() {
                slug.push('-');
            }
            slug.push_str(&word.to_ascii_lowercase());
        }
        (!slug.is_empty()).then_some(Slug(slug))
    }

    /// Accepts only a slug already in canonical form (from a URL): what
    /// [`Slug::from_text`] makes, checked without making it again.
    pub fn parse(s: &str) -> Option<Slug> {
        let canonical = s.len() <= MAX_SLUG
            && s.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        canonical.then(|| Slug(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `slug-2`, `slug-3`… for making a derived slug unique.
    pub fn numbered(&self, n: u32) -> Slug {
        let suffix = format!("-{n}");
        let mut base = self.0.clone();
        base.truncate(MAX_SLUG - suffix.len());
        Slug(format!("{}{suffix}", base.trim_end_matches('-')))
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const MAX_TAGS: usize = 10;

/// Tags from a comma-separated list, each made a slug, deduplicated.
pub fn parse_tags(list: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in list.split(',') {
        if raw.trim().is_empty() {
            continue;
        }
        let Some(tag) = Slug::from_text(raw) else {
            return Err(format!("“{}” is not a usable tag.", raw.trim()));
        };
        if tag.as_str().len() > 40 {
            return Err("Keep each tag under 40 characters.".into());
        }
        if !tags.iter().any(|t| t == tag.as_str()) {
            tags.push(tag.0);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("Use at most {MAX_TAGS} tags."));
    }
    Ok(tags)
}

/// Reading time in whole minutes at 200 words a minute, at least one.
pub fn reading_minutes(word_count: i64) -> i64 {
    ((word_count + 199) / 200).max(1)
}

/// The editor's form as typed. Every field is kept as text so an invalid
/// form comes back exactly as it was sent.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub seo_title: String,
    #[serde(default)]
    pub seo_description: String,
    #[serde(default)]
    pub state: String,
    /// `YYYY-MM-DDTHH:MM` as a `datetime-local` input sends it, in the
    /// zone of whoever typed it (UTC through the API).
    #[serde(default)]
    pub publish_at: String,
    /// `updated_at` of the version the editor started from.
    #[serde(default)]
    pub version: String,
    /// `save` or `preview`.
    #[serde(default)]
    pub action: String,
}

/// A valid article, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleInput {
    pub kind: Kind,
    pub title: String,
    /// `None`: made from the title (new) or kept (existing).
    pub slug: Option<Slug>,
    pub summary: String,
    pub body: String,
    pub product: String,
    pub tags: Vec<String>,
    pub seo_title: String,
    pub seo_description: String,
    pub state: State,
    /// Required for `Scheduled`; for `Published`, `None` means now.
    pub publish_at: Option<i64>,
}

/// Formats epoch ms for a `datetime-local` input, in `zone`.
pub fn datetime_input(ms: Option<i64>, zone: chrono_tz::Tz) -> String {
    ms.map(|ms| crate::platform::zones::input_in(ms, zone))
        .unwrap_or_default()
}

impl ArticleForm {
    /// Checks every field; `now` is the content clock, for scheduling, and
    /// `zone` the one the publication time was typed in.
    pub fn validate(&self, now: i64, zone: chrono_tz::Tz) -> Result<ArticleInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut field =
            |name: &'static str, value: &str, max: usize, required: Option<&str>| match text(
                value, max,
            ) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    if let Some(message) = required {
                        errors.add(name, message);
                    }
                    String::new()
                }
                Err(m) => {
                    errors.add(name, m);
                    String::new()
                }
            };
        let title = field("title", &self.title, 200, Some("Please give it a title."));
        let summary = field("summary", &self.summary, 500, None);
        let body = field("body", &self.body, 200_000, Some("Please write the text."));
        let product = field("product", &self.product, 80, None);
        let seo_title = field("seo_title", &self.seo_title, 120, None);
        let seo_description = field("seo_description", &self.seo_description, 300, None);
        let slug_text = field("slug", &self.slug, MAX_SLUG, None);
        let slug = if slug_text.is_empty() {
            None
        } else {
            let slug = Slug::from_text(&slug_text);
            if slug.is_none() {
                errors.add(
                    "slug",
                    "Use letters and digits in the address (we join words with hyphens).",
                );
            }
            slug
        };
        let kind = Kind::parse(&self.kind);
        if kind.is_none() {
            errors.add("kind", "Choose help article or blog post.");
        }
        let tags = parse_tags(&self.tags).unwrap_or_else(|m| {
            errors.add("tags", m);
            Vec::new()
        });
        let state = State::parse(&self.state);
        if state.is_none() {
            errors.add("state", "Choose a state.");
        }
        let publish_at = if self.publish_at.trim().is_empty() {
            None
        } else {
            let parsed = crate::platform::zones::parse_in(&self.publish_at, zone);
            if parsed.is_none() {
                errors.add("publish_at", "Use a date and time like 2026-12-01 09:00.");
            }
            parsed
        };
        if state == Some(State::Scheduled) && publish_at.is_none_or(|t| t <= now) {
            errors.add(
                "publish_at",
                "A scheduled piece needs a publication time in the future.",
            );
        }
        match (kind, state, errors.into_result()) {
            (Some(kind), Some(state), Ok(())) => Ok(ArticleInput {
                kind,
                title,
                slug,
                summary,
                body,
                product,
                tags,
                seo_title,
                seo_description,
                state,
                publish_at,
            }),
            (_, _, Err(errors)) => Err(errors),
            _ => unreachable!("a missing kind or state is a field error"),
        }
    }

    pub fn version(&self) -> Option<i64> {
        self.version.trim().parse().ok()
    }

    pub fn is_preview(&self) -> bool {
        self.action == "preview"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_from_any_title() {
        let s = Slug::from_text("Outlook keeps asking for my password — again!").unwrap();
        assert_eq!(s.as_str(), "outlook-keeps-asking-for-my-password-again");
        assert!(Slug::from_text("¿¡!").is_none());
        assert!(Slug::parse("Upper-Case").is_none());
        assert!(Slug::parse("a--b").is_none());
        assert!(Slug::parse("../etc/passwd").is_none());
        assert_eq!(Slug::parse("fix-it-2").unwrap().as_str(), "fix-it-2");
        let long = Slug::from_text(&"word ".repeat(40)).unwrap();
        assert!(long.as_str().len() <= MAX_SLUG);
        assert!(long.numbered(12).as_str().len() <= MAX_SLUG);
    }

    #[test]
    fn a_slug_parses_exactly_when_from_text_gives_it_back() {
        let exactly = "a".repeat(MAX_SLUG);
        let over = "a".repeat(MAX_SLUG + 1);
        let words = "ab-".repeat(MAX_SLUG / 3) + "c";
        for s in [
            "", "-", "a", "a-", "-a", "a--b", "a-b", "a_b", "A-b", "é-a", "a b", "0-9", &exactly,
            &over, &words,
        ] {
            let made_again = Slug::from_text(s).filter(|slug| slug.as_str() == s);
            assert_eq!(
                Slug::parse(s).map(|slug| slug.0),
                made_again.map(|slug| slug.0),
                "{s:?}"
            );
        }
    }

    #[test]
    fn tags_are_slugs_without_duplicates() {
        assert_eq!(
            parse_tags("Outlook, email ,OUTLOOK,, Windows Update").unwrap(),
            vec!["outlook", "email", "windows-update"]
        );
        assert!(parse_tags(&"a,".repeat(3).replace("a", "x,y,z,w")).is_ok());
        assert!(parse_tags("1,2,3,4,5,6,7,8,9,10,11").is_err());
        assert!(parse_tags("!!!").is_err());
    }

    #[test]
    fn a_scheduled_piece_needs_a_future_time() {
        let mut form = ArticleForm {
            kind: "post".into(),
            title: "Hello".into(),
            body: "Text".into(),
            state: "scheduled".into(),
            publish_at: "2026-01-01T10:00".into(),
            ..ArticleForm::default()
        };
        let utc = chrono_tz::UTC;
        let jan_1_9am = crate::platform::zones::parse_in("2026-01-01T09:00", utc).unwrap();
        let input = form.validate(jan_1_9am, chrono_tz::UTC).unwrap();
        assert_eq!(input.state, State::Scheduled);
        assert_eq!(datetime_input(input.publish_at, utc), "2026-01-01T10:00");
        // Typed in California in winter (UTC-8): 10:00 there is 18:00 UTC.
        let la = chrono_tz::America::Los_Angeles;
        let input = form.validate(jan_1_9am, la).unwrap();
        assert_eq!(datetime_input(input.publish_at, utc), "2026-01-01T18:00");
        assert_eq!(datetime_input(input.publish_at, la), "2026-01-01T10:00");
        form.publish_at = "2025-12-31T10:00".into();
        assert!(
            form.validate(jan_1_9am, chrono_tz::UTC)
                .unwrap_err()
                .has("publish_at")
        );
        form.publish_at = "tomorrow".into();
        assert!(
            form.validate(jan_1_9am, chrono_tz::UTC)
                .unwrap_err()
                .has("publish_at")
        );
    }

    #[test]
    fn the_state_shown_follows_the_clock() {
        assert_eq!(State::of(Status::Published, Some(10), 5), State::Scheduled);
        assert_eq!(State::of(Status::Published, Some(10), 10), State::Published);
        assert_eq!(State::of(Status::Draft, Some(1), 10), State::Draft);
    }
}
