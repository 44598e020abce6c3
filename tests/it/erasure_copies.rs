//! Erasure that reaches every copy: the files under the data dir (mail
//! files, the SQLite database and its log), encrypted backups and their
//! retention, and restores that erase again.

use crate::{both, helpers::*};
use age::secrecy::ExposeSecret;
use officecomms::{
    AppState, Config,
    ops::backup,
    platform::now_ms,
    privacy::{erasure, retention, subjects},
    support::intake,
};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

const PERSON: &str = "robin.erased@example.com";
const SECRET: &str = "the server room key is under the blue mat";
const UPLOAD: &str = "scan of a signed contract, visitor upload";

/// Every file under `dir` (recursively) whose raw bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

/// Every file under `dir`, relative names.
fn all_files(dir: &Path, rel: &Path) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(all_files(&path, &rel.join(entry.file_name())));
        } else {
            found.push(rel.join(entry.file_name()).display().to_string());
        }
    }
    found
}

/// PERSON writes in through the contact form (their message: SECRET) and
/// gets a mail holding SECRET; both delivered as `.eml` files.
async fn person_writes_in(app: &TestApp) -> i64 {
    let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let mut fields = crate::support::query(&token, PERSON);
    for f in &mut fields {
        if f.0 == "details" {
            f.1 = SECRET;
        }
    }
    let r = app.post_form("/contact", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    app.mail_person(
        PERSON,
        "About your question",
        &format!("You wrote: {SECRET}"),
    )
    .await
}

async fn wrapped_key(app: &TestApp, subject_id: i64) -> Vec<u8> {
    sqlx::query_scalar("SELECT wrapped_key FROM subjects WHERE id = $1")
        .bind(subject_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Erases PERSON the way they do it: the my-data link, then the delete form.
async fn person_erases_everything(app: &TestApp) {
    app.post_form("/my-data", &[("email", PERSON)]).await;
    app.drain_outbox().await;
    let link = app
        .mails()
        .iter()
        .rev()
        .find(|m| m.to == PERSON && m.text.contains("/my-data/"))
        .expect("my-data link mailed")
        .link(&format!("{}/my-data/", app.base));
    let path = link.trim_start_matches(&app.base).to_string();
    assert_eq!(app.get(&path).await.status(), 200);
    let r = app
        .post_form(&format!("{path}/delete"), &[("confirm", "yes")])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Your data is erased"));
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fresh classic (X25519) age key pair, as Debian's age-keygen makes:
/// the identity file (written in `dir`) and its recipient.
fn age_keys(dir: &Path, name: &str) -> (PathBuf, String) {
    #[allow(deprecated)]
    let identity = age::x25519::Identity::generate();
    let file = dir.join(name);
    std::fs::write(&file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    (file, identity.to_public().to_string())
}

/// A config for restoring into `dir` on the same kind of database as `backend`.
async fn restore_config(backend: &Backend, dir: &Path) -> (Config, Option<ScratchDatabase>) {
    let mut config = test_config(dir);
    let scratch = match backend {
        Backend::Postgres(admin) => {
            let db = ScratchDatabase::create(admin).await;
            config.database_url = Some(db.url.clone());
            Some(db)
        }
        Backend::Sqlite => None,
    };
    (config, scratch)
}

both! {
    async fn an_erasure_leaves_no_file_under_the_data_dir_holding_the_person(backend) {
        let app = TestApp::spawn(backend.clone()).await;
        let data = app.dir.path();
        let subject_id = person_writes_in(&app).await;
        let key = wrapped_key(&app, subject_id).await;
        // Their sealed mail: a deleted row must not linger in a free page.
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT payload FROM outbox WHERE dedupe_key = 'test:About your question'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        // The search finds them before: their mails are files under the data dir.
        assert!(!files_holding(data, PERSON.as_bytes()).is_empty());
        assert!(!files_holding(data, SECRET.as_bytes()).is_empty());
        if matches!(backend, Backend::Sqlite) {
            assert!(!files_holding(data, &key).is_empty(), "the wrapped key is in the database file");
            assert!(!files_holding(data, &sealed).is_empty(), "the sealed mail is in the database file");
        }

        person_erases_everything(&app).await;
        app.drain_outbox().await;

        // Only the confirmation the person asked for holds their address, and
        // nothing else of theirs; its outbox row keeps nothing once sent.
        let holding: Vec<PathBuf> = files_holding(data, PERSON.as_bytes());
        assert_eq!(holding.len(), 1, "{holding:?}");
        let confirmation = Mail::parse(&std::fs::read_to_string(&holding[0]).unwrap());
        assert!(confirmation.subject.contains("erased"), "{}", confirmation.subject);
        assert!(files_holding(data, SECRET.as_bytes()).is_empty(), "message text left in {:?}", files_holding(data, SECRET.as_bytes()));
        assert!(files_holding(data, &key).is_empty(), "the shredded key left in {:?}", files_holding(data, &key));
        assert!(files_holding(data, &sealed).is_empty(), "the deleted mail left in {:?}", files_holding(data, &sealed));
        let payloads: Vec<Option<Vec<u8>>> = sqlx::query_scalar("SELECT payload FROM outbox WHERE reason = 'erasure-confirmation'")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(payloads, vec![None], "the confirmation's address purged once sent");

        // The confirmation goes with its outbox row, at the retention.
        retention::purge(&app.state.db, &app.state.registry.inventory, now_ms() + 31 * 86_400_000).await.unwrap();
        retention::purge_files(&app.state.db, data).await.unwrap();
        assert!(files_holding(data, PERSON.as_bytes()).is_empty());
    }

    async fn mail_files_are_private_named_for_their_subject_and_deleted_with_their_rows(backend) {
        let app = TestApp::spawn(backend).await;
        let dir = app.dir.path().join("mail");
        // A folder left by an older version, readable by all.
        std::fs::create_dir_all(&dir).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("README.txt"), "not a mail of ours").unwrap();
        let subject_id = person_writes_in(&app).await;
        assert_eq!(mode(&dir), 0o700);
        let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
        assert!(files.len() >= 2, "{files:?}");
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        let theirs = format!(".subject-{subject_id}.eml");
        assert!(files.iter().filter(|f| f.to_string_lossy().ends_with(&theirs)).count() >= 2, "{files:?}");

        // Retention: past 30 days the rows go, and their files with them.
        assert_eq!(retention::purge_files(&app.state.db, app.dir.path()).await.unwrap(), 0, "rows still there");
        retention::purge(&app.state.db, &app.state.registry.inventory, now_ms() + 31 * 86_400_000).await.unwrap();
        assert!(retention::purge_files(&app.state.db, app.dir.path()).await.unwrap() >= 2);
        let left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, vec!["README.txt".to_string()], "a foreign file is never touched");
    }

    async fn a_backup_holds_no_plaintext_and_restored_after_an_erasure_shows_nothing_of_the_person(backend) {
        let keys = tempfile::tempdir().unwrap();
        let (identity, recipient) = age_keys(keys.path(), "identity.txt");
        let app = TestApp::spawn_with(backend.clone(), |c| c.backup_recipient = Some(recipient.clone())).await;
        let state = app.state.clone();
        let subject_id = person_writes_in(&app).await;
        let upload = app.dir.path().join("uploads/attachments/9/contract.txt");
        std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
        std::fs::write(&upload, UPLOAD).unwrap();

        let dest = app.dir.path().join("backups/before-erasure");
        let report = backup::backup(&state, &dest).await.unwrap();
        assert_eq!(report.encryption, backup::Encryption::Recipient);
        let mut names = all_files(&dest, Path::new(""));
        names.sort();
        assert_eq!(names, vec![backup::MANIFEST.to_string(), backup::ARCHIVE.to_string()]);
        let key_file = std::fs::read(app.dir.path().join("officecomms.key")).unwrap();
        for needle in [PERSON.as_bytes(), SECRET.as_bytes(), UPLOAD.as_bytes(), &key_file, b"SQLite format 3", b"contract.txt"] {
            assert!(files_holding(&dest, needle).is_empty(), "{:?} readable in the backup", String::from_utf8_lossy(needle));
        }
        assert!(std::fs::read(dest.join(backup::ARCHIVE)).unwrap().starts_with(b"age-encryption.org/v1"));
        assert_eq!(mode(&dest.join(backup::ARCHIVE)), 0o600);
        assert!(all_files(app.dir.path(), Path::new("")).iter().all(|f| !f.starts_with(".backup-")), "no plain copy left behind");

        // Erased after the backup was made.
        person_erases_everything(&app).await;

        // Hostile restores first: nothing is written when the key is wrong or missing.
        let target = tempfile::tempdir().unwrap();
        let (mut config, scratch) = restore_config(&backend, &target.path().join("restored")).await;
        let live_log = app.dir.path().join(erasure::LOG_FILE);
        let missing = backup::restore(config.clone(), &dest, Some(&live_log)).await.unwrap_err();
        assert!(format!("{missing:#}").contains("--identity"), "{missing:#}");
        let (wrong, _) = age_keys(keys.path(), "someone-else.txt");
        config.backup_identity = Some(wrong);
        let refused = backup::restore(config.clone(), &dest, Some(&live_log)).await.unwrap_err();
        assert!(format!("{refused:#}").contains("does not open this backup"), "{refused:#}");
        assert!(!config.data_dir.exists(), "nothing written when refusing");

        config.backup_identity = Some(identity);
        let restored = backup::restore(config.clone(), &dest, Some(&live_log)).await.unwrap();
        assert_eq!((restored.log_entries, restored.replayed), (1, 1), "{restored:?}");
        assert!(restored.files >= 2, "{restored:?}");
        config.demo = false;
        config.workers = false;
        let restored = AppState::open(config.clone()).await.unwrap();
        assert!(subjects::find(&restored.db, &restored.keyring, PERSON).await.unwrap().is_none());
        assert!(subjects::key(&restored.db, &restored.keyring, subject_id).await.unwrap().is_none(), "shredded again");
        let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE subject_id = $1")
            .bind(subject_id).fetch_one(&restored.db.pool).await.unwrap();
        assert_eq!(outbox, 0);
        let data = &config.data_dir;
        assert_eq!(std::fs::read(data.join("officecomms.key")).unwrap(), key_file, "the key comes back inside the archive");
        assert_eq!(mode(&data.join("officecomms.key")), 0o600);
        assert_eq!(std::fs::read_to_string(data.join("uploads/attachments/9/contract.txt")).unwrap(), UPLOAD);
        for needle in [PERSON, SECRET] {
            assert!(files_holding(data, needle.as_bytes()).is_empty(), "{needle} in {:?}", files_holding(data, needle.as_bytes()));
        }
        restored.db.pool.close().await;
        drop(scratch);
    }

    async fn a_passphrase_backup_opens_only_with_its_passphrase_and_a_damaged_one_is_refused(backend) {
        let app = TestApp::spawn_with(backend.clone(), |c| c.backup_passphrase = Some("correct horse battery staple".into())).await;
        let dest = app.dir.path().join("backups/pass");
        let report = backup::backup(&app.state, &dest).await.unwrap();
        assert_eq!(report.encryption, backup::Encryption::Passphrase);
        let target = tempfile::tempdir().unwrap();
        let (mut config, _scratch) = restore_config(&backend, &target.path().join("r")).await;
        let missing = backup::restore(config.clone(), &dest, None).await.unwrap_err();
        assert!(format!("{missing:#}").contains("OFFICECOMMS_BACKUP_PASSPHRASE"), "{missing:#}");
        config.backup_passphrase = Some("wrong horse".into());
        let wrong = backup::restore(config.clone(), &dest, None).await.unwrap_err();
        assert!(format!("{wrong:#}").contains("does not open this backup"), "{wrong:#}");
        assert!(!config.data_dir.exists());

        // One byte changed in the middle of the archive.
        let damaged = target.path().join("damaged");
        std::fs::create_dir_all(&damaged).unwrap();
        for f in [backup::MANIFEST, backup::ARCHIVE] {
            std::fs::copy(dest.join(f), damaged.join(f)).unwrap();
        }
        let mut bytes = std::fs::read(damaged.join(backup::ARCHIVE)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(damaged.join(backup::ARCHIVE), bytes).unwrap();
        config.backup_passphrase = Some("correct horse battery staple".into());
        let err = backup::restore(config.clone(), &damaged, None).await.unwrap_err();
        assert!(format!("{err:#}").contains("damaged or was altered"), "{err:#}");
    }
}

fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd).args(args).arg("--data-dir").arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn a_backup_without_a_recipient_or_passphrase_is_refused_with_how_to_make_one() {
    let root = tempfile::tempdir().unwrap();
    let (live, dest) = (root.path().join("live"), root.path().join("backups/one"));
    assert!(run(&["migrate"], &live, &[]).status.success());
    let out = run(&["backup", dest.to_str().unwrap()], &live, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    for hint in [
        "age-keygen",
        "OFFICECOMMS_BACKUP_RECIPIENT",
        "OFFICECOMMS_BACKUP_PASSPHRASE",
    ] {
        assert!(err.contains(hint), "{hint} missing from {err}");
    }
    assert!(!dest.exists(), "nothing written");
    let out = run(
        &["backup", dest.to_str().unwrap()],
        &live,
        &[("OFFICECOMMS_BACKUP_RECIPIENT", "age1notakey")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not an age X25519 recipient"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn keep_days_deletes_old_backups_it_made_and_keeps_recent_and_foreign_ones() {
    let root = tempfile::tempdir().unwrap();
    // A post-quantum key pair this time (age-keygen -pq).
    let pq = age::pq::Identity::generate();
    let identity = root.path().join("identity.txt");
    std::fs::write(&identity, format!("{}\n", pq.to_string().expose_secret())).unwrap();
    let recipient = pq.to_public().to_string();
    let live = root.path().join("live");
    let backups = root.path().join("backups");
    let env = [("OFFICECOMMS_BACKUP_RECIPIENT", recipient.as_str())];
    assert!(run(&["migrate"], &live, &[]).status.success());
    let make = |name: &str| {
        let dest = backups.join(name);
        let out = run(&["backup", dest.to_str().unwrap()], &live, &env);
        assert!(out.status.success(), "{}", text(&out.stderr));
        dest
    };
    // As if it had been made `days_ago` days ago.
    let age_by = |dest: &Path, days_ago: i64| {
        let path = dest.join(backup::MANIFEST);
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest["created_at"] = (now_ms() - days_ago * 86_400_000).into();
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    };
    let (old, old_with_notes, recent) = (make("old"), make("old-with-notes"), make("recent"));
    age_by(&old, 40);
    age_by(&old_with_notes, 40);
    age_by(&recent, 3);
    std::fs::write(old_with_notes.join("notes.txt"), "the operator's own file").unwrap();
    let foreign = backups.join("photos");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("cat.jpg"), "not ours").unwrap();
    std::fs::write(backups.join("loose-file.txt"), "not ours either").unwrap();

    let longer = run(
        &[
            "backup",
            backups.join("x").to_str().unwrap(),
            "--keep-days",
            "90",
        ],
        &live,
        &env,
    );
    assert!(!longer.status.success());
    assert!(
        text(&longer.stderr).contains("privacy policy"),
        "{}",
        text(&longer.stderr)
    );
    assert!(!backups.join("x").exists());

    let out = run(
        &[
            "backup",
            backups.join("new").to_str().unwrap(),
            "--keep-days",
            "7",
        ],
        &live,
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("deleted"),
        "{}",
        text(&out.stdout)
    );
    assert!(!old.exists(), "an old backup is deleted");
    assert!(!old_with_notes.join(backup::ARCHIVE).exists());
    assert_eq!(
        all_files(&old_with_notes, Path::new("")),
        vec!["notes.txt".to_string()],
        "only our files go"
    );
    assert!(recent.join(backup::MANIFEST).is_file() && recent.join(backup::ARCHIVE).is_file());
    assert!(foreign.join("cat.jpg").is_file() && backups.join("loose-file.txt").is_file());
    assert!(backups.join("new").join(backup::ARCHIVE).is_file());

    // The default window is the policy's (30 days): a recent one survives it.
    age_by(&recent, 29);
    let out = run(
        &["backup", backups.join("newer").to_str().unwrap()],
        &live,
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(recent.exists());

    // And the backup restores with the identity file.
    let fresh = root.path().join("fresh");
    let out = run(
        &[
            "restore",
            backups.join("new").to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ],
        &fresh,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fresh.join("officecomms.db").is_file() && fresh.join("officecomms.key").is_file());
}
