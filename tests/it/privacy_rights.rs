//! Privacy rights: my-data (access, export, correction, erasure), retention,
//! breach incidents, policy versions.

use crate::{both, helpers::*};
use officecomms::{
    platform::now_ms,
    privacy::{erasure, retention, subjects},
};

const PERSON: &str = "pat.doe@example.com";
const SECRET: &str = "printer jammed on floor 3";

/// Gives the app data about PERSON the way features do: a subject, an
/// encrypted mail, and a listed breach recipient.
async fn seed_person(app: &TestApp) -> i64 {
    app.mail_person(PERSON, "Re your question", SECRET).await
}

/// Requests the my-data link for `email` and returns its path from the mail.
async fn my_data_link(app: &TestApp, email: &str) -> String {
    let before = app.mails().len();
    let r = app.post_form("/my-data", &[("email", email)]).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("If we hold any data about")
    );
    app.drain_outbox().await;
    let mails = app.mails();
    assert_eq!(mails.len(), before + 1, "one link mail");
    let mail = mails.last().unwrap();
    assert_eq!(mail.to, email);
    mail.link(&format!("{}/my-data/", app.base))
        .trim_start_matches(&app.base)
        .to_string()
}

/// The text a person reads on a page: its tags and their attributes gone.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The longest run of digits in `text`.
pub fn longest_number(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

both! {
    async fn the_page_reads_as_cards_with_no_raw_numbers_or_json_and_one_way_to_correct_each_field(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        let token = officecomms::support::intake::new_token(&app.state.keyring, now_ms() - 10_000);
        let r = app.post_form("/contact", &crate::support::query(&token, PERSON)).await;
        assert_eq!(r.status(), 303);
        app.drain_outbox().await;
        let (reference,): (String,) = sqlx::query_as("SELECT reference FROM tickets").fetch_one(&app.state.db.pool).await.unwrap();
        let path = my_data_link(&app, PERSON).await;
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 200);
        let text = visible_text(&page);
        assert!(longest_number(&text) < 12, "a raw number on the page: {text}");
        assert!(!text.contains("{&quot;") && !text.contains("&quot;:") && !text.contains("{\"") && !text.contains("\":"), "JSON on the page: {text}");
        assert!(text.contains(&format!("Support request {reference} · open · ")), "the ticket's summary line: {text}");
        assert!(text.contains("“Re your question” · sent "), "a mail by its subject: {text}");
        assert!(page.contains("<details class=\"record\">"), "details on demand");
        assert!(text.contains("The reference to quote when you write to us"), "each field says why we keep it");
        assert!(text.contains("Also kept, for our systems only, and in your download: fingerprint of your email address"));
        for raw in ["wrapped key", "dedupe key", "ticket-received:", "<!doctype html>", "&lt;p&gt;"] {
            assert!(!text.contains(raw), "{raw:?} shown to the person");
        }
        let headings: Vec<&str> = page.match_indices("<h2 id=\"g-").map(|(i, _)| page[i..].split('>').nth(1).unwrap().split('<').next().unwrap()).collect();
        let mut unique = headings.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), headings.len(), "no section title twice: {headings:?}");
        assert!(headings.contains(&"Support requests") && headings.contains(&"Emails we sent you"), "{headings:?}");
        // The phone is corrected in one place, as typed; its international
        // form follows.
        assert_eq!(page.matches("name=\"column\" value=\"phone\"").count(), 1, "one form for the phone");
        assert!(!page.contains("value=\"phone_e164\""), "the derived number is not a second form");
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM tickets").fetch_one(&app.state.db.pool).await.unwrap();
        let id = id.to_string();
        let r = app.post_form(&format!("{path}/correct"), &[("table", "tickets"), ("id", &id), ("column", "phone_e164"), ("value", "+15105550100")]).await;
        assert_eq!(r.status(), 422, "the derived number cannot be corrected on its own");
        let r = app.post_form(&format!("{path}/correct"), &[("table", "tickets"), ("id", &id), ("column", "phone"), ("value", "(415) 555-2672")]).await;
        assert_eq!(r.status(), 303);
        let export: serde_json::Value = app.get(&format!("{path}/export.json")).await.json().await.unwrap();
        let tickets = export["data"].as_array().unwrap().iter().find(|t| t["table"] == "tickets").unwrap();
        assert_eq!(tickets["rows"][0]["phone"], "(415) 555-2672");
        assert_eq!(tickets["rows"][0]["phone_e164"], "+14155552672", "the international form follows the correction");
        let r = app.post_form(&format!("{path}/correct"), &[("table", "tickets"), ("id", &id), ("column", "phone"), ("value", "ask for Pat at reception")]).await;
        assert_eq!(r.status(), 303);
        let export: serde_json::Value = app.get(&format!("{path}/export.json")).await.json().await.unwrap();
        let tickets = export["data"].as_array().unwrap().iter().find(|t| t["table"] == "tickets").unwrap();
        assert_eq!(tickets["rows"][0]["phone_e164"], serde_json::Value::Null, "no number, no international form");
    }

    async fn my_data_answers_the_same_for_unknown_addresses_and_mails_only_known_ones(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        let before = app.mails().len();
        let unknown = app.post_form("/my-data", &[("email", "nobody@example.com")]).await.text().await.unwrap();
        app.drain_outbox().await;
        assert_eq!(app.mails().len(), before, "nothing sent for an unknown address");
        let known = app.post_form("/my-data", &[("email", PERSON)]).await.text().await.unwrap();
        let strip = |s: &str, e: &str| s.replace(e, "EMAIL").replace(&extract_csrf_or_empty(s), "");
        assert_eq!(strip(&unknown, "nobody@example.com"), strip(&known, PERSON), "the page does not reveal who we know");
        app.drain_outbox().await;
        assert_eq!(app.mails().len(), before + 1);
        let r = app.post_form("/my-data", &[("email", "not an address")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("value=\"not an address\""));
    }

    async fn the_link_shows_everything_held_and_works_in_one_browser_only(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        let path = my_data_link(&app, PERSON).await;
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 200);
        assert!(page.contains(SECRET), "decrypted mail shown");
        assert!(page.contains("Emails we sent you"));
        // Another browser with the same link is refused.
        let other = client();
        let r = other.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 410);
        assert!(r.text().await.unwrap().contains("expired or has already been used"));
        // The first browser keeps access.
        assert_eq!(app.get(&path).await.status(), 200);
        // An expired, unopened link is refused.
        let stale = my_data_link(&app, PERSON).await;
        sqlx::query("UPDATE privacy_requests SET expires_at = 0 WHERE claim_hash IS NULL")
            .execute(&app.state.db.pool).await.unwrap();
        assert_eq!(client().get(app.url(&stale)).send().await.unwrap().status(), 410);
        assert_eq!(app.get("/my-data/forged-token").await.status(), 404);
    }

    async fn the_json_export_holds_every_inventory_column_of_every_table_with_data(backend) {
        let app = TestApp::spawn(backend).await;
        let subject_id = seed_person(&app).await;
        let path = my_data_link(&app, PERSON).await;
        app.get(&path).await;
        let r = app.get(&format!("{path}/export.json")).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
        let json: serde_json::Value = r.json().await.unwrap();
        let data = json["data"].as_array().unwrap();
        let tables: Vec<&str> = data.iter().map(|t| t["table"].as_str().unwrap()).collect();
        assert!(tables.contains(&"subjects") && tables.contains(&"outbox"), "{tables:?}");
        for t in data {
            let declared = app.state.registry.inventory.table(t["table"].as_str().unwrap()).unwrap();
            for row in t["rows"].as_array().unwrap() {
                for col in declared.other.iter().copied().chain(declared.personal.iter().map(|f| f.column)) {
                    assert!(row.get(col).is_some(), "{}.{col} missing from export", declared.name);
                }
            }
        }
        assert!(json["readme"].as_str().unwrap().contains("Each entry of `data`"));
        for t in data {
            let declared = app.state.registry.inventory.table(t["table"].as_str().unwrap()).unwrap();
            assert_eq!(t["title"], declared.title);
            let rows = t["rows"].as_array().unwrap();
            assert_eq!(t["summaries"].as_array().unwrap().len(), rows.len(), "a summary per row");
            for col in declared.other.iter().copied().chain(declared.personal.iter().map(|f| f.column)) {
                let explanation = t["fields"][col]["explanation"].as_str().unwrap_or_default();
                assert!(explanation.len() > 10, "{}.{col} exported without its explanation", declared.name);
            }
        }
        let subjects = data.iter().find(|t| t["table"] == "subjects").unwrap();
        assert_eq!(subjects["fields"]["wrapped_key"]["shown"], "internal", "internal fields are in the export, marked");
        assert!(subjects["summaries"][0].as_str().unwrap().starts_with("Your record with us · since "));
        let outbox = data.iter().find(|t| t["table"] == "outbox").unwrap();
        assert!(outbox["summaries"][0].as_str().unwrap().starts_with("“Re your question” · sent "), "{}", outbox["summaries"]);
        let payloads: Vec<String> = outbox["rows"].as_array().unwrap().iter().map(|r| r["payload"].to_string()).collect();
        assert!(payloads.iter().any(|p| p.contains(SECRET)), "encrypted fields exported decrypted");
        assert!(json["data"].to_string().contains(&subject_id.to_string()));
    }

    async fn erasure_leaves_nothing_readable_anywhere_and_confirms_by_mail(backend) {
        let app = TestApp::spawn(backend).await;
        let subject_id = seed_person(&app).await;
        let path = my_data_link(&app, PERSON).await;
        let (_, confirm) = app.get_text(&format!("{path}/delete")).await;
        assert!(confirm.contains("Erase everything?"));
        assert!(confirm.contains("Emails we sent you: 2") && confirm.contains("Your record with us: 1"), "what will be erased");
        assert!(confirm.contains("What we keep, and why") && confirm.contains("never write to you again"), "what is kept");
        assert!(confirm.contains("<button type=\"submit\" class=\"danger\">Erase everything, for good</button>"), "the destructive button");
        let r = app.post_form(&format!("{path}/delete"), &[]).await;
        assert_eq!(r.status(), 422, "confirmation required");
        let r = app.post_form(&format!("{path}/delete"), &[("confirm", "yes")]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("Your data is erased"));
        app.drain_outbox().await;
        let last = app.mails().pop().unwrap();
        assert_eq!(last.to, PERSON);
        assert!(last.subject.contains("erased"));

        // Search every column of every table for the plaintext.
        let state = &app.state;
        let mut readable = vec![];
        for (table, column) in state.db.columns().await.unwrap() {
            let sql = format!("SELECT {column} FROM {table}");
            // Columns the Any driver cannot decode (PostgreSQL tsvector of
            // article text) hold no personal data; everything else is read.
            let Ok(rows) = sqlx::query(officecomms::platform::db::trusted_sql(sql)).fetch_all(&state.db.pool).await else {
                continue;
            };
            for row in rows {
                use sqlx::Row;
                let text = row.try_get::<Option<String>, _>(0).ok().flatten()
                    .or_else(|| row.try_get::<Option<Vec<u8>>, _>(0).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .unwrap_or_default()
                    .to_lowercase();
                if text.contains("pat.doe") || text.contains("printer jammed") {
                    readable.push(format!("{table}.{column}"));
                }
            }
        }
        // The erasure confirmation itself waits in the outbox encrypted, never in the clear.
        assert!(readable.is_empty(), "plaintext left in {readable:?}");
        assert!(subjects::key(&state.db, &state.keyring, subject_id).await.unwrap().is_none(), "key destroyed");
        assert!(erasure::is_suppressed(state, PERSON).await.unwrap(), "suppression hash kept");
        let log = erasure::read_log(&app.dir.path().join(erasure::LOG_FILE)).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].subject_id, subject_id);
        // The link is finished.
        assert_eq!(app.get(&path).await.status(), 410);
    }

    async fn contact_fields_can_be_corrected_and_nothing_else(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Lost laptop"), ("description", "A laptop was stolen."),
            ("discovered_at", "2026-11-02T09:00"), ("category_contact", "1"),
            ("scope", "listed"), ("emails", PERSON),
        ]).await;
        assert_eq!(r.status(), 303);
        let person = client();
        let csrf_page = person.get(app.url("/my-data")).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&csrf_page);
        person.post(app.url("/my-data")).form(&[("csrf", csrf.as_str()), ("email", PERSON)]).send().await.unwrap();
        app.drain_outbox().await;
        let path = app.mails().last().unwrap().link(&format!("{}/my-data/", app.base)).trim_start_matches(&app.base).to_string();
        let page = person.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("name=\"column\" value=\"email\""), "the address is correctable");
        let id_marker = "name=\"table\" value=\"incident_recipients\">";
        let start = page.find(id_marker).unwrap();
        let id: String = page[start..].split("name=\"id\" value=\"").nth(1).unwrap().chars().take_while(|c| c.is_ascii_digit()).collect();
        let correct = |column: &'static str, value: &'static str, table: &'static str| {
            let (person, app, path, csrf, id) = (person.clone(), app.url(&format!("{path}/correct")), path.clone(), csrf.clone(), id.clone());
            let _ = path;
            async move {
                person.post(app).form(&[("csrf", csrf.as_str()), ("table", table), ("id", id.as_str()), ("column", column), ("value", value)])
                    .send().await.unwrap()
            }
        };
        let r = correct("email", "pat@example.org", "incident_recipients").await;
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let page = person.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("pat@example.org") && page.contains("Your correction is saved"));
        assert_eq!(correct("email", "not-an-email", "incident_recipients").await.status(), 422);
        assert_eq!(correct("subject_id", "1", "incident_recipients").await.status(), 422);
        assert_eq!(correct("payload", "x", "outbox").await.status(), 422);
        // Names that would rewrite the SQL if they reached it never do.
        assert_eq!(correct("email = $1, subject_id", "pat@example.org", "incident_recipients").await.status(), 422);
        assert_eq!(correct("email", "pat@example.org", "incident_recipients; DELETE FROM subjects; --").await.status(), 422);
        let page = person.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("pat@example.org"), "the corrected row is untouched");
        assert!(app.get_text("/admin/audit?q=correct").await.1.contains("data subject"));
    }

    async fn retention_purges_what_has_expired_when_the_clock_moves(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        app.login_as("admin").await;
        let db = &app.state.db;
        assert!(retention::purge(db, &app.state.registry.inventory, now_ms()).await.unwrap().iter().all(|(t, _)| *t != "outbox"), "nothing expired yet");
        let in_31_days = now_ms() + 31 * 86_400_000;
        let purged = retention::purge(db, &app.state.registry.inventory, in_31_days).await.unwrap();
        assert!(purged.contains(&("outbox", 1)), "{purged:?}");
        let audit_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&db.pool).await.unwrap();
        assert!(audit_rows > 0, "audit entries are kept for two years");
        retention::purge(db, &app.state.registry.inventory, now_ms() + 731 * 86_400_000).await.unwrap();
        let audit_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&db.pool).await.unwrap();
        assert_eq!(audit_rows, 0);
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("30 days") && policy.contains("730 days"), "the policy shows the real periods");
    }

    async fn a_breach_for_everyone_shows_on_every_page_with_its_deadline(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Backup drive exposed"), ("description", "A backup was readable for two hours."),
            ("discovered_at", "2026-11-25T00:30"), ("category_identity", "1"), ("scope", "everyone"),
        ]).await;
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let (_, page) = app.get_text(&location).await;
        // Found Wednesday 25 Nov, 00:30 as the admin typed it (the company's
        // zone, California): 7 business days, Thanksgiving skipped, to the
        // end of Monday 7 Dec there.
        assert!(page.contains("title=\"Mon 7 Dec 2026, 23:59 PST\">Mon 7 Dec 2026, 23:59</time>"), "{page}");
        let stored: i64 = sqlx::query_scalar("SELECT discovered_at FROM incidents").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(stored, 1_795_595_400_000, "00:30 PST is 08:30 UTC");
        assert!(!app.get_text("/").await.1.contains("Backup drive exposed"));
        let r = app.post_form(&format!("{location}/publish"), &[]).await;
        assert_eq!(r.status(), 303);
        for path in ["/", "/privacy", "/my-data"] {
            assert!(client().get(app.url(path)).send().await.unwrap().text().await.unwrap().contains("Security notice: Backup drive exposed"));
        }
        let (_, list) = app.get_text("/admin/privacy/incidents").await;
        assert!(list.contains("Backup drive exposed"));
        assert!(app.get_text("/admin/audit?q=incident").await.1.contains("publish"));
    }

    async fn a_breach_for_listed_people_mails_them_and_is_flagged_late(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Mailbox misdelivery"), ("description", "Replies went to the wrong person."),
            ("discovered_at", "2026-01-05T10:00"), ("category_message", "1"), ("scope", "listed"),
            ("emails", &format!("{PERSON}\nsam@example.com")),
        ]).await;
        let location = r.headers()["location"].to_str().unwrap().to_string();
        app.post_form(&format!("{location}/publish"), &[]).await;
        app.drain_outbox().await;
        let notices: Vec<_> = app.mails().into_iter().filter(|m| m.subject.contains("Security notice")).collect();
        let mut to: Vec<_> = notices.iter().map(|m| m.to.clone()).collect();
        to.sort();
        assert_eq!(to, vec![PERSON.to_string(), "sam@example.com".to_string()]);
        assert!(notices[0].text.contains("Replies went to the wrong person."));
        let (_, page) = app.get_text(&location).await;
        assert!(page.contains("late: after the deadline") && page.contains("2 of 2"));
        // Not on every page, but on the listed person's my-data page.
        assert!(!client().get(app.url("/")).send().await.unwrap().text().await.unwrap().contains("Mailbox misdelivery"));
        let path = my_data_link(&app, PERSON).await;
        assert!(app.get_text(&path).await.1.contains("Security notice: Mailbox misdelivery"));
    }

    async fn bad_incident_forms_come_back_with_messages(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Oops"), ("description", ""), ("discovered_at", "yesterday"), ("scope", "listed"), ("emails", "bad-address"),
        ]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        for m in ["Describe what happened", "Enter the date and time", "Choose at least one kind", "bad-address is not a valid"] {
            assert!(body.contains(m), "{m}");
        }
        assert!(body.contains("value=\"Oops\""));
        assert!(app.get_text("/admin/privacy/incidents").await.1.contains("No incidents recorded"));
    }

    async fn staff_open_requests_for_people_who_asked_by_phone(backend) {
        let app = TestApp::spawn(backend).await;
        seed_person(&app).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/requests", &[("email", PERSON)]).await;
        assert!(r.text().await.unwrap().contains("the person was sent a link"));
        let r = app.post_form("/admin/privacy/requests", &[("email", "stranger@example.com")]).await;
        assert!(r.text().await.unwrap().contains("We hold nothing about this address"));
        app.drain_outbox().await;
        assert_eq!(app.mails().last().unwrap().to, PERSON);
        let (_, list) = app.get_text("/admin/privacy/requests").await;
        let due = officecomms::platform::templates::format_in_zone(
            now_ms() + 45 * 86_400_000,
            officecomms::platform::settings::DEFAULT_TIME_ZONE,
        );
        let day = due.split(',').next().unwrap();
        assert!(list.contains("staff") && list.contains(day), "due in 45 days");
    }

    async fn earlier_policy_versions_stay_readable(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, first) = app.get_text("/privacy").await;
        let today = officecomms::platform::templates::readable_date(now_ms());
        assert!(first.contains(&format!("Version 1 · last updated {today}")), "{first}");
        assert!(first.contains("officecomms, 1200 Harbor Street") && !first.contains("officecomms, officecomms"), "the company named once");
        assert!(first.contains("<a class=\"anchor\" href=\"#who-we-are\" aria-label=\"Link to this section: Who we are\""), "heading links have a name");
        app.login_as("admin").await;
        app.post_form("/admin/settings", &[
            ("company_name", "officecomms"), ("tagline", "t"), ("postal_address", "2 New Road, Oakland"),
            ("contact_email", "hello@officecomms.com"), ("contact_phone", "1"),
        ]).await;
        app.get("/privacy").await;
        let (_, versions) = app.get_text("/privacy/versions").await;
        let links: Vec<&str> = versions
            .match_indices("href=\"/privacy/versions/")
            .map(|(i, _)| versions[i + 6..].split('"').next().unwrap())
            .collect();
        assert_eq!(links.len(), 2, "{versions}");
        assert!(versions.contains("Version 2</a>") && versions.contains("(current)"));
        assert!(app.get_text("/privacy").await.1.contains("Version 2 · last updated"));
        let old = links.iter().map(|l| app.url(l)).collect::<Vec<_>>();
        let mut found_old = false;
        for url in old {
            let body = app.client.get(url).send().await.unwrap().text().await.unwrap();
            if body.contains("1200 Harbor Street") {
                found_old = true;
                assert!(body.contains("an earlier version"));
            }
        }
        assert!(found_old);
    }
}

fn extract_csrf_or_empty(body: &str) -> String {
    if body.contains("name=\"csrf\" value=\"") {
        extract_csrf(body)
    } else {
        String::new()
    }
}
