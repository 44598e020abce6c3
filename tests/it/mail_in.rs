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

    /// Flags these messages `\Seen`, as a person reading them would.
    async fn mark_seen(&self, uids: &str) {
        use futures_util::TryStreamExt;
        let mut session = self.session().await;
        session.select("INBOX").await.unwrap();
        session
            .uid_store(uids, "+FLAGS (\\Seen)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        session.logout().await.unwrap();
    }

    async fn create(&self, folder: &str) {
        let mut session = self.session().await;
        session.create(folder).await.unwrap();
        session.logout().await.unwrap();
    }

    /// How many messages a folder holds.
    async fn exists(&self, folder: &str) -> u32 {
        let mut session = self.session().await;
        let n = session.select(folder).await.unwrap().exists;
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

/// A zip bomb: one entry of 50 MB of zeros, deflated to about 50 KB
/// (made by Python's zipfile, which the SMTP server's tests need anyway).
fn zip_bomb() -> Vec<u8> {
    let out = Command::new("python3")
        .args(["-c", "import io, sys, zipfile\nb = io.BytesIO()\nwith zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('zeros.bin', bytes(50 * 1024 * 1024))\nsys.stdout.buffer.write(b.getvalue())"])
        .output()
        .expect("python3 makes the zip");
    let zip = out.stdout;
    assert!(
        zip.starts_with(b"PK\x03\x04") && zip.len() < 200 * 1024,
        "{} bytes",
        zip.len()
    );
    // The local header's uncompressed size (zipfile writes it there).
    let unpacked = u32::from_le_bytes(zip[22..26].try_into().unwrap());
    assert_eq!(unpacked, 50 * 1024 * 1024, "it unpacks to 50 MB");
    zip
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
        // 10,000 parts, a zip bomb (50 MB of zeros in 50 KB) and executables:
        // the text is kept, the files left out by their type (judged by their
        // first bytes: nothing is unpacked) with a note.
        let bomb = zip_bomb();
        use base64::Engine;
        let bomb64 = base64::engine::general_purpose::STANDARD.encode(&bomb);
        let mut many = String::from("From: many@example.com\r\nSubject: Parts\r\nMessage-ID: <parts@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"P\"\r\n\r\n--P\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n");
        many.push_str(&format!("--P\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"bomb.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{bomb64}\r\n"));
        for i in 0..10_000 {
            many.push_str(&format!("--P\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AAA==\r\n"));
        }
        many.push_str("--P--\r\n");
        let started = Instant::now();
        let parts_ref = reference_of(&take(&app, &many).await);
        assert!(started.elapsed() < Duration::from_secs(20), "10,000 parts take {:?}", started.elapsed());
        // A 25 MB message: taken, its oversized file left out.
        let big = "A".repeat(25 * 1024 * 1024 / 76 * 57);
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
        assert!(page.contains("See attached."), "the text is kept");
        assert!(page.contains("bomb.zip: not an image, a PDF or plain text"), "the zip is refused by its type");
        assert!(page.contains("f0.exe: not an image, a PDF or plain text"), "so are the executables read");
        // The first 200 of the 10,001 files are looked at, the rest counted.
        assert!(page.contains("9801 more parts of the mail were not read"), "{}", &page[page.find("Files in the email").unwrap_or(0)..][..300]);
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

/// The Message-ID line of a raw mail made by [`mail`].
fn message_id_of(raw: &str) -> String {
    raw.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_string()
}

/// Makes the database refuse every new ticket (a fault that is no fault
/// of the database's reachability): a message opening one fails for good.
async fn poison_new_tickets(app: &TestApp) {
    let sql = match app.state.db.backend {
        officecomms::platform::db::Backend::Sqlite => {
            "CREATE TRIGGER poison BEFORE INSERT ON tickets BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        }
        officecomms::platform::db::Backend::Postgres => {
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poisoned'; END $$; \
             CREATE TRIGGER poison BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION poison()"
        }
    };
    sqlx::raw_sql(sql)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

async fn cure_new_tickets(app: &TestApp) {
    let sql = match app.state.db.backend {
        officecomms::platform::db::Backend::Sqlite => "DROP TRIGGER poison",
        officecomms::platform::db::Backend::Postgres => "DROP TRIGGER poison ON tickets",
    };
    sqlx::raw_sql(sql)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

/// The tables and columns whose stored bytes hold `needle` as written.
async fn database_holds(app: &TestApp, needle: &str) -> Vec<String> {
    use officecomms::platform::db::Backend;
    let columns: Vec<(String, String, String)> = match app.state.db.backend {
        Backend::Sqlite => sqlx::query_as(
            "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.type NOT IN ('INTEGER', 'BIGINT', 'REAL')",
        ),
        Backend::Postgres => sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'character varying')",
        ),
    }
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert!(columns.len() > 20, "{columns:?}");
    let mut found = Vec::new();
    for (table, column, kind) in columns {
        let sql = match (app.state.db.backend, kind.as_str()) {
            (Backend::Sqlite, _) => format!(
                "SELECT COUNT(*) FROM \"{table}\" WHERE instr(CAST(\"{column}\" AS BLOB), CAST($1 AS BLOB)) > 0"
            ),
            (Backend::Postgres, "bytea") => format!(
                "SELECT COUNT(*) FROM \"{table}\" WHERE position(convert_to($1, 'UTF8') IN \"{column}\") > 0"
            ),
            (Backend::Postgres, _) => {
                format!("SELECT COUNT(*) FROM \"{table}\" WHERE position($1 IN \"{column}\") > 0")
            }
        };
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// The visible text of the staff page of a ticket.
async fn ticket_page(app: &TestApp, reference: &str) -> String {
    app.get_text(&format!(
        "/admin/tickets/{}",
        ticket_id(app, reference).await
    ))
    .await
    .1
}

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

both! {
    async fn a_message_that_keeps_failing_is_quarantined_and_the_mailbox_moves_on(backend) {
        let Some(imap) = Dovecot::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(format!("{}&poll=1", imap.url()))).await;
        wait_count(&app, "SELECT COUNT(*) FROM mail_in_cursor", 1).await;
        poison_new_tickets(&app).await;
        let poison = mail("pia@example.com", "Fails for good", "This one cannot be taken", "");
        let own = app.state.site().contact_email.clone();
        imap.append(&[poison.clone(), mail(&own, "Loop", "our own mail, ignored", "")]).await;
        // Three attempts, then quarantined; the message after it is taken.
        wait_unseen(&imap, 0).await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 1);
        let reason: String = sqlx::query_scalar("SELECT reason FROM mail_quarantine").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(reason.contains("after 3 attempts"), "{reason}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_in_seen WHERE outcome = 'ignored'").await, 1, "the next message is taken");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_in_cursor WHERE last_uid = 2 AND failures = 0").await, 1);
        // Sealed as unreadable mail is: readable by staff, not in the database as written.
        assert!(database_holds(&app, "This one cannot be taken").await.is_empty());
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT raw FROM mail_quarantine").fetch_one(&app.state.db.pool).await.unwrap();
        let opened = officecomms::mail_in::intake::open_quarantined(&app.state, &sealed).unwrap();
        assert_eq!(String::from_utf8(opened).unwrap().replace("\r\n", "\n").trim_end(), poison.replace("\r\n", "\n").trim_end());

        // Fixed: the reader goes on taking mail (polling every second here).
        cure_new_tickets(&app).await;
        imap.append(&[mail("quinn@example.com", "Works again", "Hello", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 1).await;
        wait_unseen(&imap, 0).await;
    }

    async fn mail_in_quarantines_what_fails_and_answers_75_only_without_its_database_or_schema(backend) {
        let app = TestApp::spawn(backend).await;
        poison_new_tickets(&app).await;
        let (code, out, err) = mail_in_command(&app, mail("rae@example.com", "Cannot be taken", "Secret words 4711", "").as_bytes(), None);
        assert_eq!(code, 0, "not offered again and again: {out} {err}");
        assert!(out.starts_with("quarantined: it could not be taken after 2 attempts"), "{out}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 1);
        assert!(database_holds(&app, "Secret words 4711").await.is_empty(), "sealed");
        cure_new_tickets(&app).await;

        // A schema behind this program (an upgrade not yet migrated): 75, said why.
        let latest: i64 = count(&app, "SELECT MAX(version) FROM _sqlx_migrations").await;
        sqlx::query("UPDATE _sqlx_migrations SET success = false WHERE version = $1").bind(latest).execute(&app.state.db.pool).await.unwrap();
        let (code, _, err) = mail_in_command(&app, mail("sam@example.com", "Hi", "x", "").as_bytes(), None);
        assert_eq!(code, 75, "{err}");
        assert!(err.contains("schema is at migration") && err.contains("officecomms migrate") && err.contains("try again later"), "{err}");
        sqlx::query("UPDATE _sqlx_migrations SET success = true WHERE version = $1").bind(latest).execute(&app.state.db.pool).await.unwrap();
        let (code, out, err) = mail_in_command(&app, mail("sam@example.com", "Hi", "x", "").as_bytes(), None);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("new ticket OC-"), "{out}");
        // No key file (a data dir the site never used): nothing sealed under a stray key.
        let empty = tempfile::tempdir().unwrap();
        let mut command = Command::new(BIN);
        clean_env(&mut command).args(["mail-in", "--data-dir"]).arg(empty.path()).stdin(Stdio::piped()).stderr(Stdio::piped());
        if let Some(url) = &app.state.config.database_url {
            command.env("OFFICECOMMS_DATABASE_URL", url);
        }
        let mut child = command.spawn().unwrap();
        child.stdin.take().unwrap().write_all(mail("tom@example.com", "Hi", "x", "").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!empty.path().join("officecomms.key").exists(), "no key of its own");
    }

    async fn a_new_mailbox_or_uidvalidity_takes_only_unseen_mail(backend) {
        let Some(imap) = Dovecot::start() else { return };
        // Mail read before officecomms was set up, and one not read yet.
        imap.append(&[mail("old1@example.com", "Old one", "read long ago", ""), mail("old2@example.com", "Old two", "read long ago", "")]).await;
        imap.mark_seen("1:2").await;
        imap.append(&[mail("new1@example.com", "New one", "not read yet", "")]).await;
        let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(imap.url())).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 1).await;
        wait_unseen(&imap, 0).await;
        wait_count(&app, "SELECT COUNT(*) FROM mail_in_cursor WHERE last_uid = 3", 1).await;
        // A new UIDVALIDITY (the mailbox was rebuilt): its seen mail was read
        // before; only what is unseen is new.
        let app = {
            sqlx::query("UPDATE mail_in_cursor SET uid_validity = uid_validity + 1, last_uid = 0").execute(&app.state.db.pool).await.unwrap();
            imap.append(&[mail("new2@example.com", "New two", "arrived meanwhile", "")]).await;
            app.restart().await
        };
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 2).await;
        wait_unseen(&imap, 0).await;
        wait_count(&app, "SELECT COUNT(*) FROM mail_in_cursor WHERE last_uid = 4", 1).await;
        imap.append(&[mail("new3@example.com", "New three", "after", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 3).await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 3, "the old mail was never taken");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_in_seen").await, 3);
    }

    async fn with_idle_off_the_reader_polls_and_takes_new_mail(backend) {
        let Some(imap) = Dovecot::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(format!("{}&idle=off&poll=1", imap.url()))).await;
        // Past its first look, it is waiting: only a poll can find this.
        wait_count(&app, "SELECT COUNT(*) FROM mail_in_cursor", 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        imap.append(&[mail("una@example.com", "Polled", "found by polling", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 1).await;
        wait_unseen(&imap, 0).await;
        imap.append(&[mail("val@example.com", "Polled again", "and again", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 2).await;
    }

    async fn taken_mail_moves_to_the_named_folder_or_is_flagged_when_it_cannot(backend) {
        let Some(imap) = Dovecot::start() else { return };
        imap.create("Done").await;
        let app = TestApp::spawn_with(backend.clone(), |c| c.imap_url = Some(imap.url().replace("?tls=none", "?tls=none&move=Done"))).await;
        imap.append(&[mail("wes@example.com", "Move me", "to Done", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 1).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while imap.exists("Done").await < 1 {
            assert!(Instant::now() < deadline, "moved to Done");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(imap.exists("INBOX").await, 0, "moved, not copied");
        drop(app);
        // A folder that does not exist: the move is refused, the message is
        // taken all the same and flagged, so it is not read again as new.
        let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(imap.url().replace("?tls=none", "?tls=none&move=Nowhere"))).await;
        imap.append(&[mail("xia@example.com", "Cannot move", "stays", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 1).await;
        wait_unseen(&imap, 0).await;
        assert_eq!(imap.exists("INBOX").await, 1, "left in the inbox, flagged \\Seen");
        let app = app.restart().await;
        imap.append(&[mail("yan@example.com", "After", "restart", "")]).await;
        wait_count(&app, "SELECT COUNT(*) FROM tickets", 2).await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 2, "nothing taken twice");
    }

    async fn the_acknowledgement_answers_the_mail_and_says_it_is_automatic(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let raw = mail("Zoe <zoe@example.com>", "Scanner offline", "The scanner says offline.", "");
        let id = message_id_of(&raw);
        let r = reference_of(&take(&app, &raw).await);
        app.state.mail_wakeup.notify_one();
        let ack = Mail::parse(&smtp.wait_for(1).await[0]);
        assert!(ack.text.contains(&r));
        assert_eq!(ack.header("Auto-Submitted").as_deref(), Some("auto-replied"), "RFC 3834: robots do not answer it");
        assert_eq!(ack.header("In-Reply-To").as_deref(), Some(id.as_str()));
        assert_eq!(ack.header("References").as_deref(), Some(id.as_str()));
        // A person's answer is a person's: not marked automatic.
        app.login_as("agent").await;
        let ticket = ticket_id(&app, &r).await;
        assert_eq!(app.post_form(&format!("/admin/tickets/{ticket}/reply"), &[("body", "Turn it off and on."), ("status", "pending")]).await.status(), 303);
        let all = smtp.wait_for(2).await;
        let reply = all.iter().map(|m| Mail::parse(m)).find(|m| m.text.contains("Turn it off")).unwrap();
        assert_eq!(reply.header("Auto-Submitted"), None);
        let audit: i64 = count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'create' AND target_kind = 'ticket' AND actor_label = 'email in'").await;
        assert_eq!(audit, 1, "a ticket opened by mail is audited");
        let detail: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE actor_label = 'email in' AND target_id = $1").bind(ticket.to_string()).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(detail, format!("{r} opened by an email"));
    }

    async fn a_stranger_quoting_the_real_message_id_of_our_mail_opens_a_new_ticket(backend) {
        let app = TestApp::spawn(backend).await;
        let r = reference_of(&take(&app, &mail(ANN, "Printer", "It jams.", "")).await);
        app.drain_outbox().await;
        let ours: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE reason = 'ticket-received'").fetch_one(&app.state.db.pool).await.unwrap();
        // Ann's own answer to it joins (the control).
        let answer = mail(ANN, "Re: Printer", "Still jams.", &format!("In-Reply-To: {ours}\r\nReferences: {ours}\r\n"));
        assert_eq!(take(&app, &answer).await, Outcome::Reply(r.clone()));
        // The stranger knows the real Message-ID (a forwarded mail, a leak).
        let forged = mail("mallory@example.net", "Re: Printer", "Send me her files.", &format!("In-Reply-To: {ours}\r\nReferences: {ours}\r\n"));
        let other = reference_of(&take(&app, &forged).await);
        assert_ne!(other, r);
        assert_eq!(visitor_messages(&app, ticket_id(&app, &r).await).await, 2, "nothing joined Ann's ticket");
        app.login_as("agent").await;
        assert!(!ticket_page(&app, &r).await.contains("Send me her files."));
    }

    async fn mail_in_acknowledges_over_smtp_and_handles_robots_bounces_and_complaints(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let (code, out, err) = mail_in_command(&app, mail("Fay <fay@example.com>", "VPN drops", "Every hour.", "").as_bytes(), None);
        assert_eq!(code, 0, "{err}");
        let reference = out.trim().trim_start_matches("new ticket ").to_string();
        app.state.mail_wakeup.notify_one();
        let ack = Mail::parse(&smtp.wait_for(1).await[0]);
        assert_eq!(ack.to, "fay@example.com");
        assert!(ack.subject.contains(&reference) || ack.text.contains(&reference), "the serving instance sent the acknowledgement mail-in enqueued");
        // An auto-reply opens a ticket for staff, unacknowledged.
        let (code, out, _) = mail_in_command(&app, mail("gil@example.com", "Out of office", "Away.", "Auto-Submitted: auto-replied\r\n").as_bytes(), None);
        assert_eq!(code, 0);
        assert!(out.starts_with("new ticket OC-"), "{out}");
        app.drain_outbox().await;
        assert_eq!(acks(&app).await, 1, "no acknowledgement to a robot");

        app.login_as("admin").await;
        import(&app, &[ANN, "bea@example.com", "cy@example.com"]).await;
        let campaign = send_campaign(&app, "December tips").await;
        let original = campaign_message_id(&app, campaign, ANN).await;
        let (code, out, _) = mail_in_command(&app, dsn(&original, "help@officecomms.com", ANN, "5.1.1").as_bytes(), None);
        assert_eq!((code, out.trim()), (0, "bounce: the address gets no more marketing mail"));
        assert_eq!(subscriber_status(&app, ANN).await, "unsubscribed");
        let bea = campaign_message_id(&app, campaign, "bea@example.com").await;
        let (code, out, _) = mail_in_command(&app, arf(&bea, "bea@example.com").as_bytes(), None);
        assert_eq!((code, out.trim()), (0, "complaint: the address gets no more marketing mail"));
        assert_eq!(subscriber_status(&app, "bea@example.com").await, "unsubscribed");
        let next = send_campaign(&app, "January tips").await;
        assert_eq!(campaign_mails_to(&app, next).await, 1, "only cy gets the next campaign");
    }

    async fn quarantine_is_sealed_and_purged_after_30_days_and_reports_are_not_kept(backend) {
        let app = TestApp::spawn(backend).await;
        let token = format!("quarantined-{}", random_token(8));
        assert!(matches!(take(&app, &format!("Subject: {token}\r\n\r\nno sender, {token}")).await, Outcome::Quarantined(_)));
        assert!(database_holds(&app, &token).await.is_empty(), "the raw column holds no plaintext");
        app.login_as("agent").await;
        let (_, list) = app.get_text("/admin/tickets/quarantine").await;
        let href = list.split("href=\"").find(|s| s.starts_with("/admin/tickets/quarantine/")).unwrap().split('"').next().unwrap().to_string();
        assert!(app.get(&href).await.text().await.unwrap().contains(&token), "staff read it");
        let inventory = &app.state.registry.inventory;
        let now = officecomms::platform::now_ms();
        officecomms::privacy::retention::purge(&app.state.db, inventory, now + 29 * 86_400_000).await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 1, "kept 30 days");
        officecomms::privacy::retention::purge(&app.state.db, inventory, now + 31 * 86_400_000).await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 0, "then purged");

        // A bounce of a ticket's mail: the outcome is kept, the report is not.
        let r = reference_of(&take(&app, &mail("typo@example.con", "Help", "Call me", "")).await);
        app.drain_outbox().await;
        let ack_id: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE reason = 'ticket-received'").fetch_one(&app.state.db.pool).await.unwrap();
        let diagnostic = format!("mailbox-{}-does-not-exist", random_token(8));
        let report = dsn(&ack_id, "help@officecomms.com", "typo@example.con", "5.1.1").replace("550 5.1.1 user unknown", &format!("550 5.1.1 {diagnostic}"));
        assert!(report.contains(&diagnostic));
        assert!(matches!(take(&app, &report).await, Outcome::Bounce(_)));
        assert!(database_holds(&app, &diagnostic).await.is_empty(), "the Diagnostic-Code is stored nowhere");
        assert!(database_holds(&app, "I'm sorry to have to inform you").await.is_empty());
        app.login_as("agent").await; // the purge ended the first session
        let page = ticket_page(&app, &r).await;
        assert!(!page.contains(&diagnostic), "nor in a sealed note");
        assert!(page.contains("could not be delivered (status 5.1.1)"), "{}", &page[page.find("deliver").unwrap_or(0)..][..300.min(page.len())]);
    }

    async fn html_only_mail_becomes_safe_text_and_a_png_is_kept_for_staff(backend) {
        let app = TestApp::spawn(backend).await;
        let html = "From: hal@example.com\r\nSubject: Screenshot\r\nMessage-ID: <html-only@example.com>\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
            <html><head><style>p{color:red}</style><script>stealCookies()</script></head><body><p>Hello <b>there</b>, the printer shows <i>E-42</i>.</p>\
            <img src=\"x\" onerror=\"stealCookies()\"><a href=\"javascript:evil()\">click</a></body></html>\r\n\
            --M\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"screen.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
        let raw = format!("{html}{PNG_1X1}\r\n--M--\r\n");
        let r = reference_of(&take(&app, &raw).await);
        app.login_as("agent").await;
        let page = ticket_page(&app, &r).await;
        assert!(page.contains("Hello there, the printer shows E-42."), "{page}");
        for unsafe_bit in ["stealCookies", "onerror=", "javascript:evil", "<b>there</b>", "color:red"] {
            assert!(!page.contains(unsafe_bit), "{unsafe_bit} in {page}");
        }
        let ticket = ticket_id(&app, &r).await;
        let prefix = format!("/admin/tickets/{ticket}/attachments/");
        let href = page.split("href=\"").find(|s| s.starts_with(&prefix)).expect("a link to the PNG").split('"').next().unwrap().to_string();
        assert!(page.contains("screen.png"));
        let download = app.get(&href).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.headers()["content-type"], "image/png");
        use base64::Engine;
        assert_eq!(download.bytes().await.unwrap().to_vec(), base64::engine::general_purpose::STANDARD.decode(PNG_1X1).unwrap());
    }

    async fn a_mailed_ticket_shows_in_the_requesters_my_data(backend) {
        let app = TestApp::spawn(backend).await;
        let r = reference_of(&take(&app, &mail("Ivy <ivy@example.com>", "Laptop fan is loud", "Since the update.", "")).await);
        app.drain_outbox().await;
        let before = app.mails().len();
        assert_eq!(app.post_form("/my-data", &[("email", "ivy@example.com")]).await.status(), 200);
        app.drain_outbox().await;
        let mails = app.mails();
        assert_eq!(mails.len(), before + 1);
        let link = mails.last().unwrap().link(&format!("{}/my-data/", app.base));
        let page = app.get(link.trim_start_matches(&app.base)).await.text().await.unwrap();
        assert!(page.contains("Laptop fan is loud"), "the ticket's title: {page}");
        assert!(page.contains("Since the update."), "and its message");
        assert!(page.contains(&r) || page.contains("Ivy"), "{page}");
    }

    async fn the_soft_bounce_limit_is_an_admin_setting_and_a_delivery_starts_the_count_over(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let (_, page) = app.get_text("/admin/tickets/settings").await;
        assert!(page.contains("Temporary delivery failures before marketing mail stops") && page.contains("value=\"3\""), "the configured default shows");
        let settings_form = |limit: &'static str| {
            let app = &app;
            async move {
                let current = officecomms::support::settings::load(&app.state.db).await.unwrap().with_configured(3);
                let fields: Vec<(&str, String)> = officecomms::support::settings::FIELDS
                    .iter()
                    .map(|(k, _, _)| (*k, if *k == "soft_bounce_limit" { limit.to_string() } else { current.get(k) }))
                    .collect();
                let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                app.post_form("/admin/tickets/settings", &pairs).await
            }
        };
        for bad in ["0", "many", "101"] {
            let r = settings_form(bad).await;
            assert_eq!(r.status(), 422, "{bad}");
            let body = r.text().await.unwrap();
            assert!(body.contains("Please enter a whole number in the allowed range.") && body.contains(&format!("value=\"{bad}\"")), "what was typed comes back");
        }
        assert_eq!(settings_form("2").await.status(), 200);
        assert_eq!(officecomms::support::settings::load(&app.state.db).await.unwrap().soft_bounce_limit(3), 2);

        import(&app, &[ANN, "bea@example.com"]).await;
        let first = send_campaign(&app, "December tips").await;
        // Two soft bounces in a row stop ann's newsletter (limit 2).
        let ann_mail = campaign_message_id(&app, first, ANN).await;
        for n in 1..=2 {
            let o = take(&app, &dsn(&ann_mail, "help@officecomms.com", ANN, "4.2.2")).await;
            let expected = if n < 2 { "soft bounce" } else { "no more marketing" };
            assert!(matches!(&o, Outcome::Bounce(what) if what.contains(expected)), "{n}: {o:?}");
        }
        assert_eq!(subscriber_status(&app, ANN).await, "unsubscribed");
        // bea bounces once, then a mail reaches her (a week without a bounce):
        // her next soft bounce is the first of a new run.
        let bea_first = campaign_message_id(&app, first, "bea@example.com").await;
        assert!(matches!(take(&app, &dsn(&bea_first, "help@officecomms.com", "bea@example.com", "4.2.2")).await, Outcome::Bounce(w) if w.contains("soft bounce")));
        let second = send_campaign(&app, "January tips").await;
        app.drain_outbox().await;
        app.state.clock.advance(8 * 86_400_000);
        let third = send_campaign(&app, "February tips").await;
        app.drain_outbox().await;
        let bea_third = campaign_message_id(&app, third, "bea@example.com").await;
        let o = take(&app, &dsn(&bea_third, "help@officecomms.com", "bea@example.com", "4.2.2")).await;
        assert!(matches!(&o, Outcome::Bounce(w) if w.contains("soft bounce")), "the January mail reached her: {o:?}");
        assert_eq!(subscriber_status(&app, "bea@example.com").await, "confirmed");
        let bea = officecomms::privacy::subjects::find(&app.state.db, &app.state.keyring, "bea@example.com").await.unwrap().unwrap();
        let bounces: i64 = sqlx::query_scalar("SELECT bounces FROM mail_soft_bounces WHERE subject_id = $1").bind(bea.id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(bounces, 1, "the count started over");
        // Without a delivery in between, the second in a row stops it.
        let bea_second = campaign_message_id(&app, second, "bea@example.com").await;
        let o = take(&app, &dsn(&bea_second, "help@officecomms.com", "bea@example.com", "4.2.2")).await;
        assert!(matches!(&o, Outcome::Bounce(w) if w.contains("no more marketing")), "{o:?}");
    }
}

/// Two instances on one PostgreSQL read one mailbox: one holds the lock at
/// a time, every message becomes exactly one ticket, and when the lock's
/// connection is cut the holder stops and the lock is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_on_postgres_take_each_message_once_and_retake_a_lost_lock() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let Some(imap) = Dovecot::start() else { return };
    let app = TestApp::spawn_with(backend, |c| c.imap_url = Some(imap.url())).await;
    let other = app.sibling().await;
    let batch = |from: usize, to: usize| {
        (from..to)
            .map(|i| {
                mail(
                    &format!("p{i}@example.com"),
                    &format!("Question {i}"),
                    "Hello",
                    "",
                )
            })
            .collect::<Vec<_>>()
    };
    imap.append(&batch(0, 30)).await;
    wait_count(&app, "SELECT COUNT(*) FROM tickets", 30).await;
    wait_unseen(&imap, 0).await;
    let holders = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
    };
    let first = holders().await;
    assert_eq!(first.len(), 1, "one reader at a time: {first:?}");
    sqlx::query("SELECT pg_terminate_backend($1::int)")
        .bind(first[0])
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = holders().await;
        if now.len() == 1 && now[0] != first[0] {
            break;
        }
        assert!(now.len() <= 1, "never two holders: {now:?}");
        assert!(
            Instant::now() < deadline,
            "the lock was not taken again: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    imap.append(&batch(30, 40)).await;
    wait_count(&app, "SELECT COUNT(*) FROM tickets", 40).await;
    wait_unseen(&imap, 0).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM tickets").await,
        40,
        "exactly one ticket each"
    );
    assert_eq!(acks(&app).await, 40, "and one acknowledgement each");
    drop(other);
}
