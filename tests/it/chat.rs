//! Live chat over real WebSockets (tokio-tungstenite): the visitor's and
//! the agent's frames, resume after a restart, limits, offline → ticket,
//! the transcript, privacy, and two instances on one PostgreSQL database.

use crate::{
    both,
    browser::{click, type_into, wait_text},
    helpers::*,
};
use futures_util::{SinkExt, StreamExt};
use officecomms::{chat, privacy::erasure, privacy::subjects};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Ws {
    stream: Stream,
}

impl Ws {
    pub async fn try_connect(
        base: &str,
        path: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<Ws, tungstenite::Error> {
        let url = format!("{}{}", base.replace("http://", "ws://"), path);
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", HeaderValue::from_str(cookie).unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { stream })
    }

    /// A visitor's socket on `app`, from the site's own origin.
    pub async fn visitor(app: &TestApp) -> Ws {
        Ws::try_connect(&app.base, "/chat/ws", Some(&app.base), None)
            .await
            .expect("visitor socket opens")
    }

    /// A staff console socket, signed in with `cookie`.
    pub async fn console(app: &TestApp, cookie: &str) -> Ws {
        Ws::try_connect(&app.base, "/admin/chat/ws", Some(&app.base), Some(cookie))
            .await
            .expect("console socket opens")
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: String) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON frame (pings skipped); panics after 10 s.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a frame within 10 s")
                .expect("socket open")
                .expect("a valid frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of this type, skipping others (status, conversation…).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["type"] == kind {
                return f;
            }
            assert_ne!(f["type"], "error", "unexpected error frame {f}");
        }
    }

    /// The next `message` frame, skipping system lines.
    pub async fn next_message(&mut self) -> Value {
        loop {
            let f = self.next_of("message").await;
            if f["from"] != "system" {
                return f;
            }
        }
    }

    /// Frames arriving within `wait`, none required.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = vec![];
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.stream.next()).await {
            match msg {
                Message::Text(t) => out.push(serde_json::from_str(&t).unwrap()),
                Message::Close(c) => panic!("closed while draining: {c:?}"),
                _ => {}
            }
        }
        out
    }

    /// Waits for the server's close frame and returns its code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("closed within 10 s")
            {
                Some(Ok(Message::Close(Some(c)))) => return c.code.into(),
                Some(Ok(Message::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
            }
        }
    }
}

pub async fn hello(ws: &mut Ws, name: &str, email: Option<&str>) -> Value {
    ws.send(json!({"type": "hello", "name": name, "email": email, "birth_year": "1980", "page": "/articles/slow-pc-checklist"}))
        .await;
    ws.next_of("welcome").await
}

