//! Data breach incidents: the 7-business-day deadline, publication as an
//! in-site notice, and mails to the people affected.

use super::{business_days, db, subjects};
use crate::{
    error::{AppError, AppResult},
    platform::Platform,
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms, settings,
        templates::{Page, render, render_with},
        zones,
    },
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::collections::HashMap;

pub const NOTICE_DAYS: u32 = 7;
pub const HOLIDAYS_SETTING: &str = "extra_holidays";

/// The notice deadline: the end of the 7th business day after discovery,
/// days being the company's dates (in `zone`).
pub fn deadline(discovered: i64, zone: Tz, extra_holidays: &[NaiveDate]) -> i64 {
    let found = zones::date_in(discovered, zone);
    zones::end_of(
        business_days::add_business_days(found, NOTICE_DAYS, extra_holidays),
        zone,
    )
}

crate::email_template!(pub struct BreachMail { company: String, title: String, description: String, link: String }
    subject "email/breach_notice/subject.txt",
    text "email/breach_notice/body.txt",
    html "email/breach_notice/body.html",
);

const CATEGORIES: &[(&str, &str)] = &[
    ("identity", "Identity (names)"),
    ("contact", "Contact details (email, phone)"),
    ("message", "Messages and requests"),
    ("technical", "Technical data"),
    ("account", "Staff accounts"),
];

/// "Identity (names), Contact details (email, phone)" from "identity, contact".
fn categories_in_words(keys: &str) -> String {
    keys.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            CATEGORIES
                .iter()
                .find(|(key, _)| *key == k)
                .map_or(k, |(_, label)| label)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub struct IncidentView {
    pub incident: db::Incident,
    /// "2 business days left", "overdue by 1 business day".
    pub time_left: String,
    /// The kinds of data involved, as people call them.
    pub categories: String,
    pub late: bool,
    pub listed: i64,
    pub notified: i64,
}

async fn view(state: &Platform, incident: db::Incident) -> AppResult<IncidentView> {
    let (listed, notified) = db::recipient_counts(&state.db, incident.id).await?;
    let late = incident
        .published_at
        .map_or(now_ms() > incident.deadline_at, |p| {
            p > incident.deadline_at
        });
    let extra = business_days::parse_holidays(
        &settings::get_raw(&state.db, HOLIDAYS_SETTING)
            .await?
            .unwrap_or_default(),
    );
    Ok(IncidentView {
        time_left: business_days::deadline_words(
            incident.deadline_at,
            now_ms(),
            state.site().time_zone,
            &extra,
        ),
        categories: categories_in_words(&incident.categories),
        late,
        listed,
        notified,
        incident,
    })
}

#[derive(askama::Template)]
#[template(path = "privacy/admin_incidents.html")]
struct ListPage {
    page: Page,
    q: String,
    incidents: Vec<IncidentView>,
}

#[derive(serde::Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn list_incidents(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let mut incidents = vec![];
    for i in db::list_incidents(&state.db, search.q.trim()).await? {
        incidents.push(view(&state, i).await?);
    }
    render(&ListPage {
        page: page.titled("Data breach incidents"),
        q: search.q,
        incidents,
    })
}

#[derive(askama::Template)]
#[template(path = "privacy/admin_incident_new.html")]
struct NewPage {
    page: Page,
    form: HashMap<String, String>,
    errors: FieldErrors,
    categories: &'static [(&'static str, &'static str)],
}

impl NewPage {
    fn value(&self, key: &str) -> &str {
        self.form.get(key).map(String::as_str).unwrap_or("")
    }

    fn checked(&self, key: &str) -> bool {
        self.form.contains_key(key)
    }
}

pub async fn new_incident(_: Staff<Admin>, page: Page) -> AppResult<Response> {
    render(&NewPage {
        page: page.titled("Record a data breach"),
        form: HashMap::from([("scope".to_string(), "everyone".to_string())]),
        errors: FieldErrors::default(),
        categories: CATEGORIES,
    })
}

