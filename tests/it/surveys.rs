//! Surveys: building, answering without JavaScript, one response per
//! visitor, results and CSV, contact details under the age gate and my-data.

use crate::{both, helpers::*};
use officecomms::{
    privacy::{erasure, subjects},
    surveys::{Question, db as survey_db},
};

const DEMO: &str = "customer-satisfaction";

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

/// A visitor with a browser of their own.
pub struct Visitor {
    client: reqwest::Client,
}

impl Visitor {
    pub fn new() -> Visitor {
        Visitor { client: client() }
    }

    async fn page(&self, app: &TestApp, slug: &str) -> (u16, String) {
        let r = self
            .client
            .get(app.url(&format!("/surveys/{slug}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Opens the survey, then sends `fields` with the form's CSRF and token.
    pub async fn answer(
        &self,
        app: &TestApp,
        slug: &str,
        fields: &[(String, String)],
    ) -> reqwest::Response {
        let (_, body) = self.page(app, slug).await;
        let token = hidden(&body, "token");
        self.send(app, slug, &token, &hidden(&body, "csrf"), fields)
            .await
    }

    async fn send(
        &self,
        app: &TestApp,
        slug: &str,
        token: &str,
        csrf: &str,
        fields: &[(String, String)],
    ) -> reqwest::Response {
        let mut all = vec![
            ("csrf".to_string(), csrf.to_string()),
            ("token".to_string(), token.to_string()),
        ];
        all.extend_from_slice(fields);
        self.client
            .post(app.url(&format!("/surveys/{slug}")))
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

async fn survey_questions(app: &TestApp, slug: &str) -> (i64, Vec<Question>) {
    let survey = survey_db::survey_by_slug(&app.state.db, slug)
        .await
        .unwrap()
        .expect("survey");
    (
        survey.id,
        survey_db::questions(&app.state.db, survey.id)
            .await
            .unwrap(),
    )
}

pub fn q(question: &Question, value: &str) -> (String, String) {
    (format!("q{}", question.id), value.to_string())
}

/// A full answer to the demo survey.
fn demo_answer(
    qs: &[Question],
    nps: &str,
    rating: &str,
    single: &str,
    multiple: &[&str],
    short: &str,
    long: &str,
) -> Vec<(String, String)> {
    let mut fields = vec![q(&qs[0], nps), q(&qs[1], rating), q(&qs[2], single)];
    fields.extend(multiple.iter().map(|m| q(&qs[3], m)));
    fields.push(q(&qs[4], short));
    fields.push(q(&qs[5], long));
    fields
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// An editor makes an open survey with optional contact fields.
pub async fn contact_survey(app: &TestApp) -> (i64, Vec<Question>) {
    app.login_as("editor").await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let r = app
        .post_form(
            "/admin/surveys/new",
            &[
                ("title", "Follow-up after your visit"),
                ("slug", "follow-up"),
                ("intro", ""),
                ("opens", &today),
                ("closes", ""),
                ("collect_contact", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    for (kind, prompt, required) in [
        ("rating", "How was the visit?", "1"),
        ("long", "What could we do better?", ""),
    ] {
        let r = app
            .post_form(
                &format!("{path}/questions"),
                &[
                    ("kind", kind),
                    ("prompt", prompt),
                    ("options", ""),
                    ("required", required),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
    }
    survey_questions(app, "follow-up").await
}

both! {
    async fn an_editor_builds_a_survey_with_every_kind_of_question(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("agent").await;
        assert_eq!(app.get("/admin/surveys").await.status(), 403, "editors only");
        app.login_as("editor").await;
        assert!(app.get_text("/admin/surveys").await.1.contains("How are we doing?"));
        assert_eq!(app.get("/admin/surveys/new").await.status(), 200);

        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let r = app.post_form("/admin/surveys/new", &[("title", ""), ("opens", "tomorrow")]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("Please give the survey a title.") && page.contains("date like"));
        let r = app.post_form("/admin/surveys/new", &[("title", "Dup"), ("slug", DEMO)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("already uses this address"));
        let r = app.post_form("/admin/surveys/new", &[("title", "Late"), ("opens", "2026-05-02"), ("closes", "2026-05-01")]).await;
        assert_eq!(r.status(), 422);

        let r = app.post_form("/admin/surveys/new", &[("title", "Onboarding feedback"), ("opens", &today)]).await;
        assert_eq!(r.status(), 303);
        let path = r.headers()["location"].to_str().unwrap().to_string();
        let add = |kind: &'static str, prompt: &'static str, options: &'static str, required: &'static str| {
            let path = format!("{path}/questions");
            let app = &app;
            async move { app.post_form(&path, &[("kind", kind), ("prompt", prompt), ("options", options), ("required", required)]).await }
        };
        let r = add("single", "Was setup easy?", "Yes only", "1").await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("between 2 and 20") && page.contains("value=\"Was setup easy?\""));
        assert_eq!(add("essay", "What?", "", "").await.status(), 422);
        for (kind, prompt, options, required) in [
            ("single", "Was setup easy?", "Yes\nNo", "1"),
            ("multiple", "Which tools do you use?", "Outlook\nTeams\nExcel", ""),
            ("rating", "Rate the onboarding call", "", "1"),
            ("nps", "Would you recommend us?", "", "1"),
            ("short", "Your role", "", ""),
            ("long", "Anything else?", "", ""),
        ] {
            assert_eq!(add(kind, prompt, options, required).await.status(), 303, "{kind}");
        }
        let (_, qs) = survey_questions(&app, "onboarding-feedback").await;
        let kinds: Vec<&str> = qs.iter().map(|q| q.kind.as_str()).collect();
        assert_eq!(kinds, ["single", "multiple", "rating", "nps", "short", "long"]);
        assert_eq!(qs[1].options, ["Outlook", "Teams", "Excel"]);
        assert!(qs[0].required && !qs[1].required);

        // Ordering, editing and deleting.
        let r = app.post_form(&format!("{path}/questions/{}/move", qs[5].id), &[("direction", "up")]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form(&format!("{path}/questions/{}", qs[0].id), &[("prompt", "Was setup easy enough?"), ("options", "Yes\nNo\nNot sure"), ("required", "1")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.post_form(&format!("{path}/questions/{}", qs[0].id), &[("prompt", ""), ("options", "Yes\nNo")]).await.status(), 422);
        assert_eq!(app.post_form(&format!("{path}/questions/{}/delete", qs[4].id), &[]).await.status(), 303);
        let (_, now) = survey_questions(&app, "onboarding-feedback").await;
        let prompts: Vec<&str> = now.iter().map(|q| q.prompt.as_str()).collect();
        assert_eq!(prompts, ["Was setup easy enough?", "Which tools do you use?", "Rate the onboarding call", "Would you recommend us?", "Anything else?"]);
        assert_eq!(now[0].options, ["Yes", "No", "Not sure"]);
        assert!(audited(&app, "add-question").await >= 6);
        assert_eq!(audited(&app, "move-question").await, 1);

        // Visitors see it; a draft stays hidden.
        let (_, list) = app.get_text("/surveys").await;
        assert!(list.contains("Onboarding feedback") && list.contains("How are we doing?"));
        assert_eq!(app.post_form("/admin/surveys/new", &[("title", "Secret draft")]).await.status(), 303);
        assert!(!app.get_text("/surveys").await.1.contains("Secret draft"));
        assert_eq!(app.get("/surveys/secret-draft").await.status(), 404);
        assert_eq!(app.get("/surveys/no-such-survey").await.status(), 404);
        let (status, form) = app.get_text("/surveys/onboarding-feedback").await;
        assert_eq!(status, 200);
        assert!(form.contains("type=\"checkbox\"") && form.contains("type=\"radio\"") && form.contains("<textarea"));
        let survey_form = form.split("action=\"/surveys/onboarding-feedback\"").nth(1).unwrap().split("</form>").next().unwrap();
        assert!(!survey_form.contains("birth_year"), "an anonymous survey asks nothing about the person");
    }

    async fn a_visitor_answers_without_javascript_and_required_questions_are_enforced(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, qs) = survey_questions(&app, DEMO).await;
        let visitor = Visitor::new();
        let (status, page) = visitor.page(&app, DEMO).await;
        assert_eq!(status, 200);
        assert!(page.contains("How likely are you to recommend") && page.contains("value=\"10\""));

        let mut missing = demo_answer(&qs, "", "", "1", &["0", "3"], "Friendly", "Keep it up");
        missing.retain(|(k, v)| !(v.is_empty() && k == &format!("q{}", qs[0].id)));
        let r = visitor.answer(&app, DEMO, &missing).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("Please answer this question."));
        assert!(page.contains("value=\"Friendly\"") && page.contains("Keep it up"), "typed answers come back");
        assert!(page.contains(&format!("name=\"q{}\" value=\"3\" checked", qs[3].id)), "ticked boxes stay ticked");

        for bad in [
            demo_answer(&qs, "11", "5", "1", &[], "", ""),
            demo_answer(&qs, "9", "0", "1", &[], "", ""),
            demo_answer(&qs, "9", "5", "7", &[], "", ""),
            demo_answer(&qs, "9", "5", "1", &["9"], "", ""),
            demo_answer(&qs, "9", "5", "1", &[], &"x".repeat(201), ""),
        ] {
            assert_eq!(visitor.answer(&app, DEMO, &bad).await.status(), 422);
        }
        let mut two = demo_answer(&qs, "9", "5", "1", &[], "", "");
        two.push(q(&qs[0], "10"));
        assert_eq!(visitor.answer(&app, DEMO, &two).await.status(), 422, "one answer to a single choice");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_responses").await, 0);

        let r = visitor.answer(&app, DEMO, &demo_answer(&qs, "9", "4", "1", &["0", "3"], "Friendly", "")).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/surveys/{DEMO}?thanks=1"));
        let r = visitor.client.get(app.url(&format!("/surveys/{DEMO}?thanks=1"))).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("Thank you: your answers are saved."));
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_responses").await, 1);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_answers").await, 6, "nps, rating, single, two choices, short");
    }

    async fn each_visitor_answers_once_without_a_tracking_cookie(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, qs) = survey_questions(&app, DEMO).await;
        let answer = demo_answer(&qs, "8", "4", "0", &[], "", "");
        let first = Visitor::new();
        let (_, page) = first.page(&app, DEMO).await;
        let (token, csrf) = (hidden(&page, "token"), hidden(&page, "csrf"));
        let r = first.send(&app, DEMO, &token, &csrf, &answer).await;
        assert_eq!(r.status(), 303);
        let cookie = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("oc_surveys=")).expect("answered cookie");
        let survey_id = survey_db::survey_by_slug(&app.state.db, DEMO).await.unwrap().unwrap().id;
        assert!(cookie.starts_with(&format!("oc_surveys=s1-{survey_id}.")), "only survey numbers: {cookie}");
        assert!(cookie.contains("Path=/surveys") && cookie.contains("HttpOnly"));

        // The same browser: no form, and a resend is refused.
        let (status, page) = first.page(&app, DEMO).await;
        assert_eq!(status, 200);
        assert!(page.contains("already answered") && !page.contains("name=\"token\""));
        assert_eq!(first.send(&app, DEMO, &token, &csrf, &answer).await.status(), 409);
        assert!(first.client.get(app.url("/surveys")).send().await.unwrap().text().await.unwrap().contains("You answered this one"));

        // Another browser replaying the same form (its token) is refused too.
        let second = Visitor::new();
        let (_, page) = second.page(&app, DEMO).await;
        let r = second.send(&app, DEMO, &token, &hidden(&page, "csrf"), &answer).await;
        assert_eq!(r.status(), 409);
        let forged = second.send(&app, DEMO, &format!("{survey_id}-abc.AAAA"), &hidden(&page, "csrf"), &answer).await;
        assert_eq!(forged.status(), 422);
        assert!(forged.text().await.unwrap().contains("form has expired"));
        // Its own form goes through.
        assert_eq!(second.answer(&app, DEMO, &answer).await.status(), 303);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_responses").await, 2);

        // With contact details, one response per person, whatever the browser.
        let (_, qs) = contact_survey(&app).await;
        let fields = |name: &str| vec![q(&qs[0], "5"), ("name".into(), name.into()), ("email".into(), "lee@example.com".into()), ("birth_year".into(), "1970".into())];
        assert_eq!(Visitor::new().answer(&app, "follow-up", &fields("Lee")).await.status(), 303);
        let r = Visitor::new().answer(&app, "follow-up", &fields("Lee again")).await;
        assert_eq!(r.status(), 409);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_responses WHERE subject_id IS NOT NULL").await, 1);
    }

    async fn results_show_counts_charts_nps_and_free_text_and_export_as_csv(backend) {
        let app = TestApp::spawn(backend).await;
        let (id, qs) = survey_questions(&app, DEMO).await;
        for answer in [
            demo_answer(&qs, "10", "5", "1", &["0", "3"], "Fast", "=SUM(A1) is what I type"),
            demo_answer(&qs, "9", "4", "1", &["0"], "", "Great \"team\", thanks"),
            demo_answer(&qs, "3", "4", "2", &[], "Slow", ""),
        ] {
            assert_eq!(Visitor::new().answer(&app, DEMO, &answer).await.status(), 303);
        }
        app.login_as("editor").await;
        let (status, page) = app.get_text(&format!("/admin/surveys/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("3 responses"));
        assert!(page.contains("Net Promoter Score: <strong>33</strong> (2 promoters, 0 passives, 1 detractors)"), "{page}");
        assert!(page.contains("average 4.3"), "rating average");
        // Live chat: 2 of 3 = 67%, drawn as an SVG bar 67 wide.
        assert!(page.contains("<rect width=\"67\" height=\"10\"") && page.contains("2 (67%)"));
        assert!(page.contains("Response time") && page.contains("2 (100%)"), "multiple choice counts over who answered it");
        assert!(!page.contains("style="), "CSP: no inline styles");
        // Free text is personal: an editor sees how many, not what.
        assert!(page.contains("2 written answers") && !page.contains("Fast") && !page.contains("SUM(A1)"), "{page}");

        app.login_as("admin").await;
        let (status, page) = app.get_text(&format!("/admin/surveys/{id}/answers")).await;
        assert_eq!(status, 200);
        assert!(page.contains("Fast") && page.contains("Slow") && page.contains("Great &#34;team&#34;, thanks"), "free text, escaped");
        let r = app.get(&format!("/admin/surveys/{id}/results.csv")).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains("survey-customer-satisfaction.csv"));
        let csv = r.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("response,submitted_at,How likely"), "{}", lines[0]);
        assert!(lines[1].ends_with(",10,5,Live chat,Response time; Prices,Fast,'=SUM(A1) is what I type"), "{}", lines[1]);
        assert!(lines[2].contains(",\"Great \"\"team\"\", thanks\""));
        assert_eq!(audited(&app, "export-csv").await, 1, "a CSV export is audited");

        // Text answers are sealed at rest.
        let texts: Vec<Vec<u8>> = sqlx::query_scalar("SELECT text_value FROM survey_answers WHERE text_value IS NOT NULL")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(texts.len(), 4);
        assert!(texts.iter().all(|t| !String::from_utf8_lossy(t).contains("Fast") && !String::from_utf8_lossy(t).contains("SUM")));

        // With responses, the questions are fixed (rewording and order still allowed).
        let r = app.post_form(&format!("/admin/surveys/{id}/questions"), &[("kind", "short"), ("prompt", "New?")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("can no longer be added"));
        assert_eq!(app.post_form(&format!("/admin/surveys/{id}/questions/{}/delete", qs[4].id), &[]).await.status(), 422);
        let changed = app.post_form(&format!("/admin/surveys/{id}/questions/{}", qs[2].id), &[("prompt", "How do you reach us?"), ("options", "Fax\nPigeon")]).await;
        assert_eq!(changed.status(), 422);
        let reworded = app.post_form(&format!("/admin/surveys/{id}/questions/{}", qs[2].id), &[("prompt", "How do you reach us?"), ("options", &qs[2].options.join("\n"))]).await;
        assert_eq!(reworded.status(), 303);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_questions").await, 6);

        // Closing the survey: gone from /surveys, answers refused with 410.
        let r = app.post_form(&format!("/admin/surveys/{id}"), &[("title", "How are we doing?"), ("slug", DEMO), ("opens", "2020-01-01"), ("closes", "2020-12-31")]).await;
        assert_eq!(r.status(), 303);
        assert!(!app.get_text("/surveys").await.1.contains("How are we doing?"));
        let (status, page) = Visitor::new().page(&app, DEMO).await;
        assert_eq!(status, 410);
        assert!(page.contains("This survey is closed"));
    }

    async fn contact_details_ask_the_age_and_a_child_leaves_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, qs) = contact_survey(&app).await;
        let visitor = Visitor::new();
        let (_, page) = visitor.page(&app, "follow-up").await;
        assert!(page.contains("name=\"birth_year\"") && page.contains("name=\"email\""));
        let year = (chrono::Utc::now().format("%Y").to_string().parse::<i32>().unwrap() - 9).to_string();
        let fields = vec![q(&qs[0], "4"), q(&qs[1], "My mum helps me"), ("name".to_string(), "Kid".to_string()),
                          ("email".to_string(), "kid@example.com".to_string()), ("birth_year".to_string(), year)];
        let r = visitor.answer(&app, "follow-up", &fields).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("Thank you for visiting"));
        // Remembered for the session, on every survey, anonymous ones too.
        let (_, demo) = survey_questions(&app, DEMO).await;
        let r = visitor.answer(&app, DEMO, &demo_answer(&demo, "9", "5", "0", &[], "", "")).await;
        assert_eq!(r.status(), 403);
        for sql in ["SELECT COUNT(*) FROM survey_responses", "SELECT COUNT(*) FROM survey_answers", "SELECT COUNT(*) FROM subjects"] {
            assert_eq!(count(&app, sql).await, 0, "{sql}");
        }
        // The age question is required, and a name needs an email.
        let adult = Visitor::new();
        let r = adult.answer(&app, "follow-up", &[q(&qs[0], "4"), ("name".into(), "Ann".into())]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("year of birth") && page.contains("add your email address too") && page.contains("value=\"Ann\""));
        // Anonymous on a contact survey: no subject is made.
        let r = adult.answer(&app, "follow-up", &[q(&qs[0], "4"), ("birth_year".into(), "1980".into())]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM subjects").await, 0);
    }

    async fn my_data_export_and_erasure_cover_survey_answers_given_with_contact_details(backend) {
        let app = TestApp::spawn(backend).await;
        let (id, qs) = contact_survey(&app).await;
        let fields = vec![q(&qs[0], "2"), q(&qs[1], "The technician was late"), ("name".to_string(), "Jo Client".to_string()),
                          ("email".to_string(), "jo@example.com".to_string()), ("birth_year".to_string(), "1975".to_string())];
        assert_eq!(Visitor::new().answer(&app, "follow-up", &fields).await.status(), 303);
        assert_eq!(Visitor::new().answer(&app, "follow-up", &[q(&qs[0], "5"), q(&qs[1], "All good"), ("birth_year".into(), "1975".into())]).await.status(), 303);
        app.login_as("admin").await;
        let (_, results) = app.get_text(&format!("/admin/surveys/{id}/answers")).await;
        assert!(results.contains("The technician was late") && results.contains("All good"));
        let csv = app.get(&format!("/admin/surveys/{id}/results.csv")).await.text().await.unwrap();
        assert!(csv.contains(",Jo Client,jo@example.com,2,The technician was late"), "{csv}");

        // Through the my-data page, as the person would.
        let person = client();
        let page = person.get(app.url("/my-data")).send().await.unwrap().text().await.unwrap();
        person.post(app.url("/my-data")).form(&[("csrf", extract_csrf(&page).as_str()), ("email", "jo@example.com")]).send().await.unwrap();
        app.drain_outbox().await;
        let link = app.mails().last().unwrap().link(&format!("{}/my-data/", app.base));
        let shown = person.get(&link).send().await.unwrap().text().await.unwrap();
        assert!(shown.contains("The technician was late") && shown.contains("Jo Client"), "survey answers shown on my-data");
        let json: serde_json::Value = person.get(format!("{link}/export.json")).send().await.unwrap().json().await.unwrap();
        let tables: Vec<&str> = json["data"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
        assert!(tables.contains(&"survey_responses") && tables.contains(&"survey_answers"), "{tables:?}");
        assert!(json.to_string().contains("jo@example.com"));

        let state = &app.state;
        let subject = subjects::find(&state.db, &state.keyring, "jo@example.com").await.unwrap().unwrap();
        let mut tx = state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_responses").await, 1, "the anonymous response stays");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM survey_answers WHERE subject_id IS NOT NULL").await, 0);
        let (_, results) = app.get_text(&format!("/admin/surveys/{id}/answers")).await;
        assert!(!results.contains("The technician was late") && results.contains("All good"));
    }

    async fn an_editor_sees_counts_only_and_each_read_of_personal_answers_by_an_admin_is_audited(backend) {
        let app = TestApp::spawn(backend).await;
        let (id, qs) = contact_survey(&app).await;
        let fields = vec![q(&qs[0], "4"), q(&qs[1], "Ask for Mr Secret"), ("name".to_string(), "Pat Private".to_string()),
                          ("email".to_string(), "pat@example.com".to_string()), ("birth_year".to_string(), "1980".to_string())];
        assert_eq!(Visitor::new().answer(&app, "follow-up", &fields).await.status(), 303);

        // The editor (signed in by contact_survey): aggregates, no personal answers anywhere.
        let (status, page) = app.get_text(&format!("/admin/surveys/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("1 response") && page.contains("average 4.0") && page.contains("1 written answer"), "{page}");
        for personal in ["Ask for Mr Secret", "Pat Private", "pat@example.com", "/answers", "results.csv"] {
            assert!(!page.contains(personal), "an editor's results page shows {personal}");
        }
        for path in [format!("/admin/surveys/{id}/answers"), format!("/admin/surveys/{id}/results.csv")] {
            let (status, body) = app.get_text(&path).await;
            assert_eq!(status, 403, "{path}");
            assert!(!body.contains("Pat Private") && !body.contains("Ask for Mr Secret"));
        }
        assert_eq!(audited(&app, "view-answers").await + audited(&app, "export-csv").await, 0);

        // An admin reads them; each read leaves an audit row naming who.
        let admin = app.login_as("admin").await;
        let (_, page) = app.get_text(&format!("/admin/surveys/{id}")).await;
        assert!(page.contains(&format!("/admin/surveys/{id}/answers")) && !page.contains("Pat Private"));
        let (status, answers) = app.get_text(&format!("/admin/surveys/{id}/answers")).await;
        assert_eq!(status, 200);
        assert!(answers.contains("Pat Private") && answers.contains("pat@example.com") && answers.contains("Ask for Mr Secret"));
        assert_eq!(audited(&app, "view-answers").await, 1);
        let csv = app.get(&format!("/admin/surveys/{id}/results.csv")).await.text().await.unwrap();
        assert!(csv.contains("Pat Private,pat@example.com,4,Ask for Mr Secret"), "{csv}");
        assert_eq!(audited(&app, "export-csv").await, 1);
        let (_, log) = app.get_text("/admin/audit?q=survey").await;
        assert!(log.contains("view-answers") && log.contains("export-csv") && log.contains(&admin), "{log}");
    }
}