/// Waits until the console lists this conversation (it arrives as a
/// `conversation` frame).
async fn console_sees(console: &mut Ws, conversation: i64) -> Value {
    loop {
        let f = console.next_of("conversation").await;
        if f["conversation"] == conversation {
            return f;
        }
    }
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn new_chats_from_one_network_are_limited(backend) {
        let app = TestApp::spawn_with(backend, |c| c.public_post_per_minute = 2).await;
        for n in 0..2 {
            let mut visitor = Ws::visitor(&app).await;
            let welcome = hello(&mut visitor, &format!("Visitor {n}"), None).await;
            assert!(welcome["conversation"].as_i64().is_some());
        }
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "Third", "birth_year": "1980"})).await;
        let refused = visitor.next().await;
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["code"], "rate_limited", "{refused}");
        let started: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_conversations").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(started, 2, "the refused hello started nothing");
    }

    async fn a_console_closes_once_its_agent_is_disabled_demoted_or_signed_out(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let newest_staff = || async {
            sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM staff_users").fetch_one(&app.state.db.pool).await.unwrap()
        };
        // Disabled by an admin: closed at once.
        let agent = app.staff_client("agent").await;
        let id = newest_staff().await;
        let mut console = Ws::console(&app, &agent.cookie).await;
        console.next_of("console").await;
        let r = app.post_form(&format!("/admin/users/{id}"), &[("role", "agent"), ("disabled", "1")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(console.closed_with().await, 1008, "a disabled agent's console closes");

        // Demoted to editor: closed.
        let agent = app.staff_client("agent").await;
        let id = newest_staff().await;
        let mut console = Ws::console(&app, &agent.cookie).await;
        console.next_of("console").await;
        app.post_form(&format!("/admin/users/{id}"), &[("role", "editor")]).await;
        assert_eq!(console.closed_with().await, 1008, "an editor sees no chats");

        // Signed out in another tab: closed.
        let agent = app.staff_client("agent").await;
        let mut console = Ws::console(&app, &agent.cookie).await;
        console.next_of("console").await;
        let page = agent.client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        let csrf = crate::helpers::extract_csrf(&page);
        let r = agent.client.post(app.url("/admin/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(console.closed_with().await, 1008, "signing out closes the console");

        // Disabled behind its back (another instance, say): the next frame
        // it sends is refused and the socket closed.
        let agent = app.staff_client("agent").await;
        let id = newest_staff().await;
        let mut console = Ws::console(&app, &agent.cookie).await;
        console.next_of("console").await;
        sqlx::query("UPDATE staff_users SET disabled = 1 WHERE id = $1").bind(id).execute(&app.state.db.pool).await.unwrap();
        console.send(json!({"type": "presence", "status": "away"})).await;
        assert_eq!(console.closed_with().await, 1008);
    }

    async fn visitor_and_agent_exchange_messages_typing_and_read_state(backend) {
        let app = TestApp::spawn(backend).await;
        let cookie = app.staff_client("agent").await.cookie;
        let mut agent = Ws::console(&app, &cookie).await;
        let hello_frame = agent.next_of("console").await;
        assert!(hello_frame["agent"].as_str().unwrap().len() > 1, "{hello_frame}");

        let mut visitor = Ws::visitor(&app).await;
        let welcome = hello(&mut visitor, "Ann Example", Some("ann@example.com")).await;
        let id = welcome["conversation"].as_i64().unwrap();
        assert!(welcome["token"].as_str().unwrap().len() > 10);
        assert_eq!(welcome["name"], "Ann Example");
        assert_eq!(welcome["status"], "waiting");

        let listed = console_sees(&mut agent, id).await;
        assert_eq!(listed["name"], "Ann Example");
        assert_eq!(listed["email"], "ann@example.com");
        assert_eq!(listed["page"], "/articles/slow-pc-checklist");
        assert_eq!(listed["status"], "waiting");

        agent.send(json!({"type": "open", "conversation": id})).await;
        agent.send(json!({"type": "accept", "conversation": id})).await;
        let joined = visitor.next_of("message").await;
        assert_eq!(joined["from"], "system");
        assert!(joined["body"].as_str().unwrap().ends_with("joined the chat."), "{joined}");
        let state = visitor.next_of("conversation").await;
        assert_eq!(state["status"], "active");
        assert_eq!(state["email"], "", "the visitor's frames carry no details");

        // Text only: markup travels as typed, for the widget to show as text.
        let body = "My <b>printer</b> & scanner: see https://example.com/x?a=1";
        visitor.send(json!({"type": "message", "body": body, "id": "m-1"})).await;
        let mut ack = None;
        let mut own = None;
        while ack.is_none() || own.is_none() {
            let f = visitor.next().await;
            match f["type"].as_str().unwrap() {
                "ack" => ack = Some(f),
                "message" => own = Some(f),
                _ => {}
            }
        }
        let (ack, own) = (ack.unwrap(), own.unwrap());
        assert_eq!(ack["id"], "m-1");
        assert_eq!(own["seq"], ack["seq"]);
        assert_eq!(own["body"], body);
        assert_eq!(own["from"], "visitor");
        let seen = agent.next_message().await;
        assert_eq!(seen["body"], body);
        assert_eq!(seen["conversation"], id);
        assert_eq!(seen["seq"], ack["seq"]);
        assert_eq!(seen["name"], "Ann Example");

        visitor.send(json!({"type": "typing"})).await;
        let typing = agent.next_of("typing").await;
        assert_eq!(typing["conversation"], id);
        assert_eq!(typing["from"], "visitor");

        agent.send(json!({"type": "message", "conversation": id, "body": "Hello Ann, let's look.", "id": "a-1"})).await;
        let answer = visitor.next_message().await;
        assert_eq!(answer["from"], "agent");
        assert_eq!(answer["body"], "Hello Ann, let's look.");
        assert!(answer["seq"].as_i64().unwrap() > ack["seq"].as_i64().unwrap());
        assert!(answer["name"].as_str().unwrap().len() > 1);

        agent.send(json!({"type": "read", "conversation": id, "seq": ack["seq"]})).await;
        let read = visitor.next_of("read").await;
        assert_eq!(read["by"], "agent");
        assert_eq!(read["seq"], ack["seq"]);
        visitor.send(json!({"type": "read", "seq": answer["seq"]})).await;
        let read = agent.next_of("read").await;
        assert_eq!(read["by"], "visitor");
        assert_eq!(read["seq"], answer["seq"]);

        // Stored sealed: the plaintext is nowhere in the table.
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM chat_messages")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert!(rows.len() >= 3);
        assert!(rows.iter().all(|b| !String::from_utf8_lossy(b).contains("printer")));
        // The agent's view was audited.
        assert!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.view'").await >= 1);
        assert!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.accept'").await == 1);
    }

    async fn resume_after_a_restart_replays_each_missed_message_exactly_once(backend) {
        let app = TestApp::spawn(backend).await;
        let cookie = app.staff_client("agent").await.cookie;
        let mut visitor = Ws::visitor(&app).await;
        let welcome = hello(&mut visitor, "Bob", None).await;
        let id = welcome["conversation"].as_i64().unwrap();
        let token = welcome["token"].as_str().unwrap().to_string();
        visitor.send(json!({"type": "message", "body": "first", "id": "v-1"})).await;
        let first = visitor.next_message().await;
        let seen = first["seq"].as_i64().unwrap();
        drop(visitor);

        let mut agent = Ws::console(&app, &cookie).await;
        agent.next_of("console").await;
        agent.send(json!({"type": "accept", "conversation": id})).await;
        for n in 1..=3 {
            agent.send(json!({"type": "message", "conversation": id, "body": format!("missed {n}"), "id": format!("a-{n}")})).await;
            agent.next_of("ack").await;
        }
        drop(agent);

        let app = app.restart().await;
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "resume": {"conversation": id, "token": token, "after": seen}})).await;
        let welcome = visitor.next_of("welcome").await;
        assert_eq!(welcome["conversation"], id);
        let mut replayed = vec![];
        for f in visitor.drain(Duration::from_millis(1500)).await {
            if f["type"] == "message" {
                replayed.push((f["seq"].as_i64().unwrap(), f["body"].as_str().unwrap().to_string()));
            }
        }
        let bodies: Vec<&str> = replayed.iter().map(|(_, b)| b.as_str()).filter(|b| b.starts_with("missed")).collect();
        assert_eq!(bodies, ["missed 1", "missed 2", "missed 3"], "{replayed:?}");
        let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gap, no repeat: {seqs:?}");
        assert_eq!(seqs[0], seen + 1);

        // The widget resends its unacknowledged message with the same id: stored once.
        visitor.send(json!({"type": "message", "body": "first", "id": "v-1"})).await;
        let ack = visitor.next_of("ack").await;
        assert_eq!(ack["seq"], seen);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_messages WHERE body IS NOT NULL AND sender = 'visitor'").await, 1);

        // Live again after the replay: a new message arrives once.
        let mut agent = Ws::console(&app, &cookie).await;
        agent.next_of("console").await;
        agent.send(json!({"type": "message", "conversation": id, "body": "live again", "id": "a-9"})).await;
        let live = visitor.next_message().await;
        assert_eq!(live["body"], "live again");
        assert_eq!(live["seq"], seqs.last().unwrap() + 1);
        let more = visitor.drain(Duration::from_millis(500)).await;
        assert!(more.iter().all(|f| f["type"] != "message"), "nothing doubled: {more:?}");

        // A forged or foreign token resumes nothing.
        let mut other = Ws::visitor(&app).await;
        other.send(json!({"type": "hello", "resume": {"conversation": id + 1, "token": token, "after": 0}})).await;
        let refused = other.next().await;
        assert_eq!(refused["code"], "invalid_token");
    }

    async fn a_foreign_origin_is_refused_at_the_upgrade(backend) {
        let app = TestApp::spawn(backend).await;
        let err = Ws::try_connect(&app.base, "/chat/ws", Some("https://evil.example"), None)
            .await
            .err()
            .expect("refused");
        match err {
            tungstenite::Error::Http(r) => assert_eq!(r.status(), 403),
            other => panic!("expected HTTP 403, got {other:?}"),
        }
        let cookie = app.staff_client("agent").await.cookie;
        let err = Ws::try_connect(&app.base, "/admin/chat/ws", Some("http://127.0.0.1:1"), Some(&cookie))
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, tungstenite::Error::Http(ref r) if r.status() == 403), "{err:?}");
        // The console needs a signed-in agent.
        let err = Ws::try_connect(&app.base, "/admin/chat/ws", Some(&app.base), None).await.err().expect("refused");
        assert!(matches!(err, tungstenite::Error::Http(ref r) if r.status().is_redirection() || r.status() == 403 || r.status() == 401), "{err:?}");
        // Our own origin works.
        let mut ok = Ws::visitor(&app).await;
        hello(&mut ok, "Cy", None).await;
    }

    async fn malformed_and_oversized_frames_get_errors_and_too_big_closes(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        visitor.send_raw("not json".into()).await;
        assert_eq!(visitor.next().await["code"], "malformed");
        visitor.send(json!({"type": "message", "body": "before hello"})).await;
        assert_eq!(visitor.next().await["code"], "hello_expected");
        hello(&mut visitor, "Dee", None).await;
        visitor.send(json!({"type": "shout", "body": "x"})).await;
        assert_eq!(visitor.next_of("error").await["code"], "malformed");
        visitor.send(json!({"type": "message"})).await;
        assert_eq!(visitor.next_of("error").await["code"], "malformed");
        visitor.send(json!({"type": "message", "body": "   "})).await;
        assert_eq!(visitor.next_of("error").await["code"], "invalid");
        visitor.send(json!({"type": "message", "body": "x".repeat(20 * 1024)})).await;
        let e = visitor.next_of("error").await;
        assert_eq!(e["code"], "too_large");
        // Still usable after an error.
        visitor.send(json!({"type": "message", "body": "still here"})).await;
        assert_eq!(visitor.next_message().await["body"], "still here");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_messages").await, 1);
        // Over the message limit: closed with 1009.
        visitor.send(json!({"type": "message", "body": "y".repeat(70 * 1024)})).await;
        assert_eq!(visitor.closed_with().await, 1009);
    }

    async fn the_rate_limit_idle_timeout_and_heartbeat_hold(backend) {
        let app = TestApp::spawn(backend).await;
        app.state.chat.set_limits(chat::Limits {
            per_second: 1,
            burst: 3,
            idle_after: Duration::from_millis(1200),
            ping_every: Duration::from_millis(300),
            ..chat::Limits::default()
        });
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Eve", None).await;
        for n in 0..5 {
            visitor.send(json!({"type": "message", "body": format!("n{n}")})).await;
        }
        let frames = visitor.drain(Duration::from_millis(400)).await;
        let limited = frames.iter().filter(|f| f["code"] == "rate_limited").count();
        let acked = frames.iter().filter(|f| f["type"] == "ack").count();
        assert_eq!((acked, limited), (3, 2), "{frames:?}");
        // Pings arrive (tungstenite answers them); with no frame of ours the
        // connection is closed as idle.
        assert_eq!(visitor.closed_with().await, 1000);
    }

    async fn a_child_is_refused_and_nothing_is_kept(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "Kid", "email": "kid@example.com", "birth_year": "2019"})).await;
        let e = visitor.next().await;
        assert_eq!(e["code"], "under_13");
        assert_eq!(visitor.closed_with().await, 1008);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_conversations").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM subjects").await, 0);
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "X", "birth_year": "abc"})).await;
        assert_eq!(visitor.next().await["code"], "birth_year");
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "", "birth_year": "1970"})).await;
        assert_eq!(visitor.next().await["code"], "name");
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "Y", "email": "not-an-address", "birth_year": "1970"})).await;
        assert_eq!(visitor.next().await["code"], "email");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_conversations").await, 0);
    }

    async fn with_no_agent_online_a_left_message_becomes_a_ticket(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        let welcome = hello(&mut visitor, "Fay Offline", None).await;
        assert_eq!(welcome["agents_online"], 0);
        visitor.send(json!({"type": "leave_message", "body": "Please call me about Outlook."})).await;
        let e = visitor.next_of("error").await;
        assert_eq!(e["code"], "email", "a ticket needs an address to answer");
        visitor.send(json!({"type": "leave_message", "body": "Please call me about Outlook.", "email": "fay@example.com"})).await;
        let ticket = visitor.next_of("ticket").await;
        let reference = ticket["reference"].as_str().unwrap().to_string();
        assert!(reference.starts_with("OC-"), "{reference}");
        // Asked twice (a reconnect): the same ticket.
        visitor.send(json!({"type": "leave_message", "body": "Please call me about Outlook.", "email": "fay@example.com"})).await;
        assert_eq!(visitor.next_of("ticket").await["reference"], reference.as_str());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 1);
        let row = officecomms::support::db::ticket_by_reference(&app.state.db, &reference).await.unwrap().unwrap();
        let (ticket, _) = officecomms::support::tickets::Ticket::open(&app.state, row).unwrap().unwrap();
        assert_eq!(ticket.name, "Fay Offline");
        assert_eq!(ticket.email, "fay@example.com");
        app.drain_outbox().await;
        let mails = app.mails();
        let ack = mails.iter().find(|m| m.to == "fay@example.com").expect("acknowledgement mail");
        assert!(ack.text.contains(&reference), "{}", ack.text);
    }

    async fn the_transcript_is_mailed_on_request(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Gus", Some("gus@example.com")).await;
        visitor.send(json!({"type": "message", "body": "Line <one> & two"})).await;
        visitor.next_message().await;
        visitor.send(json!({"type": "transcript"})).await;
        let t = visitor.next_of("transcript").await;
        assert_eq!(t["to"], "gus@example.com");
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "gus@example.com" && m.text.contains("transcript")).expect("transcript mail");
        assert!(mail.subject.contains("chat"), "{}", mail.subject);
        assert!(mail.text.contains("Line <one> & two"), "{}", mail.text);
        assert!(!mail.html.contains("<one>") && mail.html.contains("Line &#60;one&#62; &#38; two"), "{}", mail.html);
    }

    async fn chats_are_in_the_export_and_gone_after_erasure(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Hal", Some("hal@example.com")).await;
        visitor.send(json!({"type": "message", "body": "my secret printer"})).await;
        visitor.next_message().await;
        let subject = subjects::find(&app.state.db, &app.state.keyring, "hal@example.com").await.unwrap().unwrap();
        let export = erasure::export(&app.state.db, &app.state.registry.inventory, &subject).await.unwrap();
        let text = serde_json::to_string(&export).unwrap();
        assert!(text.contains("my secret printer"), "{text}");
        assert!(text.contains("chat_conversations") && text.contains("\"Hal\""), "{text}");
        let mut tx = app.state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_messages").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_conversations").await, 0);
    }
}

