//! Surveys: an editor builds them, visitors answer them without JavaScript,
//! staff read the results as counts, bars, an NPS score and a CSV file.
//!
//! Responses are anonymous unless a survey asks for contact details and the
//! person gives them; then the survey asks the age question, links the
//! response to the person's data subject and seals what they wrote under
//! their key, so my-data export and erasure cover it.
//!
//! One response per visitor, without a tracking cookie: see [`public`].

mod admin;
pub mod db;
pub mod public;
pub mod results;

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    platform::{db::Db, now_ms},
    privacy::inventory::{Category, Field, Retention, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

/// Survey titles, introductions and questions, for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] = &[
    crate::platform::scan::Source::Query {
        kind: "survey",
        sql: "SELECT CAST(id AS TEXT), title || ' ' || intro FROM surveys",
    },
    crate::platform::scan::Source::Query {
        kind: "survey question",
        sql: "SELECT CAST(id AS TEXT), prompt || ' ' || options FROM survey_questions",
    },
];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] =
    &[NavItem::new("Content", "Surveys", "/admin/surveys", Role::Editor).icon(Icon::Survey)];

pub const TABLES: &[Table] = &[
    Table {
        name: "surveys",
        feature: "surveys",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "slug",
            "title",
            "intro",
            "opens_at",
            "closes_at",
            "collect_contact",
            "created_at",
            "updated_at",
        ],
    },
    Table {
        name: "survey_questions",
        feature: "surveys",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "survey_id",
            "position",
            "kind",
            "prompt",
            "options",
            "required",
        ],
    },
    Table {
        name: "survey_responses",
        feature: "surveys (contact details only if you choose to give them)",
        subject_column: Some("subject_id"),
        created_column: Some("submitted_at"),
        retention: Retention::Days(730),
        personal: &[
            Field {
                column: "name",
                label: "your name on a survey response, if you gave it",
                category: Category::Identity,
                purpose: "to follow up on your survey answers, as you asked",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "email",
                label: "your email on a survey response, if you gave it",
                category: Category::Contact,
                purpose: "to follow up on your survey answers, as you asked",
                encrypted: true,
                shared_with: &[],
            },
        ],
        // `marker` is a hash of a random one-time form token: it links to nobody.
        other: &["id", "survey_id", "submitted_at", "marker", "subject_id"],
    },
    Table {
        name: "survey_answers",
        feature: "surveys (contact details only if you choose to give them)",
        subject_column: Some("subject_id"),
        // Purged with their response (ON DELETE CASCADE).
        created_column: None,
        retention: Retention::Days(730),
        personal: &[
            Field {
                column: "choice",
                label: "the choices and ratings you gave in a survey (linked to you only if you gave your contact details)",
                category: Category::Message,
                purpose: "to learn what our customers think of our services",
                encrypted: false,
                shared_with: &[],
            },
            Field {
                column: "text_value",
                label: "what you wrote in a survey",
                category: Category::Message,
                purpose: "to learn what our customers think of our services",
                encrypted: true,
                shared_with: &[],
            },
        ],
        other: &["id", "response_id", "question_id", "subject_id"],
    },
];

/// The kinds of question a survey can ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Single,
    Multiple,
    Rating,
    Nps,
    Short,
    Long,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Single,
        Kind::Multiple,
        Kind::Rating,
        Kind::Nps,
        Kind::Short,
        Kind::Long,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Multiple => "multiple",
            Kind::Rating => "rating",
            Kind::Nps => "nps",
            Kind::Short => "short",
            Kind::Long => "long",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Single => "single choice",
            Kind::Multiple => "multiple choice",
            Kind::Rating => "rating 1–5",
            Kind::Nps => "recommendation 0–10 (NPS)",
            Kind::Short => "short text",
            Kind::Long => "long text",
        }
    }

    /// Whether the question is answered by picking from options the editor writes.
    pub fn has_options(self) -> bool {
        matches!(self, Kind::Single | Kind::Multiple)
    }

    pub fn is_text(self) -> bool {
        matches!(self, Kind::Short | Kind::Long)
    }

    /// Longest answer accepted for a text question.
    pub fn max_chars(self) -> usize {
        if self == Kind::Long { 4000 } else { 200 }
    }
}

