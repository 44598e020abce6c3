//! SLA escalation (issue 25): first- and next-response targets per
//! priority in business hours (the company's zone, America/Los_Angeles by
//! default, 9 to 17 on weekdays), with the clock moved instead of waiting.

use crate::{
    back_office::{seed_ticket, staff_id},
    both,
    helpers::*,
};
use officecomms::support::{escalation, settings, tickets};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Friday 6 November 2026, 00:00 UTC (winter time in California: UTC-8).
const FRIDAY: i64 = 1_793_923_200_000;

/// `day` days after that Friday (Monday is 3), at `hour:minute` Pacific time.
fn pacific(day: i64, hour: i64, minute: i64) -> i64 {
    FRIDAY + day * DAY + (hour + 8) * HOUR + minute * MINUTE
}

/// A ticket made through the contact form's path at `at`; id and reference.
async fn ticket_at(app: &TestApp, at: i64, title: &str) -> (i64, String) {
    app.state.clock.set(at);
    seed_ticket(
        app,
        "Ria Example",
        "ria@example.com",
        title,
        "The details of my problem, private.",
    )
    .await
}

async fn set_priority(app: &TestApp, id: i64, priority: &str) {
    let r = app
        .post_form(
            &format!("/admin/tickets/{id}/priority"),
            &[("priority", priority)],
        )
        .await;
    assert_eq!(r.status(), 303);
}