pub async fn create_incident(
    Staff(user, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let mut errors = FieldErrors::default();
    let title = text(field("title"), 200)
        .map_err(|m| errors.add("title", m))
        .ok()
        .flatten();
    if title.is_none() && !errors.has("title") {
        errors.add("title", "Say in a few words what happened.");
    }
    let description = text(field("description"), 10_000)
        .map_err(|m| errors.add("description", m))
        .ok()
        .flatten();
    if description.is_none() && !errors.has("description") {
        errors.add(
            "description",
            "Describe what happened and what people should do.",
        );
    }
    let discovered = zones::parse_in(field("discovered_at"), page.zone());
    if discovered.is_none() {
        errors.add(
            "discovered_at",
            "Enter the date and time the breach was discovered.",
        );
    }
    if discovered.is_some_and(|d| d > now_ms() + 60_000) {
        errors.add("discovered_at", "The discovery cannot be in the future.");
    }
    let categories: Vec<&str> = CATEGORIES
        .iter()
        .filter(|(k, _)| form.contains_key(&format!("category_{k}")))
        .map(|(k, _)| *k)
        .collect();
    if categories.is_empty() {
        errors.add("categories", "Choose at least one kind of data.");
    }
    let scope = match field("scope") {
        "everyone" => "everyone",
        "listed" => "listed",
        _ => {
            errors.add("scope", "Choose who is affected.");
            "everyone"
        }
    };
    let mut emails = vec![];
    if scope == "listed" {
        for line in field("emails")
            .split([',', '\n', ';'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            match line.parse::<EmailAddress>() {
                Ok(e) => emails.push(e),
                Err(_) => errors.add("emails", format!("{line} is not a valid email address.")),
            }
        }
        if emails.is_empty() && !errors.has("emails") {
            errors.add(
                "emails",
                "List the affected people's email addresses, one per line.",
            );
        }
    }
    let (Some(title), Some(description), Some(discovered), true) =
        (title, description, discovered, errors.is_empty())
    else {
        let body = NewPage {
            page: page.titled("Record a data breach"),
            form,
            errors,
            categories: CATEGORIES,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let extra = business_days::parse_holidays(
        &settings::get_raw(&state.db, HOLIDAYS_SETTING)
            .await?
            .unwrap_or_default(),
    );
    let deadline_at = deadline(discovered, state.site().time_zone, &extra);
    let mut tx = state.db.begin().await?;
    let id = db::insert_incident(
        &mut tx,
        &db::NewIncident {
            discovered_at: discovered,
            deadline_at,
            title: &title,
            description: &description,
            categories: &categories.join(", "),
            scope,
            created_by: user.id,
        },
    )
    .await?;
    for email in &emails {
        let subject = subjects::find_or_create(&mut tx, &state.keyring, email.as_str()).await?;
        db::insert_recipient(
            &mut tx,
            id,
            subject.id,
            &subject.seal("incident_recipients", "email", email.as_str()),
        )
        .await?;
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "create",
        "incident",
        id,
        &format!("{scope}, {} listed", emails.len()),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/privacy/incidents/{id}")).into_response())
}

#[derive(askama::Template)]
#[template(path = "privacy/admin_incident.html")]
struct IncidentPage {
    page: Page,
    v: IncidentView,
}

pub async fn show_incident(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let incident = db::incident(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let title = incident.title.clone();
    render(&IncidentPage {
        page: page.titled(title),
        v: view(&state, incident).await?,
    })
}

/// Publishes the notice on the site and mails every listed person.
pub async fn publish_incident(
    Staff(user, ..): Staff<Admin>,
    State(state): State<Platform>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let incident = db::incident(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let site = state.site();
    let now = now_ms();
    let link = state
        .config
        .base_url
        .join("my-data")
        .map_err(anyhow::Error::from)?
        .to_string();
    let mut tx = state.db.begin().await?;
    if !db::publish_incident(&mut tx, id, now).await? {
        return Ok(Redirect::to(&format!("/admin/privacy/incidents/{id}")).into_response());
    }
    let mut mailed = 0;
    for (recipient_id, subject_id, sealed) in db::recipients(&mut tx, id).await? {
        // An erased person's address is unreadable: nothing to send.
        let Some(key) = subjects::key(&state.db, &state.keyring, subject_id).await? else {
            continue;
        };
        let subject = subjects::Subject {
            id: subject_id,
            key,
        };
        let email = subject.open("incident_recipients", "email", &sealed)?;
        let mail = BreachMail {
            company: site.company_name.clone(),
            title: incident.title.clone(),
            description: incident.description.clone(),
            link: link.clone(),
        };
        // Breach notices are not marketing: suppression does not apply.
        mail::enqueue(
            &mut tx,
            &state.keyring,
            &site,
            Recipient::Subject(&subject),
            "breach-notice",
            &format!("breach-notice:{id}:{recipient_id}"),
            &mail.to_mail(&email)?,
        )
        .await?;
        db::mark_notified(&mut tx, recipient_id, now).await?;
        mailed += 1;
    }
    let late = if now > incident.deadline_at {
        ", after the deadline"
    } else {
        ""
    };
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "publish",
        "incident",
        id,
        &format!("{mailed} mailed{late}"),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    super::refresh_notices(&state).await?;
    Ok(Redirect::to(&format!("/admin/privacy/incidents/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_end_of_the_seventh_business_day() {
        let utc = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        let found = utc("2026-11-25 15:00:00");
        assert_eq!(
            deadline(found, chrono_tz::UTC, &[]),
            utc("2026-12-07 23:59:59")
        );
        // In California the day ends 8 hours later (PST).
        let la = chrono_tz::America::Los_Angeles;
        assert_eq!(deadline(found, la, &[]), utc("2026-12-08 07:59:59"));
    }

    #[test]
    fn a_discovery_near_midnight_utc_counts_from_the_companys_date() {
        // Friday 4 Dec 2026, 02:00 UTC is Thursday 3 Dec, 18:00 in California:
        // Fri 4, Mon 7 ... Mon 14 are the seven days, not Tue 15 as the UTC
        // date (Friday) would make it.
        let found = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let la = chrono_tz::America::Los_Angeles;
        let due = deadline(found, la, &[]);
        assert_eq!(
            crate::platform::templates::format_in_zone(due, la),
            "14 Dec 2026, 23:59 PST"
        );
        assert_eq!(
            crate::platform::templates::format_in_zone(deadline(found, chrono_tz::UTC, &[]), la),
            "15 Dec 2026, 15:59 PST"
        );
    }
}