/// Two instances on one PostgreSQL database: a visitor on A and an agent on
/// B talk through `LISTEN/NOTIFY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_conversations_through_listen_notify() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let a = TestApp::spawn(backend).await;
    let b = a.sibling().await;
    let cookie = b.staff_client("agent").await.cookie;
    let mut agent = Ws::console(&b, &cookie).await;
    agent.next_of("console").await;
    let mut visitor = Ws::visitor(&a).await;
    let welcome = hello(&mut visitor, "Ida Across", None).await;
    let id = welcome["conversation"].as_i64().unwrap();
    // A learns of B's console through the presence notification.
    if welcome["agents_online"] == 0 {
        assert_eq!(visitor.next_of("status").await["agents_online"], 1);
    }
    assert_eq!(console_sees(&mut agent, id).await["name"], "Ida Across");
    agent
        .send(json!({"type": "accept", "conversation": id}))
        .await;
    visitor
        .send(json!({"type": "message", "body": "hello from A", "id": "x1"}))
        .await;
    let got = agent.next_message().await;
    assert_eq!(got["body"], "hello from A");
    agent
        .send(json!({"type": "message", "conversation": id, "body": "hello from B"}))
        .await;
    // The visitor's own message first (with its seq), then the agent's.
    assert_eq!(visitor.next_message().await["body"], "hello from A");
    let got = visitor.next_message().await;
    assert_eq!(got["body"], "hello from B");
    assert_eq!(got["from"], "agent");
    agent
        .send(json!({"type": "typing", "conversation": id}))
        .await;
    assert_eq!(visitor.next_of("typing").await["from"], "agent");
    // Closing on B reaches the visitor on A.
    agent
        .send(json!({"type": "close", "conversation": id}))
        .await;
    loop {
        let f = visitor.next_of("conversation").await;
        if f["status"] == "closed" {
            break;
        }
    }
    visitor
        .send(json!({"type": "message", "body": "too late"}))
        .await;
    assert_eq!(visitor.next_of("error").await["code"], "closed");
}