/// The requester answers on their conversation page, as a browser does.
async fn requester_answers(app: &TestApp, id: i64, text: &str) {
    let nonce: String = sqlx::query_scalar("SELECT link_nonce FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let url = app.url(&tickets::conversation_path(&app.state, id, &nonce));
    let visitor = client();
    let page = visitor
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = visitor
        .post(&url)
        .form(&[("csrf", extract_csrf(&page).as_str()), ("body", text)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

/// When the ticket's unanswered message arrived, to the minute (the moved
/// clock goes on ticking between setting it and the request).
async fn awaiting_since(app: &TestApp, id: i64) -> Option<i64> {
    let at: Option<i64> = sqlx::query_scalar("SELECT awaiting_since FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    at.map(|ms| ms - ms.rem_euclid(MINUTE))
}

/// A dashboard figure, as the page shows it first (its card).
fn figure(page: &str, name: &str) -> i64 {
    let marker = format!("data-figure=\"{name}\">");
    let start = page.find(&marker).expect("the figure") + marker.len();
    page[start..].split('<').next().unwrap().parse().unwrap()
}

/// The dashboard's figure of breached tickets, as the page shows it.
fn breached_figure(page: &str) -> i64 {
    let start = page
        .find("data-figure=\"sla_breached\">")
        .expect("the breached figure")
        + "data-figure=\"sla_breached\">".len();
    page[start..start + page[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

/// The inbox's rows (the table body), without the filters above them.
async fn inbox_rows(app: &TestApp, query: &str) -> String {
    let (status, page) = app.get_text(&format!("/admin/tickets?{query}")).await;
    assert_eq!(status, 200, "{page}");
    let start = page.find("<tbody>").unwrap();
    page[start..page.find("</tbody>").unwrap()].to_string()
}

both! {
    async fn a_friday_evening_ticket_breaches_on_monday_and_shows_on_the_dashboard(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("agent").await;
        // Friday 18:00, after hours; high priority: 4 business hours for a first answer.
        let (id, reference) = ticket_at(&app, pacific(0, 18, 0), "Payroll export fails").await;
        set_priority(&app, id, "high").await;
        let ticket = format!("/admin/tickets/{id}");

        for (when, words) in [
            (pacific(0, 23, 0), "first response due in 4 h of business time"),
            (pacific(1, 12, 0), "first response due in 4 h of business time"),
            (pacific(2, 23, 59), "first response due in 4 h of business time"),
            (pacific(3, 10, 30), "first response due in 2 h 30 min of business time"),
        ] {
            app.state.clock.set(when);
            let (_, page) = app.get_text(&ticket).await;
            assert!(page.contains(&format!("<span class=\"badge sla\">{words}</span>")), "{page}");
            let (_, dashboard) = app.get_text("/admin").await;
            assert_eq!(breached_figure(&dashboard), 0, "not breached over the weekend");
            assert!(dashboard.contains("No open ticket is past its response target."));
            assert_eq!(figure(&dashboard, "sla_nearing"), 0, "more than a quarter left");
            assert!(dashboard.contains("No open ticket is close to its response target."));
        }
        // Monday 12:00: one hour of four left, the last quarter: nearing, in words and colour.
        // (Half a minute on, as the clock set when the ticket was made ticked on.)
        app.state.clock.set(pacific(3, 12, 0) + 30_000);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("<span class=\"badge warn sla\">Nearing target: first response due in 1 h of business time</span>"), "{page}");
        // The dashboard lists it as nearly due, beside the breached (none).
        let (_, dashboard) = app.get_text("/admin").await;
        assert_eq!((figure(&dashboard, "sla_nearing"), breached_figure(&dashboard)), (1, 0));
        let row = format!("<li><a href=\"/admin/tickets/{id}\"><span class=\"ref\">{reference}</span> Payroll export fails</a> <span class=\"badge warn\">first response due in 1 h</span> <span class=\"hint\">assigned to nobody</span></li>");
        assert!(dashboard.contains(&row), "{dashboard}");
        assert!(dashboard.contains("Nearly due <span class=\"count-pill\" data-figure=\"sla_nearing\">1</span>"), "{dashboard}");
        let f: serde_json::Value = app.get("/admin/dashboard.json").await.json().await.unwrap();
        assert_eq!((f["sla_nearing"].as_i64(), f["sla_breached"].as_i64()), (Some(1), Some(0)));

        // Monday 15:30: the target passed at 13:00.
        app.state.clock.set(pacific(3, 15, 30) + 30_000);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("<span class=\"badge error sla\">Breached: first response overdue by 2 h 30 min of business time</span>"), "{page}");
        let (_, dashboard) = app.get_text("/admin").await;
        assert_eq!(breached_figure(&dashboard), 1);
        let row = format!("<li><a href=\"/admin/tickets/{id}\"><span class=\"ref\">{reference}</span> Payroll export fails</a> <span class=\"badge error\">first response late by 2 h 30 min</span> <span class=\"hint\">assigned to nobody</span></li>");
        assert!(dashboard.contains(&row), "{dashboard}");
        let f: serde_json::Value = app.get("/admin/dashboard.json").await.json().await.unwrap();
        assert_eq!(f["sla_breached"], 1, "the refreshed figure too");
        assert_eq!(f["sla_nearing"], 0, "breached is no longer nearly due");

        // Answered: off the list.
        let r = app.post_form(&format!("{ticket}/reply"), &[("body", "Looking at it now."), ("status", "")]).await;
        assert_eq!(r.status(), 303);
        let (_, dashboard) = app.get_text("/admin").await;
        assert_eq!(breached_figure(&dashboard), 0);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("first response was late"), "{page}");
    }

    async fn the_requesters_answer_starts_the_next_response_clock_and_a_note_does_not_stop_it(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("agent").await;
        // Monday 10:00, normal priority: 8 h for the first answer, 16 h for each next one.
        let (id, reference) = ticket_at(&app, pacific(3, 10, 0), "VPN drops every hour").await;
        let ticket = format!("/admin/tickets/{id}");
        app.state.clock.set(pacific(3, 10, 30));
        let r = app.post_form(&format!("{ticket}/reply"), &[("body", "Please send the log."), ("status", "")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("<span class=\"badge ok sla\">first response on time</span>"), "{page}");
        assert_eq!(awaiting_since(&app, id).await, None);

        // Monday 11:00 the requester answers: the next-response clock starts.
        app.state.clock.set(pacific(3, 11, 0));
        requester_answers(&app, id, "Here is the log you asked for.").await;
        assert_eq!(awaiting_since(&app, id).await, Some(pacific(3, 11, 0)));
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("next response due in 16 h of business time"), "{page}");

        // A note at 12:00 answers nothing; a second message at 13:00 moves nothing.
        app.state.clock.set(pacific(3, 12, 0));
        let r = app.post_form(&format!("{ticket}/note"), &[("body", "Asked the network team.")]).await;
        assert_eq!(r.status(), 303);
        app.state.clock.set(pacific(3, 13, 0));
        requester_answers(&app, id, "Any news?").await;
        assert_eq!(awaiting_since(&app, id).await, Some(pacific(3, 11, 0)), "the oldest unanswered message counts");
        // Half a minute on: the clock set at 11:00 ticked on while the
        // requester's answer was made, so exactly 13:00 may leave 14 h and
        // a few milliseconds (shown rounded up as "14 h 1 min").
        app.state.clock.set(pacific(3, 13, 0) + 30_000);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("next response due in 14 h of business time"), "{page}");

        // Wednesday 12:00: 6 h on Monday, 8 on Tuesday, 3 on Wednesday: an hour late.
        app.state.clock.set(pacific(5, 12, 0) + 30_000);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("Breached: next response overdue by 1 h of business time"), "{page}");
        assert!(inbox_rows(&app, "sla=breached").await.contains(&reference));
        let (_, dashboard) = app.get_text("/admin").await;
        assert_eq!(breached_figure(&dashboard), 1);
        assert!(dashboard.contains(&format!("<span class=\"ref\">{reference}</span> VPN drops every hour</a> <span class=\"badge error\">next response late by 1 h</span>")), "{dashboard}");

        // Solved without a reply: nothing waits any more; when the
        // requester writes again, the clock starts afresh from that message.
        let r = app.post_form(&format!("{ticket}/status"), &[("status", "solved")]).await;
        assert_eq!(r.status(), 303);
        assert!(!inbox_rows(&app, "sla=breached").await.contains(&reference));
        let (_, dashboard) = app.get_text("/admin").await;
        assert_eq!(breached_figure(&dashboard), 0);
        app.state.clock.set(pacific(5, 16, 0));
        requester_answers(&app, id, "It happened again.").await;
        assert_eq!(awaiting_since(&app, id).await, Some(pacific(5, 16, 0)));
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("next response due in 16 h of business time"), "{page}");
        // The reply answers it.
        let r = app.post_form(&format!("{ticket}/reply"), &[("body", "Fixed: new router firmware."), ("status", "")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(awaiting_since(&app, id).await, None);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("first response on time"), "{page}");
    }

    async fn a_ticket_nearing_its_target_mails_its_team_once_and_not_a_disabled_member(backend) {
        let app = TestApp::spawn(backend).await;
        let (ann, bo, cy, dee) = (app.new_staff("agent").await, app.new_staff("agent").await, app.new_staff("agent").await, app.new_staff("agent").await);
        let ids = [staff_id(&app, &ann).await, staff_id(&app, &bo).await, staff_id(&app, &cy).await, staff_id(&app, &dee).await];
        app.login_as("admin").await;
        assert_eq!(app.post_form("/admin/automations/teams", &[("name", "Accounting software")]).await.status(), 303);
        let team: i64 = sqlx::query_scalar("SELECT id FROM support_teams").fetch_one(&app.state.db.pool).await.unwrap();
        for member in &ids[..3] {
            let r = app.post_form(&format!("/admin/automations/teams/{team}/members"), &[("staff", &member.to_string())]).await;
            assert_eq!(r.status(), 303);
        }
        // Cy leaves the company.
        let r = app.post_form(&format!("/admin/users/{}", ids[2]), &[("role", "agent"), ("disabled", "1")]).await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());

        // Monday 09:00, three urgent tickets (1 h for a first answer): one
        // routed to the team, one assigned to Dee alone, one to nobody.
        let (routed, routed_ref) = ticket_at(&app, pacific(3, 9, 0), "Payroll export fails").await;
        let (assigned, assigned_ref) = ticket_at(&app, pacific(3, 9, 0), "Printer offline").await;
        let (orphan, _) = ticket_at(&app, pacific(3, 9, 0), "Scanner jammed").await;
        for id in [routed, assigned, orphan] {
            set_priority(&app, id, "urgent").await;
        }
        assert_eq!(app.post_form(&format!("/admin/tickets/{routed}/team"), &[("team", &team.to_string())]).await.status(), 303);
        assert_eq!(app.post_form(&format!("/admin/tickets/{assigned}/assign"), &[("assignee", &ids[3].to_string())]).await.status(), 303);
        app.drain_outbox().await;
        let before = app.mails().len();

        // 09:40: twenty minutes left, not yet the last quarter.
        assert_eq!(escalation::sweep(&app.state, pacific(3, 9, 40)).await.unwrap(), 0);
        // 09:50: nearing. The team's two active members and Dee; twice swept, once mailed.
        assert_eq!(escalation::sweep(&app.state, pacific(3, 9, 50) + 30_000).await.unwrap(), 3);
        assert_eq!(escalation::sweep(&app.state, pacific(3, 9, 55)).await.unwrap(), 0);
        app.drain_outbox().await;
        let mails: Vec<Mail> = app.mails().into_iter().skip(before).collect();
        let to = |who: &str| mails.iter().filter(|m| m.to == who).collect::<Vec<_>>();
        assert_eq!((to(&ann).len(), to(&bo).len(), to(&cy).len(), to(&dee).len()), (1, 1, 0, 1), "{mails:#?}");
        assert_eq!(mails.len(), 3, "nobody is told about the ticket nobody has");
        let ann_mail = to(&ann)[0];
        assert_eq!(ann_mail.subject, format!("{routed_ref}: first response due in 10 min"));
        assert!(ann_mail.text.contains(&format!("/admin/tickets/{routed})")), "{}", ann_mail.text);
        assert!(ann_mail.text.contains("A ticket nears its response target"), "the choice that sent it: {}", ann_mail.text);
        assert!(to(&dee)[0].subject.starts_with(&assigned_ref));
        for m in &mails {
            for private in ["Payroll export fails", "Printer offline", "The details of my problem", "Ria Example", "ria@example.com"] {
                assert!(!m.text.contains(private) && !m.html.contains(private) && !m.subject.contains(private), "{private} in {m:#?}");
            }
        }

        // A new cycle is a new notice: answered, then the requester writes again.
        app.state.clock.set(pacific(3, 9, 56));
        let r = app.post_form(&format!("/admin/tickets/{routed}/reply"), &[("body", "On it."), ("status", "")]).await;
        assert_eq!(r.status(), 303);
        app.state.clock.set(pacific(3, 10, 0));
        requester_answers(&app, routed, "Still failing.").await;
        // Two hours for the next response of an urgent ticket: nearing from 11:30.
        assert_eq!(escalation::sweep(&app.state, pacific(3, 11, 0)).await.unwrap(), 0);
        assert_eq!(escalation::sweep(&app.state, pacific(3, 11, 45) + 30_000).await.unwrap(), 2);
        assert_eq!(escalation::sweep(&app.state, pacific(3, 11, 50)).await.unwrap(), 0);
        app.drain_outbox().await;
        // Staff mails only (the requester got the reply).
        let next: Vec<Mail> = app.mails().into_iter().skip(before + 3).filter(|m| m.to != "ria@example.com").collect();
        assert_eq!(next.len(), 2, "{next:#?}");
        assert!(next.iter().all(|m| m.subject == format!("{routed_ref}: next response due in 15 min")), "{next:#?}");
    }

    async fn the_inbox_sla_filter_picks_nearing_or_breached_tickets_with_the_other_filters(backend) {
        let app = TestApp::spawn(backend).await;
        let me = app.login_as("agent").await;
        let my_id = staff_id(&app, &me).await;
        let (jam, jam_ref) = ticket_at(&app, pacific(3, 9, 0), "Printer jam on floor two").await;
        let (scanner, scanner_ref) = ticket_at(&app, pacific(3, 9, 0), "Scanner offline").await;
        let (toner, toner_ref) = ticket_at(&app, pacific(3, 10, 5), "Printer toner warning").await;
        let (_, driver_ref) = ticket_at(&app, pacific(3, 9, 0), "Printer driver question").await;
        let (answered, answered_ref) = ticket_at(&app, pacific(3, 9, 0), "Printer answered already").await;
        let (solved, solved_ref) = ticket_at(&app, pacific(3, 9, 0), "Printer solved quickly").await;
        for id in [jam, scanner, toner, answered, solved] {
            set_priority(&app, id, "urgent").await;
        }
        assert_eq!(app.post_form(&format!("/admin/tickets/{scanner}/assign"), &[("assignee", "me")]).await.status(), 303);
        app.state.clock.set(pacific(3, 9, 30));
        assert_eq!(app.post_form(&format!("/admin/tickets/{answered}/reply"), &[("body", "Done."), ("status", "")]).await.status(), 303);
        assert_eq!(app.post_form(&format!("/admin/tickets/{solved}/status"), &[("status", "solved")]).await.status(), 303);
        // Monday 10:50: the 09:00 urgent ones are 50 min late; the 10:05 one has 15 min left.
        // (Half a minute on: the clock set at 10:05 ticked on while that
        // ticket was made, which could leave 15 min and some ms, "16 min".)
        app.state.clock.set(pacific(3, 10, 50) + 30_000);

        let check = |rows: String, want: &[&String], query: &str| {
            let all = [&jam_ref, &scanner_ref, &toner_ref, &driver_ref, &answered_ref, &solved_ref];
            for r in all {
                assert_eq!(rows.contains(r.as_str()), want.contains(&r), "{query}: {r} in {rows}");
            }
        };
        let rows = inbox_rows(&app, "sla=breached").await;
        check(rows.clone(), &[&jam_ref, &scanner_ref], "breached");
        assert!(rows.contains("Breached: first response overdue by 50 min of business time"));
        let rows = inbox_rows(&app, "sla=nearing").await;
        check(rows.clone(), &[&toner_ref], "nearing");
        assert!(rows.contains("<span class=\"badge warn sla\">Nearing target: first response due in 15 min of business time</span>"), "{rows}");
        check(inbox_rows(&app, "sla=breached&assignee=me").await, &[&scanner_ref], "mine");
        check(inbox_rows(&app, &format!("sla=breached&assignee={my_id}")).await, &[&scanner_ref], "by id");
        check(inbox_rows(&app, "sla=breached&q=printer").await, &[&jam_ref], "searched");
        check(inbox_rows(&app, "sla=nearing&q=printer&priority=urgent").await, &[&toner_ref], "searched, by priority");
        check(inbox_rows(&app, "sla=breached&priority=low").await, &[], "no low ones");
        check(inbox_rows(&app, "sla=breached&status=solved").await, &[], "solved tickets wait for nothing");
        check(inbox_rows(&app, "sla=&status=all").await, &[&jam_ref, &scanner_ref, &toner_ref, &driver_ref, &answered_ref, &solved_ref], "no SLA filter");
        // The filter keeps its choice in the form.
        let (_, page) = app.get_text("/admin/tickets?sla=nearing").await;
        assert!(page.contains("<option value=\"nearing\" selected>nearing target</option>"));
        // Most urgent first when sorted by the response due.
        let rows = inbox_rows(&app, "sort=waiting").await;
        let (a, b) = (rows.find(&jam_ref).unwrap(), rows.find(&toner_ref).unwrap());
        assert!(a < b && b < rows.find(&driver_ref).unwrap(), "{rows}");
        // Nonsense is refused with a message, never a 500.
        let (status, page) = app.get_text("/admin/tickets?sla=soon").await;
        assert_eq!(status, 400);
        assert!(page.contains("Please choose nearing or breached"), "{page}");
        for bad in ["BREACHED", "breached%00", "%3Cscript%3E", "nearing%20or%201%3D1"] {
            let (status, _) = app.get_text(&format!("/admin/tickets?sla={bad}")).await;
            assert_eq!(status, 400, "{bad}");
        }
    }

    async fn bad_targets_are_refused_with_a_message_and_change_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        // Before priorities, one first-response target in hours: it is the normal one.
        let mut tx = app.state.db.begin().await.unwrap();
        officecomms::platform::settings::put(&mut tx, "support.sla_first_response_hours", "6").await.unwrap();
        tx.commit().await.unwrap();
        let (status, page) = app.get_text("/admin/tickets/settings").await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"sla_first_normal\" name=\"sla_first_normal\" value=\"6 h\""), "{page}");
        assert!(page.contains("id=\"sla_next_urgent\" name=\"sla_next_urgent\" value=\"2 h\""));
        assert!(page.contains("<label class=\"sr-only\" for=\"sla_first_urgent\">urgent: first response</label>"));

        let current = settings::load(&app.state.db).await.unwrap();
        // The form as the page fills it (the configured soft-bounce limit shown).
        let shown = current.clone().with_configured(app.state.config.soft_bounce_limit);
        let form = |changes: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
            settings::FIELDS
                .iter()
                .map(|(k, _, _)| (*k, changes.iter().find(|(c, _)| c == k).map(|(_, v)| v.to_string()).unwrap_or_else(|| shown.get(k))))
                .collect()
        };
        let post = |fields: Vec<(&'static str, String)>| {
            let app = &app;
            async move {
                let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                app.post_form("/admin/tickets/settings", &refs).await
            }
        };
        let r = post(form(&[("sla_first_high", "3 h"), ("sla_first_urgent", "0"), ("sla_next_low", "<script>soon</script>")])).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert_eq!(page.matches("Please enter a business time like 4 h, 45 min or 1 h 30 min").count(), 2, "{page}");
        assert!(page.contains("soon") && !page.contains("<script>soon"), "what was typed, escaped");
        assert!(page.contains("aria-invalid=\"true\" aria-describedby=\"sla_first_urgent-error\""));
        assert_eq!(settings::load(&app.state.db).await.unwrap(), current, "nothing half-saved: not even the good value");
        for bad in ["-1 h", "1.5 h", "1001 h", "99999999999999999999", "1 day", " "] {
            let r = post(form(&[("sla_next_high", bad)])).await;
            assert_eq!(r.status(), 422, "{bad}");
        }
        assert_eq!(settings::load(&app.state.db).await.unwrap(), current);

        let r = post(form(&[("sla_first_urgent", "30 min"), ("sla_next_normal", "1 h 30 min")])).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("Settings saved.") && page.contains("value=\"30 min\"") && page.contains("value=\"1 h 30 min\""));
        let saved = settings::load(&app.state.db).await.unwrap();
        assert_eq!((saved.sla_targets.of("urgent").first_min, saved.sla_targets.of("normal").next_min), (30, 90));
        assert_eq!(saved.sla_targets.of("normal").first_min, 360, "the old target carried over");
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'support-settings'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, 1, "only the saved change is audited");

        // Agents may not change them.
        let agent = app.staff_client("agent").await;
        let r = agent.client.get(app.url("/admin/tickets/settings")).send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
}