#[derive(Clone, Debug)]
pub struct Survey {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub intro: String,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    pub collect_contact: bool,
    pub created_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No opening date: being written.
    Draft,
    Scheduled,
    Open,
    Closed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Scheduled => "scheduled",
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }
}

impl Survey {
    pub fn status(&self, now: i64) -> Status {
        match (self.opens_at, self.closes_at) {
            (None, _) => Status::Draft,
            (_, Some(close)) if now >= close => Status::Closed,
            (Some(open), _) if now < open => Status::Scheduled,
            _ => Status::Open,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Question {
    pub id: i64,
    pub survey_id: i64,
    pub position: i64,
    pub kind: Kind,
    pub prompt: String,
    pub options: Vec<String>,
    pub required: bool,
}

impl Question {
    /// `(stored value, label)` of every answer a choice question accepts.
    pub fn choices(&self) -> Vec<(i64, String)> {
        match self.kind {
            Kind::Single | Kind::Multiple => self
                .options
                .iter()
                .enumerate()
                .map(|(i, o)| (i as i64, o.clone()))
                .collect(),
            Kind::Rating => (1..=5).map(|v| (v, v.to_string())).collect(),
            Kind::Nps => (0..=10).map(|v| (v, v.to_string())).collect(),
            Kind::Short | Kind::Long => vec![],
        }
    }

    pub fn label_of(&self, value: i64) -> String {
        self.choices()
            .into_iter()
            .find(|(v, _)| *v == value)
            .map(|(_, l)| l)
            .unwrap_or_else(|| value.to_string())
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/surveys", get(public::list_surveys))
        .route(
            "/surveys/{slug}",
            get(public::show_survey).post(public::answer_survey),
        )
        .route("/admin/surveys", get(admin::list_surveys))
        .route(
            "/admin/surveys/new",
            get(admin::new_survey).post(admin::create_survey),
        )
        .route(
            "/admin/surveys/{id}",
            get(admin::edit_survey).post(admin::update_survey),
        )
        .route("/admin/surveys/{id}/results.csv", get(admin::export_csv))
        .route("/admin/surveys/{id}/answers", get(admin::show_answers))
        .route("/admin/surveys/{id}/questions", post(admin::add_question))
        .route(
            "/admin/surveys/{id}/questions/{question}",
            post(admin::update_question),
        )
        .route(
            "/admin/surveys/{id}/questions/{question}/move",
            post(admin::move_question),
        )
        .route(
            "/admin/surveys/{id}/questions/{question}/delete",
            post(admin::delete_question),
        )
}

/// The demo site's open customer-satisfaction survey, for a first start.
pub async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let id = db::insert_survey(
        &mut tx,
        &db::SurveyFields {
            slug: "customer-satisfaction",
            title: "How are we doing?",
            intro: "Five quick questions about our support. Your answers are anonymous: we do not ask who you are.",
            opens_at: Some(now_ms()),
            closes_at: None,
            collect_contact: false,
        },
    )
    .await?;
    let questions: &[(Kind, &str, &[&str], bool)] = &[
        (
            Kind::Nps,
            "How likely are you to recommend officecomms to a colleague?",
            &[],
            true,
        ),
        (
            Kind::Rating,
            "How happy are you with how quickly we answer?",
            &[],
            true,
        ),
        (
            Kind::Single,
            "How do you usually contact us?",
            &["Contact form", "Live chat", "Phone", "Email"],
            false,
        ),
        (
            Kind::Multiple,
            "What should we improve?",
            &[
                "Response time",
                "Help articles",
                "Opening hours",
                "Prices",
                "Nothing, keep going",
            ],
            false,
        ),
        (
            Kind::Short,
            "One word that describes our support:",
            &[],
            false,
        ),
        (
            Kind::Long,
            "Anything else you would like to tell us?",
            &[],
            false,
        ),
    ];
    for (kind, prompt, options, required) in questions {
        let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        db::insert_question(&mut tx, id, *kind, prompt, &options, *required).await?;
    }
    tx.commit().await?;
    Ok(())
}
