//! Chats in staff search and chats routed to teams (issue 25): the chats'
//! blind word index finds a chat by any word of its transcript or its
//! visitor, in the global search and the console; it goes with the person
//! on erasure and with the chat on retention; a trigger on the channel
//! "chat" routes a new chat to a team by its topic, and agents move it.

use crate::{
    both,
    chat::{Ws, hello},
    helpers::*,
};
use officecomms::{
    platform::now_ms,
    privacy::{erasure, retention, subjects},
};
use serde_json::json;

/// Starts a chat over the socket and sends `messages`; the conversation id.
async fn chat(app: &TestApp, name: &str, email: &str, messages: &[&str]) -> (i64, Ws) {
    let mut ws = Ws::visitor(app).await;
    let id = hello(&mut ws, name, Some(email)).await["conversation"]
        .as_i64()
        .unwrap();
    for body in messages {
        ws.send(json!({"type": "message", "body": body})).await;
        ws.next_message().await;
    }
    (id, ws)
}

/// Starts a chat on a topic (the pre-chat step's optional choice).
async fn chat_on(app: &TestApp, name: &str, topic: &str) -> i64 {
    let mut ws = Ws::visitor(app).await;
    ws.send(json!({"type": "hello", "name": name, "birth_year": "1980", "topic": topic}))
        .await;
    ws.next_of("welcome").await["conversation"]
        .as_i64()
        .unwrap()
}

/// The console's list of all conversations (below the live queue).
fn all_list(page: &str) -> &str {
    page.split("id=\"all-title\"")
        .nth(1)
        .expect("the list of all chats")
}