/// A visitor (launcher on the home page) and an agent (the console), in two
/// Chromium sessions, exchange messages; markup stays text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_and_an_agent_chat_in_two_browsers() {
    use fantoccini::{Locator, key::Key};
    let Some(agent) = crate::browser::Browser::start(true).await else {
        return;
    };
    let Some(visitor) = crate::browser::Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("sam@officecomms.test", "agent").await;

    let a = &agent.client;
    agent.sign_in(&app, "sam@officecomms.test").await;
    a.goto(&app.url("/admin/chat")).await.unwrap();
    wait_text(
        a,
        "document.querySelector('[data-connection]').textContent",
        "Live",
    )
    .await;

    let v = &visitor.client;
    v.goto(&app.url("/")).await.unwrap();
    let launcher = v.find(Locator::Id("chat-launcher")).await.unwrap();
    assert_eq!(
        launcher.attr("href").await.unwrap().as_deref(),
        Some("/contact")
    );
    launcher.click().await.unwrap();
    // The widget offers the /chat page's topics (fetched when it opens).
    wait_text(
        v,
        "document.querySelector('.chat-panel select[name=topic]') && document.querySelector('.chat-panel select[name=topic]').textContent",
        "QuickBooks",
    )
    .await;
    v.execute(
        "var s = document.querySelector('.chat-panel select[name=topic]'); s.value = 'QuickBooks';",
        vec![],
    )
    .await
    .unwrap();
    type_into(v, Locator::Css(".chat-panel [name=name]"), "Vera Visitor").await;
    type_into(v, Locator::Css(".chat-panel [name=birth_year]"), "1979").await;
    click(v, Locator::Css(".chat-panel [data-chat-start] button")).await;
    wait_text(v, "document.querySelector('.chat-status') && document.querySelector('.chat-status').textContent", "shortly").await;
    let input = v
        .find(Locator::Css(".chat-panel [data-chat-input]"))
        .await
        .unwrap();
    input
        .send_keys("Hello, my printer <img src=x onerror=alert(1)> is offline")
        .await
        .unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();

    // The agent sees the new chat, opens it, reads the message as text.
    wait_text(
        a,
        "document.querySelector('[data-queue]').textContent",
        "Vera Visitor",
    )
    .await;
    // The title badge counts the waiting chat (and its unread message).
    wait_text(a, "document.title", ") Live chat").await;
    click(a, Locator::Css("[data-queue] button")).await;
    let log = wait_text(
        a,
        "document.querySelector('[data-log]').textContent",
        "is offline",
    )
    .await;
    assert!(log.contains("<img src=x onerror=alert(1)>"), "{log}");
    let topic: Option<String> =
        sqlx::query_scalar("SELECT topic FROM chat_conversations ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(topic.as_deref(), Some("QuickBooks"), "the widget's topic");
    let images: i64 = a
        .execute(
            "return document.querySelectorAll('[data-log] img').length",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(images, 0, "markup is never interpreted");
    click(a, Locator::Css("[data-action=accept]")).await;
    let reply = a.find(Locator::Css("[data-input]")).await.unwrap();
    reply
        .send_keys("Hi Vera, see https://officecomms.com/printers")
        .await
        .unwrap();
    click(a, Locator::Css("[data-compose] button[type=submit]")).await;

    // The visitor gets the answer live, with the link made clickable.
    wait_text(
        v,
        "document.querySelector('.chat-panel .chat-log').textContent",
        "Hi Vera",
    )
    .await;
    wait_text(
        v,
        "document.querySelector('.chat-status').textContent",
        "chatting with Sam from officecomms",
    )
    .await;
    let href = wait_text(
        v,
        "document.querySelector('.chat-panel .chat-log li.agent a') && document.querySelector('.chat-panel .chat-log li.agent a').href",
        "officecomms.com",
    )
    .await;
    assert_eq!(href, "https://officecomms.com/printers");
    // The agent read the visitor's message: the visitor sees it.
    wait_text(
        v,
        "document.querySelector('.chat-panel li.visitor .receipt').textContent",
        "Read",
    )
    .await;

    // The conversation follows the visitor to another page.
    v.goto(&app.url("/articles")).await.unwrap();
    wait_text(v, "document.querySelector('.chat-panel .chat-log') && document.querySelector('.chat-panel .chat-log').textContent", "Hi Vera").await;
    wait_text(
        a,
        "document.querySelector('[data-context]').textContent",
        "/articles",
    )
    .await;
    let count = v
        .execute(
            "return document.querySelectorAll('.chat-panel .chat-log li.agent').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        count.as_i64(),
        Some(1),
        "the reply is shown once after the move"
    );

    visitor.close().await;
    agent.close().await;
}

both! {
    async fn the_pre_chat_form_asks_the_age_question_and_remembers_a_child(backend) {
        let app = TestApp::spawn(backend).await;
        // Every public page has the launcher, a plain link to /contact without JavaScript.
        let (_, home) = app.get_text("/").await;
        assert!(home.contains(r#"id="chat-launcher" class="chat-launcher" href="/contact""#), "{home}");
        let (status, page) = app.get_text("/chat").await;
        assert_eq!(status, 200);
        assert!(page.contains(r#"action="/chat/start""#) && page.contains(r#"name="birth_year""#));
        assert!(page.contains("/contact"), "a way without JavaScript");

        // Invalid answers come back with what was typed.
        let r = app.post_form("/chat/start", &[("name", "Jo <b>"), ("email", "not-an-address"), ("birth_year", "")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains(r#"value="Jo &#60;b&#62;""#), "{body}");
        assert!(body.contains("valid email address") && body.contains("year of birth"), "{body}");

        // The widget's JSON path.
        let csrf = app.csrf().await;
        let r = app.client.post(app.url("/chat/start"))
            .header("accept", "application/json").header("x-csrf-token", &csrf)
            .form(&[("name", "Jo"), ("email", ""), ("birth_year", "1990"), ("page", "http://elsewhere.example/evil?x=1")])
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        let j: Value = r.json().await.unwrap();
        let id = j["conversation"].as_i64().unwrap();
        let mut ws = Ws::visitor(&app).await;
        ws.send(json!({"type": "hello", "resume": {"conversation": id, "token": j["token"], "after": 0}})).await;
        let welcome = ws.next_of("welcome").await;
        assert_eq!(welcome["name"], "Jo");
        let c = chat::conversations::load(&app.state, id).await.unwrap().unwrap();
        assert_eq!(c.page, "/evil?x=1", "only a path is kept, never another site");
        assert_eq!(c.email, "");

        // Without JavaScript: redirected to the page of the conversation.
        let r = app.post_form("/chat/start", &[("name", "Kim"), ("birth_year", "1970")]).await;
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/chat?c="), "{location}");
        let (_, page) = app.get_text(&location).await;
        assert!(page.contains("data-conversation=") && page.contains("data-token="), "{page}");

        // A child: refused, nothing kept, and remembered for the session.
        let before = count(&app, "SELECT COUNT(*) FROM chat_conversations").await;
        let r = app.post_form("/chat/start", &[("name", "Kid"), ("birth_year", "2020")]).await;
        assert_eq!(r.status(), 403);
        let r = app.post_form("/chat/start", &[("name", "Kid"), ("birth_year", "1970")]).await;
        assert_eq!(r.status(), 403, "an immediate retry with another year is refused too");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM chat_conversations").await, before);
    }

    async fn staff_pages_show_history_search_and_context_and_audit_each_view(backend) {
        let app = TestApp::spawn(backend).await;
        // An earlier ticket of the same person, for the context.
        let mut first = Ws::visitor(&app).await;
        hello(&mut first, "Lou", Some("lou@example.com")).await;
        first.send(json!({"type": "leave_message", "body": "Earlier question about Zoom"})).await;
        let reference = first.next_of("ticket").await["reference"].as_str().unwrap().to_string();

        let mut visitor = Ws::visitor(&app).await;
        let id = hello(&mut visitor, "Lou", Some("lou@example.com")).await["conversation"].as_i64().unwrap();
        for body in ["My scanner jams", "It says paper feed error <E32>"] {
            visitor.send(json!({"type": "message", "body": body})).await;
            visitor.next_message().await;
        }
        app.login_as("agent").await;
        let (status, console) = app.get_text("/admin/chat").await;
        assert_eq!(status, 200);
        assert!(console.contains(&format!("/admin/chat/{id}")) && console.contains("Lou"), "{console}");
        assert!(console.contains("lou@example.com (unverified)"), "a typed address is marked: {console}");
        let (_, found) = app.get_text("/admin/chat?q=paper+feed").await;
        assert!(found.contains(&format!(r#"<a href="/admin/chat/{id}">"#)), "message text is searchable");
        let (_, none) = app.get_text("/admin/chat?q=nothing-like-this").await;
        assert!(none.contains("Nothing matches"), "{none}");

        let before = count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.view'").await;
        let (status, history) = app.get_text(&format!("/admin/chat/{id}?q=e32")).await;
        assert_eq!(status, 200);
        assert!(history.contains("paper feed error &#60;E32&#62;"), "text, escaped: {history}");
        assert!(history.contains("1 message(s) contain"), "{history}");
        assert!(history.contains("/articles/slow-pc-checklist"), "the current page");
        // Anyone can type Lou's address: nothing earlier is shown until it is confirmed.
        assert!(history.contains("unverified") && !history.contains(&reference) && !history.contains("Zoom"), "{history}");
        assert!(!history.contains(&format!("/admin/chat/{}\"", id - 1)), "no earlier chat: {history}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.view'").await, before + 1);

        // Lou confirms the address by the link mailed to it (a button: a mail scanner's GET confirms nothing).
        app.drain_outbox().await;
        let verify = app.mails().iter().rev().find(|m| m.to == "lou@example.com" && m.text.contains("/chat/verify/")).expect("a confirmation mail")
            .link(&format!("{}/chat/verify/", app.base));
        let lou = client();
        let page = lou.get(&verify).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Yes, this was me"), "{page}");
        let (_, still) = app.get_text(&format!("/admin/chat/{id}")).await;
        assert!(!still.contains(&reference), "opening the link alone confirms nothing");
        let r = lou.post(&verify).form(&[("csrf", extract_csrf(&page).as_str())]).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("Your address is confirmed"));
        let (_, history) = app.get_text(&format!("/admin/chat/{id}")).await;
        assert!(!history.contains("unverified"), "{history}");
        assert!(history.contains(&reference), "the earlier ticket: {history}");
        assert!(history.contains("Earlier chats") && history.contains("\">Chat <time datetime="), "{history}");
        let (status, _) = app.get_text(&format!("/chat/verify/{}x", verify.rsplit('/').next().unwrap())).await;
        assert_eq!(status, 404, "a forged link");
        let old = chat::conversations::verify_email_token(&app.state, id, officecomms::platform::now_ms() - 8 * 86_400_000);
        let (status, body) = app.get_text(&format!("/chat/verify/{old}")).await;
        assert_eq!(status, 410, "an expired link");
        assert!(body.contains("no longer works"), "{body}");

        // Without JavaScript the agent can answer; the visitor gets it live.
        let r = app.post_form(&format!("/admin/chat/{id}/reply"), &[("body", "Open the rear tray, please.")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(visitor.next_message().await["body"], "Open the rear tray, please.");
        let r = app.post_form(&format!("/admin/chat/{id}/reply"), &[("body", "  ")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form(&format!("/admin/chat/{id}/action"), &[("action", "close")]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form(&format!("/admin/chat/{id}/action"), &[("action", "accept")]).await;
        assert_eq!(r.status(), 409, "a closed chat cannot be accepted");
        let r = app.post_form(&format!("/admin/chat/{id}/action"), &[("action", "explode")]).await;
        assert_eq!(r.status(), 400);
        let (status, _) = app.get_text("/admin/chat/999999").await;
        assert_eq!(status, 404);
    }

    async fn presence_transfer_and_a_second_agent_taking_over(backend) {
        let app = TestApp::spawn(backend).await;
        let sam = app.staff_client("agent").await.cookie;
        let ria = app.staff_client("agent").await.cookie;
        let mut a = Ws::console(&app, &sam).await;
        let sam_id = a.next_of("console").await["agent_id"].as_i64().unwrap();
        let mut b = Ws::console(&app, &ria).await;
        let ria_id = b.next_of("console").await["agent_id"].as_i64().unwrap();
        // Presence reaches the hub asynchronously (through NOTIFY on
        // PostgreSQL): wait until both consoles count.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while *app.state.chat.agents_online().borrow() < 2 {
            assert!(std::time::Instant::now() < deadline, "two agents online");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut visitor = Ws::visitor(&app).await;
        let welcome = hello(&mut visitor, "Max", None).await;
        let id = welcome["conversation"].as_i64().unwrap();
        assert_eq!(welcome["agents_online"], 2);
        // Away agents do not count as online.
        a.send(json!({"type": "presence", "status": "away"})).await;
        assert_eq!(visitor.next_of("status").await["agents_online"], 1);
        a.send(json!({"type": "presence", "status": "busy"})).await;
        assert_eq!(a.next_of("error").await["code"], "invalid");

        a.send(json!({"type": "accept", "conversation": id})).await;
        loop {
            let f = b.next_of("conversation").await;
            if f["conversation"] == id && f["status"] == "active" {
                assert_eq!(f["agent_id"], sam_id);
                break;
            }
        }
        b.send(json!({"type": "accept", "conversation": id})).await;
        assert_eq!(b.next_of("error").await["code"], "conflict");
        a.send(json!({"type": "transfer", "conversation": id, "to": ria_id})).await;
        loop {
            let f = visitor.next_of("conversation").await;
            if f["agent_id"] == ria_id {
                assert!(!f["agent"].as_str().unwrap().is_empty());
                break;
            }
        }
        a.send(json!({"type": "transfer", "conversation": id, "to": 987654})).await;
        assert_eq!(a.next_of("error").await["code"], "conflict");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.transfer'").await, 1);
        // A console that goes away stops counting (the Drop guard).
        drop(b);
        assert_eq!(visitor.next_of("status").await["agents_online"], 0);
    }
}
