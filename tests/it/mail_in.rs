//! Email in: a real Dovecot on loopback (started here with a throw-away
//! config) and a real SMTP server; messages delivered by IMAP APPEND or
//! piped to `officecomms mail-in`. Tickets, answers, acknowledgements,
//! robots, bounces, complaints, restarts, quarantine and hostile mail.

use crate::{both, helpers::*};
use officecomms::{
    mail_in::{self, Outcome},
    newsletter::subscribers,
    platform::random_token,
};
use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

const ANN: &str = "ann@example.com";

/// Dovecot serving one maildir account on a loopback port, plain IMAP.
struct Dovecot {
    child: Child,
    port: u16,
    _dir: TempDir,
}

const IMAP_USER: &str = "help@officecomms.test";
const IMAP_PASSWORD: &str = "secret";

impl Dovecot {
    fn start() -> Option<Dovecot> {
        if !std::path::Path::new("/usr/sbin/dovecot").exists() {
            assert!(
                std::env::var("CI").is_err(),
                "dovecot-imapd is required in CI"
            );
            eprintln!("dovecot-imapd not installed: IMAP test not run");
            return None;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // The login and mail processes run as other users: they must get in.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mail = root.join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::fs::set_permissions(&mail, std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {root}/run\nstate_dir = {root}/state\n\
             log_path = {root}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\ndefault_internal_user = dovecot\n\
             default_internal_group = dovecot\ndefault_login_user = dovenull\n\
             mail_location = maildir:{root}/mail/%u\nmail_uid = 65534\nmail_gid = 65534\n\
             first_valid_uid = 1\n\
             passdb {{\n  driver = static\n  args = password={IMAP_PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={root}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n",
            root = root.display()
        );
        let conf_path = root.join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dovecot did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Dovecot {
            child,
            port,
            _dir: dir,
        })
    }

    fn url(&self) -> String {
        format!(
            "imap://{}:{IMAP_PASSWORD}@127.0.0.1:{}/INBOX?tls=none",
            IMAP_USER.replace('@', "%40"),
            self.port
        )
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        client
            .login(IMAP_USER, IMAP_PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }

    /// Delivers messages into the inbox, as an MTA would.
    async fn append(&self, messages: &[String]) {
        let mut session = self.session().await;
        for m in messages {
            session
                .append("INBOX", None, None, m.as_bytes())
                .await
                .unwrap();
        }
        session.logout().await.unwrap();
    }

    /// How many messages of the inbox are not flagged \Seen.
    async fn unseen(&self) -> usize {
        let mut session = self.session().await;
        session.select("INBOX").await.unwrap();
        let n = session.uid_search("UNSEEN").await.unwrap().len();
        session.logout().await.unwrap();
        n
    }

    async fn mark_all_unseen(&self) {
        use futures_util::TryStreamExt;
        let mut session = self.session().await;
        session.select("INBOX").await.unwrap();
        session
            .uid_store("1:*", "-FLAGS (\\Seen)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        session.logout().await.unwrap();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain-text mail from `from`.
fn mail(from: &str, subject: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "From: {from}\r\nTo: help@officecomms.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.com>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n",
        random_token(12)
    )
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Waits until the mailbox holds `n` unseen messages.
async fn wait_unseen(imap: &Dovecot, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = imap.unseen().await;
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{got} unseen, expected {n}: every message is flagged once taken"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `sql` counts at least `n`.
async fn wait_count(app: &TestApp, sql: &'static str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = count(app, sql).await;
        if got >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {got}, expected {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn take(app: &TestApp, raw: &str) -> Outcome {
    mail_in::take(&app.state, raw.as_bytes()).await.unwrap()
}

fn reference_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ticket(r) => r.clone(),
        other => panic!("expected a new ticket, got {other:?}"),
    }
}

async fn ticket_id(app: &TestApp, reference: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM tickets WHERE reference = $1")
        .bind(reference)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn visitor_messages(app: &TestApp, ticket: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1 AND kind = 'visitor'",
    )
    .bind(ticket)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

async fn acks(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM outbox WHERE reason = 'ticket-received'",
    )
    .await
}

/// Confirmed subscribers and a campaign sent to them; the campaign's id.
async fn send_campaign(app: &TestApp, subject: &str) -> i64 {
    let r = app
        .post_form(
            "/admin/campaigns",
            &[
                ("subject", subject),
                ("from_name", "officecomms news"),
                ("reply_to", "news@officecomms.com"),
                ("topic", "tips"),
                ("ad_label", "Advertisement"),
                ("body", "## What is new\n\nOutlook tips **inside**."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let id: i64 = r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let r = app
        .post_form(
            &format!("/admin/campaigns/{id}"),
            &[
                ("subject", subject),
                ("from_name", "officecomms news"),
                ("reply_to", "news@officecomms.com"),
                ("topic", "tips"),
                ("ad_label", "Advertisement"),
                ("body", "## What is new\n\nOutlook tips **inside**."),
                ("action", "send"),
            ],
        )
        .await;
    let confirm = format!("/admin/campaigns/{id}/send");
    if r.status() == 303 && r.headers()["location"] == confirm.as_str() {
        assert_eq!(app.post_form(&confirm, &[]).await.status(), 303);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: String =
            sqlx::query_scalar("SELECT status FROM newsletter_campaigns WHERE id = $1")
                .bind(id)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE reason = $1 AND status = 'pending'",
        )
        .bind(format!("campaign:{id}"))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        if status == "sent" && pending == 0 {
            return id;
        }
        assert!(Instant::now() < deadline, "campaign not sent");
        app.state.mail_wakeup.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn import(app: &TestApp, emails: &[&str]) {
    let rows: Vec<subscribers::ImportRow> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| subscribers::ImportRow {
            line: i + 2,
            email: e.to_string(),
            name: String::new(),
            topics: "tips".into(),
        })
        .collect();
    subscribers::import_rows(&app.state, &rows, "test sign-up sheet")
        .await
        .unwrap();
}

/// The Message-ID of the campaign mail to the subscriber with this address.
async fn campaign_message_id(app: &TestApp, campaign: i64, email: &str) -> String {
    let subject = officecomms::privacy::subjects::find(&app.state.db, &app.state.keyring, email)
        .await
        .unwrap()
        .unwrap();
    sqlx::query_scalar("SELECT message_id FROM outbox WHERE reason = $1 AND subject_id = $2")
        .bind(format!("campaign:{campaign}"))
        .bind(subject.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn subscriber_status(app: &TestApp, email: &str) -> String {
    let subject = officecomms::privacy::subjects::find(&app.state.db, &app.state.keyring, email)
        .await
        .unwrap()
        .unwrap();
    sqlx::query_scalar("SELECT status FROM newsletter_subscribers WHERE subject_id = $1")
        .bind(subject.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn campaign_mails_to(app: &TestApp, campaign: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason = $1")
        .bind(format!("campaign:{campaign}"))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

fn dsn(original_message_id: &str, to: &str, recipient: &str, status: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{}@mx.example.com>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original_message_id}\r\nSubject: News\r\n\r\n--B--\r\n",
        random_token(9)
    )
}

fn arf(original_message_id: &str, recipient: &str) -> String {
    format!(
        "From: feedback@isp.example.net\r\nTo: abuse@officecomms.com\r\nSubject: FW: News\r\n\
         Message-ID: <{}@isp.example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
         --F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
         --F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp/1.0\r\nVersion: 1\r\n\
         Original-Rcpt-To: {recipient}\r\n\r\n\
         --F\r\nContent-Type: message/rfc822\r\n\r\nFrom: officecomms news <help@officecomms.com>\r\nTo: {recipient}\r\n\
         Subject: News\r\nMessage-ID: {original_message_id}\r\n\r\nOutlook tips\r\n--F--\r\n",
        random_token(9)
    )
}

/// Runs `officecomms mail-in` on this app's data and database with `raw` on stdin.
fn mail_in_command(app: &TestApp, raw: &[u8], database_url: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    clean_env(&mut command)
        .args(["mail-in", "--data-dir"])
        .arg(app.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let url = database_url
        .map(str::to_string)
        .or_else(|| app.state.config.database_url.clone());
    if let Some(url) = url {
        command.env("OFFICECOMMS_DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both! {
    async fn a_mail_to_the_imap_inbox_becomes_a_ticket_and_the_conversation_goes_round(backend) {
        let Some(imap) = Dovecot::start() else { return };
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| {
            c.smtp_url = Some(smtp.url());
            c.imap_url = Some(imap.url());
        }).await;
        imap.append(&[mail("Ann Example <ann@example.com>", "Outlook keeps asking for my password", "Since this morning Outlook asks again and again.", "")]).await;
        let ack = Mail::parse(&smtp.wait_for(1).await[0]);
        assert_eq!(ack.to, ANN);
        assert!(ack.text.contains("OC-"), "the acknowledgement gives the reference: {}", ack.text);
        assert!(ack.text.contains("/support/tickets/"), "and the conversation link");
        let reference = ack.subject.split(['[', ']']).find(|s| s.starts_with("OC-")).map(str::to_string)
            .unwrap_or_else(|| ack.text.split_whitespace().find(|w| w.starts_with("OC-")).unwrap().trim_matches(|c: char| !c.is_alphanumeric()).to_string());
        let id = ticket_id(&app, &reference).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while imap.unseen().await > 0 {
            assert!(Instant::now() < deadline, "the taken message is flagged \\Seen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        app.login_as("agent").await;
        let r = app.post_form(&format!("/admin/tickets/{id}/reply"), &[("body", "Please re-enter the password in Settings > Accounts."), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        let messages = smtp.wait_for(2).await;
        let reply = messages.iter().map(|m| Mail::parse(m)).find(|m| m.text.contains("Settings > Accounts")).expect("the staff reply reached them");
        assert_eq!(reply.to, ANN);
        let reply_id = reply.header("Message-ID").expect("our reply has a Message-ID");

        let answer = mail("Ann Example <ann@example.com>", &format!("Re: {}", reply.subject),
            "That fixed it, thank you!\r\n\r\nOn Mon, 7 Dec 2026 at 11:00, officecomms <help@officecomms.com> wrote:\r\n> Please re-enter the password in Settings > Accounts.\r\n",
            &format!("In-Reply-To: {reply_id}\r\nReferences: {reply_id}\r\n"));
        imap.append(&[answer]).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while visitor_messages(&app, id).await < 2 {
            assert!(Instant::now() < deadline, "the mailed answer joins the ticket");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 1, "no second ticket");
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("That fixed it, thank you!"), "{page}");
        assert!(page.contains("The email as received"), "the untrimmed mail is kept for staff");
        assert_eq!(acks(&app).await, 1, "an answer is not acknowledged");
    }

    async fn a_restart_mid_mailbox_neither_loses_nor_doubles_a_message(backend) {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let Some(imap) = Dovecot::start() else { return };
        let batch = |from: usize, to: usize| (from..to).map(|i| mail(&format!("person{i}@example.com"), &format!("Question {i}"), "Hello", "")).collect::<Vec<_>>();
        imap.append(&batch(0, 20)).await;
        let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(imap.url())).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 20).await;
        // The reader moves its cursor and flags a message just after the
        // ticket commits: let it finish the last one before rewinding, or
        // it would move the cursor back past the rewind.
        wait_count(&app, "SELECT COUNT(*) FROM mail_in_cursor WHERE last_uid = 20", 1).await;
        wait_unseen(&imap, 0).await;
        // As if the process died after taking messages but before it moved
        // its cursor or flagged them: everything is offered again.
        sqlx::query("UPDATE mail_in_cursor SET last_uid = 0").execute(&app.state.db.pool).await.unwrap();
        imap.mark_all_unseen().await;
        let app = app.restart().await;
        imap.append(&batch(20, 25)).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 25).await;
        wait_unseen(&imap, 0).await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 25, "nothing doubled");
        assert_eq!(acks(&app).await, 25, "one acknowledgement each");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_in_cursor WHERE last_uid = 25").await, 1);
    }

    async fn robots_and_loops_get_no_acknowledgement_and_a_sender_one_an_hour(backend) {
        let app = TestApp::spawn(backend).await;
        let away = mail("Bob <bob@example.com>", "Out of office", "I am away until Monday.", "Auto-Submitted: auto-replied\r\n");
        let r = reference_of(&take(&app, &away).await);
        assert_eq!(acks(&app).await, 0, "an auto-reply is not acknowledged");
        let id = ticket_id(&app, &r).await;
        assert_eq!(visitor_messages(&app, id).await, 1, "but kept as a ticket for staff");
        for header in ["Precedence: bulk\r\n", "List-Id: <news.example.com>\r\n"] {
            take(&app, &mail("carol@example.com", "Newsletter", "News", header)).await;
        }
        reference_of(&take(&app, &mail("MAILER-DAEMON@mx.example.com", "Warning", "Delayed", "")).await);
        assert_eq!(acks(&app).await, 0, "bulk, list and daemon mail are not acknowledged");
        let own = app.state.site().contact_email.clone();
        assert!(matches!(take(&app, &mail(&own, "Loop", "x", "")).await, Outcome::Ignored(_)), "our own address is a loop");

        reference_of(&take(&app, &mail("dan@example.com", "First", "one", "")).await);
        reference_of(&take(&app, &mail("Dan <DAN@example.com>", "Second", "two", "")).await);
        assert_eq!(acks(&app).await, 1, "one acknowledgement per sender per hour");
        let raw = mail("erin@example.com", "Twice", "same message", "");
        reference_of(&take(&app, &raw).await);
        assert_eq!(take(&app, &raw).await, Outcome::Duplicate, "the same Message-ID is taken once");
    }

    async fn a_dsn_for_a_campaign_mail_stops_the_next_campaign_to_that_address(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        import(&app, &[ANN, "bea@example.com"]).await;
        let first = send_campaign(&app, "December tips").await;
        assert_eq!(campaign_mails_to(&app, first).await, 2);
        let original = campaign_message_id(&app, first, ANN).await;
        let outcome = take(&app, &dsn(&original, "help@officecomms.com", ANN, "5.1.1")).await;
        assert!(matches!(&outcome, Outcome::Bounce(what) if what.contains("no more marketing")), "{outcome:?}");
        assert_eq!(subscriber_status(&app, ANN).await, "unsubscribed");
        let failed: String = sqlx::query_scalar("SELECT status FROM outbox WHERE message_id = $1").bind(&original).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(failed, "failed", "the bounced mail counts as failed in the campaign's figures");
        let second = send_campaign(&app, "January tips").await;
        assert_eq!(campaign_mails_to(&app, second).await, 1, "only bea gets the next campaign");

        // A soft bounce counts; the third (the default limit) suppresses.
        let bea = campaign_message_id(&app, second, "bea@example.com").await;
        for n in 1..=3 {
            let o = take(&app, &dsn(&bea, "help@officecomms.com", "bea@example.com", "4.2.2")).await;
            let expected = if n < 3 { "soft bounce" } else { "no more marketing" };
            assert!(matches!(&o, Outcome::Bounce(what) if what.contains(expected)), "{n}: {o:?}");
        }
        assert_eq!(subscriber_status(&app, "bea@example.com").await, "unsubscribed");
        // Not about one of our mails: left alone, nothing opened.
        assert!(matches!(take(&app, &dsn("<unknown@elsewhere.example>", "x@example.com", "x@example.com", "5.1.1")).await, Outcome::Ignored(_)));
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 0, "a bounce never opens a ticket");
    }

    async fn a_recipient_refused_at_send_time_counts_as_a_hard_bounce(backend) {
        let Some(smtp) = SmtpServer::start_refusing() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        app.login_as("admin").await;
        const NOBODY: &str = "nobody@example.com";
        import(&app, &[ANN, NOBODY]).await;
        let first = send_campaign(&app, "December tips").await;
        app.drain_outbox().await;
        let refused = campaign_message_id(&app, first, NOBODY).await;
        let (status, error): (String, Option<String>) = sqlx::query_as("SELECT status, last_error FROM outbox WHERE message_id = $1")
            .bind(&refused).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "failed", "a 550 is not retried");
        assert!(error.as_deref().is_some_and(|e| e.contains("refused") && e.contains("5.1.1")), "{error:?}");
        assert_eq!(subscriber_status(&app, NOBODY).await, "unsubscribed", "no more marketing to a refused address");
        assert!(officecomms::privacy::erasure::is_suppressed(&app.state, NOBODY).await.unwrap());
        assert_eq!(subscriber_status(&app, ANN).await, "confirmed", "the accepted one stays");
        let second = send_campaign(&app, "January tips").await;
        assert_eq!(campaign_mails_to(&app, second).await, 1, "only ann gets the next campaign");
        app.drain_outbox().await;
        let delivered = smtp.recipients();
        assert_eq!(delivered.iter().filter(|r| r.as_str() == ANN).count(), 2, "{delivered:?}");
        assert!(!delivered.iter().any(|r| r == NOBODY), "{delivered:?}");

        // A ticket's acknowledgement refused: staff read it on the ticket,
        // and the address is not suppressed for transactional mail.
        let r = reference_of(&take(&app, &mail("nobody.else@example.com", "Help", "Call me", "")).await);
        app.drain_outbox().await;
        let id = ticket_id(&app, &r).await;
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        let note = page.find("could not be delivered").map(|i| &page[i..(i + 200).min(page.len())]);
        assert!(note.is_some_and(|n| n.contains("(refused: ") && n.contains("User unknown")), "staff see the refusal on the ticket: {note:?}");
    }

    async fn an_arf_complaint_unsubscribes_and_a_transactional_bounce_shows_on_the_ticket(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        import(&app, &[ANN]).await;
        let campaign = send_campaign(&app, "December tips").await;
        let original = campaign_message_id(&app, campaign, ANN).await;
        let outcome = take(&app, &arf(&original, ANN)).await;
        assert!(matches!(&outcome, Outcome::Complaint(what) if what.contains("no more marketing")), "{outcome:?}");
        assert_eq!(subscriber_status(&app, ANN).await, "unsubscribed");
        let unsubscribed: i64 = sqlx::query_scalar("SELECT unsubscribed FROM newsletter_campaigns WHERE id = $1").bind(campaign).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(unsubscribed, 1, "counted in the campaign's figures");
        assert!(officecomms::privacy::erasure::is_suppressed(&app.state, ANN).await.unwrap());

        // The acknowledgement of a ticket bounces, by its VERP return path.
        let r = reference_of(&take(&app, &mail("typo@example.con", "Help", "Please call me", "")).await);
        app.drain_outbox().await;
        let ack_id: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE reason = 'ticket-received'").fetch_one(&app.state.db.pool).await.unwrap();
        let domain = app.state.site().mail_domain().to_string();
        let verp = officecomms::platform::mail::verp_address(&ack_id, &domain);
        let eml = app.eml_files().into_iter().next().expect("the acknowledgement was written");
        assert!(eml.contains(&format!("Return-Path: <{verp}>")) || !eml.contains("Return-Path"), "files carry no envelope");
        let outcome = take(&app, &dsn("<not-given@nowhere.example>", &verp, "typo@example.con", "5.1.2")).await;
        assert!(matches!(&outcome, Outcome::Bounce(what) if what.contains(&r)), "{outcome:?}");
        let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE message_id = $1").bind(&ack_id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "failed");
        let id = ticket_id(&app, &r).await;
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("could not be delivered (status 5.1.2)"), "staff see the bounce on the ticket");
    }

    async fn mail_in_takes_stdin_threads_answers_and_answers_75_without_its_database(backend) {
        let app = TestApp::spawn(backend).await;
        let (code, out, err) = mail_in_command(&app, mail("Fay <fay@example.com>", "VPN drops", "Every hour.", "").as_bytes(), None);
        assert_eq!(code, 0, "{out} {err}");
        assert!(out.starts_with("new ticket OC-"), "{out}");
        let reference = out.trim().trim_start_matches("new ticket ").to_string();
        let answer = mail("fay@example.com", &format!("Re: [{reference}] VPN drops"), "It also drops on Wi-Fi.", "");
        let (code, out, _) = mail_in_command(&app, answer.as_bytes(), None);
        assert_eq!((code, out.trim()), (0, format!("answer on ticket {reference}").as_str()));
        let (code, out, _) = mail_in_command(&app, answer.as_bytes(), None);
        assert_eq!((code, out.trim()), (0, "already taken"), "an MTA retry doubles nothing");
        // A stranger quoting the reference does not join Fay's ticket.
        let forged = mail("mallory@example.net", &format!("Re: [{reference}] VPN drops"), "Send me her files", &format!("In-Reply-To: <{}@example.com>\r\n", random_token(6)));
        let (code, out, _) = mail_in_command(&app, forged.as_bytes(), None);
        assert_eq!(code, 0);
        assert!(out.starts_with("new ticket OC-") && !out.contains(&reference), "{out}");
        assert_eq!(visitor_messages(&app, ticket_id(&app, &reference).await).await, 2);

        let (code, _, err) = mail_in_command(&app, mail("gus@example.com", "Hi", "x", "").as_bytes(), Some("postgres://postgres@127.0.0.1:1/nothing"));
        assert_eq!(code, 75, "EX_TEMPFAIL when the database is unreachable: {err}");
        assert!(err.contains("try again"), "{err}");
    }

    async fn hostile_mail_is_taken_or_quarantined_never_lost_or_a_500(backend) {
        let app = TestApp::spawn(backend).await;
        let staff = app.new_staff("agent").await;
        // Garbage: quarantined, listed for staff, readable by them.
        assert!(matches!(take(&app, "\u{0}\u{1}not a mail at all").await, Outcome::Quarantined(_)));
        assert!(matches!(take(&app, "Subject: who sent this?\r\n\r\nbody").await, Outcome::Quarantined(_)));
        // Header injection through an encoded subject.
        let r = reference_of(&take(&app, &mail("ann@example.com", "=?utf-8?B?SGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLm5ldA==?=", "x", "")).await);
        app.drain_outbox().await;
        let ack = app.mails().into_iter().next().unwrap();
        assert!(ack.header("Bcc").is_none(), "no header smuggled into our acknowledgement");
        assert!(ack.subject.contains(&r));
        // A forged staff From opens an ordinary ticket, flagged for staff.
        let forged = reference_of(&take(&app, &mail(&staff, "Reset my admin password", "urgent", "")).await);
        // Non-UTF-8 charsets and encoded-word names are decoded.
        let latin = "From: =?iso-8859-1?Q?Jos=E9_Mu=F1oz?= <jose@example.com>\r\nSubject: =?koi8-r?B?8NLJ18XU?=\r\nMessage-ID: <latin1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me\r\n";
        let latin_ref = reference_of(&take(&app, latin).await);
        // 10,000 parts, a zip bomb-like archive and an executable: the text is
        // kept, the files left out with a note.
        let mut many = String::from("From: many@example.com\r\nSubject: Parts\r\nMessage-ID: <parts@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"P\"\r\n\r\n--P\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n");
        many.push_str("--P\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"bomb.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIAAAAIQA=\r\n");
        for i in 0..10_000 {
            many.push_str(&format!("--P\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AAA==\r\n"));
        }
        many.push_str("--P--\r\n");
        let started = Instant::now();
        let parts_ref = reference_of(&take(&app, &many).await);
        assert!(started.elapsed() < Duration::from_secs(20), "10,000 parts take {:?}", started.elapsed());
        // A 25 MB message: taken, its oversized file left out.
        let big = "A".repeat(25 * 1024 * 1024 / 76 * 57);
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(big.as_bytes());
        let wrapped: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let huge = format!("From: big@example.com\r\nSubject: Logs\r\nMessage-ID: <big@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"H\"\r\n\r\n--H\r\nContent-Type: text/plain\r\n\r\nThe log is attached.\r\n--H\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"log.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--H--\r\n", wrapped.join("\r\n"));
        assert!(huge.len() > 25 * 1024 * 1024);
        let huge_ref = reference_of(&take(&app, &huge).await);

        app.login_as("agent").await;
        let (status, page) = app.get_text("/admin/tickets/quarantine").await;
        assert_eq!(status, 200);
        assert!(page.contains("no sender address"), "{page}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 2);
        let href = page.split("href=\"").find(|s| s.starts_with("/admin/tickets/quarantine/")).unwrap().split('"').next().unwrap().to_string();
        let r = app.get(&href).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "message/rfc822");
        let body = r.text().await.unwrap();
        assert!(body.contains("who sent this?") || body.contains("not a mail at all"));

        let page_of = |reference: String| {
            let app = &app;
            async move { app.get_text(&format!("/admin/tickets/{}", ticket_id(app, &reference).await)).await.1 }
        };
        let page = page_of(forged).await;
        assert!(page.contains("names one of our staff accounts"), "staff are warned of a forged From");
        let page = page_of(latin_ref).await;
        assert!(page.contains("José Muñoz") && page.contains("Café crème") && page.contains("Привет"), "{page}");
        let page = page_of(parts_ref).await;
        assert!(page.contains("See attached.") && page.contains("bomb.zip: not an image") && page.contains("more than 3 files") || page.contains("more parts of the mail were not read"), "{page}");
        let page = page_of(huge_ref).await;
        assert!(page.contains("The log is attached.") && page.contains("log.txt: larger than 5 MB"), "{page}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM ticket_attachments").await, 0, "nothing unsafe or oversized kept");
    }

    async fn erasing_as_a_childs_request_deletes_the_ticket_and_its_mails(backend) {
        let app = TestApp::spawn(backend).await;
        let r = reference_of(&take(&app, &mail("kid@example.com", "my game is broken", "help pls i am 11", "")).await);
        app.drain_outbox().await;
        let id = ticket_id(&app, &r).await;
        app.login_as("agent").await;
        let r1 = app.post_form(&format!("/admin/tickets/{id}/erase-child"), &[]).await;
        assert_eq!(r1.status(), 422);
        assert!(r1.text().await.unwrap().contains("Tick the box"), "asks to confirm");
        let r2 = app.post_form(&format!("/admin/tickets/{id}/erase-child"), &[("confirm", "yes")]).await;
        assert_eq!(r2.status(), 303);
        assert_eq!(app.get(&format!("/admin/tickets/{id}")).await.status(), 404, "the ticket is gone");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox WHERE payload IS NOT NULL AND subject_id IS NOT NULL").await, 0, "its mails are gone");
        assert!(app.eml_files().is_empty(), "and their files");
        assert!(officecomms::privacy::erasure::is_suppressed(&app.state, "kid@example.com").await.unwrap(), "the address is suppressed");
        let audited: i64 = count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'erase'").await;
        assert_eq!(audited, 1);
    }
}