async fn rows_of(app: &TestApp, subject_id: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM chat_search_terms WHERE subject_id = $1")
        .bind(subject_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn team_of(app: &TestApp, chat: i64) -> Option<i64> {
    sqlx::query_scalar("SELECT team_id FROM chat_conversations WHERE id = $1")
        .bind(chat)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn newest_staff(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT MAX(id) FROM staff_users")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn add_team(app: &TestApp, name: &str) -> i64 {
    assert_eq!(
        app.post_form("/admin/automations/teams", &[("name", name)])
            .await
            .status(),
        303
    );
    sqlx::query_scalar("SELECT id FROM support_teams WHERE name = $1")
        .bind(name)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn a_word_of_a_chats_fifth_message_finds_it_in_both_searches(backend) {
        let app = TestApp::spawn(backend).await;
        let (nia, _ws) = chat(&app, "Nia Okafor", "nia@example.com", &[
            "Hello there",
            "I have a question about my office",
            "The printer on the second floor",
            "It worked yesterday",
            "Now the Kyocera shows error C6000 after warming up",
        ]).await;
        let (omar, _ws2) = chat(&app, "Omar Haddad", "omar@example.com", &[
            "Hello, my printer is slow",
            "It is an HP model from the second floor",
        ]).await;
        app.login_as("agent").await;
        let r = app.post_form(&format!("/admin/chat/{omar}/reply"), &[("body", "Try the Brightwater driver, please.")]).await;
        assert_eq!(r.status(), 303);

        let (status, global) = app.get_text("/admin/search?q=kyocera").await;
        assert_eq!(status, 200);
        assert!(global.contains(&format!("href=\"/admin/chat/{nia}\"")), "{global}");
        assert!(!global.contains(&format!("/admin/chat/{omar}\"")), "another chat does not match");
        assert!(global.contains("Chat with Nia Okafor"), "{global}");
        assert!(global.contains("Now the Kyocera shows error C6000"), "the matching line: {global}");
        assert!(global.contains("started ") && global.contains("waiting"), "in words: {global}");

        let (status, console) = app.get_text("/admin/chat?q=kyocera").await;
        assert_eq!(status, 200);
        let list = all_list(&console);
        assert!(list.contains(&format!("href=\"/admin/chat/{nia}\"")), "{list}");
        assert!(!list.contains(&format!("/admin/chat/{omar}\"")), "{list}");
        assert!(list.contains("<mark>Kyocera</mark> shows error"), "the snippet: {list}");

        // A prefix, a folded case, two words at once, the visitor's name and
        // email, and a word the agent wrote.
        for (q, found, not) in [
            ("kyoc", nia, omar),
            ("KYOCERA c6000", nia, omar),
            ("okafor", nia, omar),
            ("nia%40example.com", nia, omar),
            ("brightwater", omar, nia),
        ] {
            let (_, console) = app.get_text(&format!("/admin/chat?q={q}")).await;
            let list = all_list(&console);
            assert!(list.contains(&format!("href=\"/admin/chat/{found}\"")), "{q}: {list}");
            assert!(!list.contains(&format!("/admin/chat/{not}\"")), "{q}: {list}");
            let (_, global) = app.get_text(&format!("/admin/search?q={q}")).await;
            assert!(global.contains(&format!("/admin/chat/{found}\"")) && !global.contains(&format!("/admin/chat/{not}\"")), "{q}: {global}");
        }
        // A word of both, a word of none.
        let (_, both_chats) = app.get_text("/admin/chat?q=second+floor").await;
        let list = all_list(&both_chats);
        assert!(list.contains(&format!("/admin/chat/{nia}\"")) && list.contains(&format!("/admin/chat/{omar}\"")));
        let (_, none) = app.get_text("/admin/chat?q=kyocera+brightwater").await;
        assert!(all_list(&none).contains("Nothing matches"), "{none}");
        // Hostile searches: a clear message, never a 500.
        let (status, junk) = app.get_text("/admin/chat?q=%27%3B--+the").await;
        assert_eq!(status, 422);
        assert!(junk.contains("Search for words of two letters or more"), "{junk}");
        let (status, long) = app.get_text(&format!("/admin/chat?q={}", "x".repeat(300))).await;
        assert_eq!(status, 422);
        assert!(long.contains("too long"));
        let (status, _) = app.get_text("/admin/chat?q=%00%FF&teams=%3Cscript%3E").await;
        assert!(status < 500, "{status}");
        // The console lists every chat without a search.
        let (_, plain) = app.get_text("/admin/chat").await;
        let list = all_list(&plain);
        assert!(list.contains(&format!("/admin/chat/{nia}\"")) && list.contains(&format!("/admin/chat/{omar}\"")));
    }

    async fn after_erasure_a_chats_words_find_nothing_and_no_row_remains(backend) {
        let app = TestApp::spawn(backend).await;
        let (pia, _ws) = chat(&app, "Pia Lund", "pia@example.com", &["My Synology backup fails", "Since the Gallifrey update"]).await;
        let (quin, _ws2) = chat(&app, "Quin Ames", "quin@example.com", &["My Synology is fine"]).await;
        let subject = subjects::find(&app.state.db, &app.state.keyring, "pia@example.com").await.unwrap().unwrap();
        assert!(rows_of(&app, subject.id).await > 0);
        app.login_as("agent").await;
        let (_, before) = app.get_text("/admin/search?q=gallifrey").await;
        assert!(before.contains(&format!("/admin/chat/{pia}\"")));
        let mut tx = app.state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows_of(&app, subject.id).await, 0, "no hash row of the person remains");
        for q in ["gallifrey", "pia", "lund", "synology+backup"] {
            let (_, global) = app.get_text(&format!("/admin/search?q={q}")).await;
            assert!(!global.contains(&format!("/admin/chat/{pia}\"")), "{q}");
            let (_, console) = app.get_text(&format!("/admin/chat?q={q}")).await;
            assert!(!all_list(&console).contains(&format!("/admin/chat/{pia}\"")), "{q}");
        }
        let (_, other) = app.get_text("/admin/chat?q=synology").await;
        assert!(all_list(&other).contains(&format!("/admin/chat/{quin}\"")), "someone else's chat is still found");
        // The hashes are in the inventory and the policy.
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("keyed hashes of the words of your live chats"), "the policy lists them");
    }

    async fn a_chats_words_go_with_its_retention_and_old_chats_are_indexed_at_start(backend) {
        let app = TestApp::spawn(backend).await;
        let (rex, ws) = chat(&app, "Rex Moll", "rex@example.com", &["The Plotter jams on A0 paper"]).await;
        drop(ws);
        // As if stored before the index existed: no words, the mark above it.
        sqlx::query("DELETE FROM chat_search_terms").execute(&app.state.db.pool).await.unwrap();
        sqlx::query("UPDATE search_backfill SET below = $1 WHERE name = 'chats'").bind(rex + 1)
            .execute(&app.state.db.pool).await.unwrap();
        let app = app.restart().await;
        let mark: i64 = sqlx::query_scalar("SELECT below FROM search_backfill WHERE name = 'chats'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(mark <= 1, "the whole backlog is done");
        app.login_as("agent").await;
        let (_, found) = app.get_text("/admin/chat?q=plotter").await;
        assert!(all_list(&found).contains(&format!("/admin/chat/{rex}\"")), "{found}");
        // A year and a day later the purge deletes the chat and its words.
        let later = now_ms() + 366 * 86_400_000;
        let purged = retention::purge(&app.state.db, &app.state.registry.inventory, later).await.unwrap();
        assert!(purged.iter().any(|(t, _)| *t == "chat_search_terms"), "{purged:?}");
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_search_terms").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(left, 0);
    }

    async fn a_chat_on_a_routed_topic_goes_to_its_team_and_agents_move_it(backend) {
        let app = TestApp::spawn(backend).await;
        let member = app.staff_client("agent").await;
        let member_id = newest_staff(&app).await;
        let outsider = app.staff_client("agent").await;
        app.login_as("admin").await;
        let accounting = add_team(&app, "Accounting software").await;
        let printing = add_team(&app, "Printers desk").await;
        let r = app.post_form(&format!("/admin/automations/teams/{accounting}/members"), &[("staff", &member_id.to_string())]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form("/admin/automations/triggers", &[
            ("name", "QuickBooks chats"), ("on_event", "created"), ("if_product", "QuickBooks"),
            ("if_channel", "chat"), ("set_team_id", &accounting.to_string()),
        ]).await;
        assert_eq!(r.status(), 303);

        let routed = chat_on(&app, "Sam Quill", "QuickBooks").await;
        let other = chat_on(&app, "Tess Zoom", "Zoom").await;
        assert_eq!(team_of(&app, routed).await, Some(accounting));
        assert_eq!(team_of(&app, other).await, None, "no trigger for that topic");
        let audited: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'trigger' AND target_kind = 'chat' AND target_id = $1")
            .bind(routed.to_string()).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(audited.contains("QuickBooks chats"), "{audited}");

        // Without JavaScript, the chat page's form starts a chat on a topic
        // too; a topic that is not offered is refused and nothing is kept.
        let visitor = client();
        let page = visitor.get(app.url("/chat")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("<option value=\"QuickBooks\">QuickBooks</option>"), "{page}");
        let csrf = extract_csrf(&page);
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_conversations").fetch_one(&app.state.db.pool).await.unwrap();
        let r = visitor.post(app.url("/chat/start")).form(&[("csrf", csrf.as_str()), ("name", "Uma"), ("email", ""), ("birth_year", "1980"), ("page", "/"), ("topic", "<script>x</script>")]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("Please choose one of the topics.") && !body.contains("<script>x"), "{body}");
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_conversations").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(before, after, "nothing kept");
        let r = visitor.post(app.url("/chat/start")).form(&[("csrf", csrf.as_str()), ("name", "Uma"), ("email", ""), ("birth_year", "1980"), ("page", "/"), ("topic", "QuickBooks")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let uma: i64 = sqlx::query_scalar("SELECT MAX(id) FROM chat_conversations").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(team_of(&app, uma).await, Some(accounting));

        // "My teams": the member sees the routed chat, the outsider does not.
        let get = |c: &StaffClient, path: &str| {
            let r = c.client.get(app.url(path));
            async move { r.send().await.unwrap().text().await.unwrap() }
        };
        let mine = get(&member, "/admin/chat?teams=mine").await;
        assert!(mine.contains(&format!("href=\"/admin/chat/{routed}\"")), "{mine}");
        assert!(!mine.contains(&format!("/admin/chat/{other}\"")), "{mine}");
        assert!(all_list(&mine).contains("Accounting software"), "each chat shows its team");
        let theirs = get(&outsider, "/admin/chat?teams=mine").await;
        assert!(!theirs.contains(&format!("/admin/chat/{routed}\"")), "{theirs}");
        assert!(theirs.contains("You are in no team yet"), "{theirs}");
        let everything = get(&outsider, "/admin/chat?teams=all").await;
        assert!(everything.contains(&format!("/admin/chat/{routed}\"")) && everything.contains(&format!("/admin/chat/{other}\"")));
        let (_, history) = app.get_text(&format!("/admin/chat/{routed}")).await;
        assert!(history.contains("team Accounting software") && history.contains("about QuickBooks"), "{history}");

        // An agent moves it: audited; the member no longer sees it as theirs.
        let r = app.post_form(&format!("/admin/chat/{routed}/team"), &[("team", &printing.to_string())]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(team_of(&app, routed).await, Some(printing));
        let detail: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'chat.route' AND target_id = $1")
            .bind(routed.to_string()).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(detail.contains("Printers desk"), "{detail}");
        let mine = get(&member, "/admin/chat?teams=mine").await;
        assert!(!mine.contains(&format!("/admin/chat/{routed}\"")));
        // A team that does not exist: a clear message, nothing changed.
        for bad in ["99999", "abc", "<script>"] {
            let r = app.post_form(&format!("/admin/chat/{routed}/team"), &[("team", bad)]).await;
            assert_eq!(r.status(), 422, "{bad}");
            assert!(r.text().await.unwrap().contains("Please choose one of the teams."));
            assert_eq!(team_of(&app, routed).await, Some(printing), "{bad}");
        }
        let r = app.post_form("/admin/chat/999999/team", &[("team", &printing.to_string())]).await;
        assert_eq!(r.status(), 404);
        let moves: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'chat.route'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(moves, 1, "refused moves are not audited as moves");
        // To no team.
        let r = app.post_form(&format!("/admin/chat/{routed}/team"), &[("team", "none")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(team_of(&app, routed).await, None);
    }
}

/// The console narrowed to "My teams" keeps its list live: a new chat of
/// the agent's team appears without a reload, another team's does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_teams_list_shows_a_new_chat_of_my_team_live_and_not_anothers() {
    use crate::browser::{Browser, wait_text};
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("team-agent@officecomms.test", "agent")
        .await;
    let agent = newest_staff(&app).await;
    app.login_as("admin").await;
    let accounting = add_team(&app, "Accounting software").await;
    let r = app
        .post_form(
            &format!("/admin/automations/teams/{accounting}/members"),
            &[("staff", &agent.to_string())],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .post_form(
            "/admin/automations/triggers",
            &[
                ("name", "QuickBooks chats"),
                ("on_event", "created"),
                ("if_product", "QuickBooks"),
                ("if_channel", "chat"),
                ("set_team_id", &accounting.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);

    browser.sign_in(&app, "team-agent@officecomms.test").await;
    let c = &browser.client;
    c.goto(&app.url("/admin/chat?teams=mine")).await.unwrap();
    wait_text(
        c,
        "document.querySelector('[data-connection]').textContent",
        "Live",
    )
    .await;
    c.execute("window.notReloaded = 'still here'; return 1", vec![])
        .await
        .unwrap();
    let table = "document.getElementById('all-conversations').textContent";
    wait_text(c, table, "No chats of your teams.").await;

    // Another team's (here: no team's) chat first, then one of mine.
    let other = chat_on(&app, "Tess Zoom", "Zoom").await;
    let mine = chat_on(&app, "Sam Quill", "QuickBooks").await;
    assert_eq!(team_of(&app, mine).await, Some(accounting));
    assert_eq!(team_of(&app, other).await, None);
    let list = wait_text(c, table, "Sam Quill").await;
    assert!(list.contains("Accounting software"), "{list}");
    assert!(!list.contains("Tess Zoom"), "{list}");
    wait_text(c, "window.notReloaded", "still here").await;
    browser.close().await;
}
