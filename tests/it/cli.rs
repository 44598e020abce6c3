//! The `officecomms` binary as a newcomer runs it.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_officecomms");

fn clean_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("OFFICECOMMS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[tokio::test]
async fn serve_on_an_empty_dir_creates_the_database_key_and_demo_site() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = clean_env(&mut Command::new(BIN))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("printed link")
        .to_string();
    let home = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        home.contains("officecomms") && home.contains("1200 Harbor Street"),
        "demo site served"
    );

    let key = dir.path().join("officecomms.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    sqlx::any::install_default_drivers();
    let db = officecomms::platform::db::Db::connect(&format!(
        "sqlite://{}?mode=rw",
        dir.path().join("officecomms.db").display()
    ))
    .await
    .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn user_add_reads_the_password_from_stdin_and_refuses_a_short_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |password: &str| {
        let mut child = clean_env(&mut Command::new(BIN))
            .args([
                "user",
                "add",
                "--email",
                "root@officecomms.test",
                "--role",
                "admin",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = run("short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password too short"));
    let ok = run("a perfectly long password\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("created admin account root@officecomms.test")
    );
    let again = run("a perfectly long password\n");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn policy_prints_the_generated_policy_as_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["policy", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("# Privacy policy"));
    assert!(md.contains("| Data | Collected by |"));
    assert!(md.contains("We honour Do Not Track"));
}

#[test]
fn migrate_applies_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(dir.path().join("officecomms.db").exists());
}
