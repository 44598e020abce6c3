//! Backups and restores.
//!
//! A backup is a folder: a consistent copy of the database taken while the
//! site serves (SQLite `VACUUM INTO`, or `pg_dump` for PostgreSQL), the key
//! file, the erasure log and the uploads, and last a manifest that marks it
//! complete. A restore fills an empty data dir (and, on PostgreSQL, an
//! empty database) from it, applies newer migrations, then replays the
//! erasure log, the backup's own and the live one's, so nobody erased after
//! the backup was taken comes back.

use super::UPLOADS_DIR;
use crate::{
    AppState,
    config::Config,
    platform::{
        db::{Backend, Db},
        now_ms,
    },
    privacy::erasure::{self, LogEntry},
};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
};

/// The file that marks a backup complete and says what it holds.
pub const MANIFEST: &str = "officecomms-backup.json";
const SQLITE_FILE: &str = "officecomms.db";
const PG_DUMP_FILE: &str = "officecomms.pgdump";
const KEY_FILE: &str = "officecomms.key";
const FORMAT: u32 = 1;
/// Folders of the data dir a backup carries.
pub const DIRS: &[&str] = &[UPLOADS_DIR];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Sqlite,
    Postgres,
}

impl Database {
    fn of(backend: Backend) -> Database {
        match backend {
            Backend::Sqlite => Database::Sqlite,
            Backend::Postgres => Database::Postgres,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: i64,
    pub version: String,
    pub database: Database,
    /// Files besides the database, relative to the backup folder.
    pub files: Vec<String>,
}

#[derive(Debug)]
pub struct BackupReport {
    pub database: &'static str,
    pub files: usize,
}

#[derive(Debug)]
pub struct RestoreReport {
    pub database: &'static str,
    pub files: usize,
    /// Erasures in the logs, and how many of them had to be done again.
    pub log_entries: usize,
    pub replayed: usize,
}

/// Writes a backup of a running site into `dest`, a new or empty folder.
pub async fn backup(state: &AppState, dest: &Path) -> anyhow::Result<BackupReport> {
    let data_dir = &state.config.data_dir;
    if !data_dir.join(KEY_FILE).is_file() {
        bail!(
            "{} holds no officecomms key file: nothing to back up (is --data-dir right?)",
            data_dir.display()
        );
    }
    prepare_empty_dir(dest, "the backup destination")?;
    let database = Database::of(state.db.backend);
    match database {
        Database::Sqlite => {
            let target = dest.join(SQLITE_FILE);
            let target = target.to_str().context("backup path is not valid UTF-8")?;
            // A consistent snapshot while writers carry on (WAL).
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&state.db.pool)
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
        }
        Database::Postgres => {
            pg_dump(&state.config.database_url(), &dest.join(PG_DUMP_FILE)).await?;
        }
    }
    // After the snapshot: the log then holds at least every erasure in it.
    let files = copy_files(data_dir, dest)?;
    let manifest = Manifest {
        format: FORMAT,
        created_at: now_ms(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        database,
        files: files.clone(),
    };
    let tmp = dest.join(format!(".{MANIFEST}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dest.join(MANIFEST)).context("writing the backup manifest")?;
    Ok(BackupReport {
        database: database.name(),
        files: files.len(),
    })
}

/// Restores the backup in `src` into `config`'s data dir, which must be
/// empty (as must the PostgreSQL database, if one is configured), then
/// replays the erasures of `src`'s log and of `newer_log` (the live data
/// dir's `erasure.log`, holding erasures made after the backup).
pub async fn restore(
    mut config: Config,
    src: &Path,
    newer_log: Option<&Path>,
) -> anyhow::Result<RestoreReport> {
    let manifest = read_manifest(src)?;
    if let Some(log) = newer_log
        && !log.is_file()
    {
        bail!("the erasure log {} does not exist", log.display());
    }
    let data_dir = config.data_dir.clone();
    let url = config.database_url();
    let target = if url.starts_with("sqlite:") {
        Database::Sqlite
    } else {
        Database::Postgres
    };
    if target != manifest.database {
        bail!(
            "this backup holds a {} database but the configuration points to {}: restore it \
             onto the same kind of database",
            manifest.database.name(),
            target.name()
        );
    }
    prepare_empty_dir(&data_dir, "the data dir to restore into")?;
    match target {
        Database::Sqlite => {
            let path = sqlite_path(&url);
            if path.exists() {
                bail!(
                    "{} already exists: restore only into an empty data dir",
                    path.display()
                );
            }
            std::fs::copy(src.join(SQLITE_FILE), &path)
                .with_context(|| format!("copying the database to {}", path.display()))?;
        }
        Database::Postgres => {
            ensure_empty_postgres(&url).await?;
            pg_restore(&url, &src.join(PG_DUMP_FILE)).await?;
        }
    }
    let files = copy_files(src, &data_dir)?;

    // Every erasure either log knows, once each, oldest first; the restored
    // data dir keeps them all for the next restore.
    let mut entries = erasure::read_log(&src.join(erasure::LOG_FILE))?;
    if let Some(log) = newer_log {
        entries.extend(erasure::read_log(log)?);
    }
    let mut first: BTreeMap<i64, i64> = BTreeMap::new();
    for e in &entries {
        let at = first.entry(e.subject_id).or_insert(e.erased_at);
        *at = (*at).min(e.erased_at);
    }
    let mut entries: Vec<LogEntry> = first
        .into_iter()
        .map(|(subject_id, erased_at)| LogEntry {
            subject_id,
            erased_at,
        })
        .collect();
    entries.sort_by_key(|e| (e.erased_at, e.subject_id));
    let _ = std::fs::remove_file(data_dir.join(erasure::LOG_FILE));
    for e in &entries {
        erasure::append_log(&data_dir, e)?;
    }

    config.demo = false;
    config.workers = false;
    let state = AppState::open(config)
        .await
        .context("opening the restored data")?;
    let replayed = erasure::replay(&state, &entries)
        .await
        .context("replaying the erasure log")?;
    state.db.pool.close().await;
    Ok(RestoreReport {
        database: target.name(),
        files: files.len(),
        log_entries: entries.len(),
        replayed,
    })
}

pub fn read_manifest(src: &Path) -> anyhow::Result<Manifest> {
    let path = src.join(MANIFEST);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} is not a complete officecomms backup (no {MANIFEST})",
            src.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
    if manifest.format > FORMAT {
        bail!(
            "this backup was made by a newer officecomms ({})",
            manifest.version
        );
    }
    Ok(manifest)
}

/// Creates `dir` (owner-only) or checks that it is empty.
fn prepare_empty_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{what} {} is not a readable folder", dir.display()))?;
        if let Some(entry) = entries.next() {
            bail!(
                "{what} {} is not empty (it holds {:?}, among others): choose a new or empty folder",
                dir.display(),
                entry?.file_name()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Copies the key file, the erasure log and the [`DIRS`] from one data dir
/// (or backup) to another; returns the files copied, relative paths.
fn copy_files(from: &Path, to: &Path) -> anyhow::Result<Vec<String>> {
    let mut copied = Vec::new();
    let key = from.join(KEY_FILE);
    std::fs::copy(&key, to.join(KEY_FILE))
        .with_context(|| format!("copying the key file {}", key.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to.join(KEY_FILE), std::fs::Permissions::from_mode(0o600))?;
    }
    copied.push(KEY_FILE.to_string());
    if from.join(erasure::LOG_FILE).is_file() {
        std::fs::copy(from.join(erasure::LOG_FILE), to.join(erasure::LOG_FILE))
            .context("copying the erasure log")?;
        copied.push(erasure::LOG_FILE.to_string());
    }
    for dir in DIRS {
        copy_tree(&from.join(dir), &to.join(dir), Path::new(dir), &mut copied)?;
    }
    Ok(copied)
}

fn copy_tree(from: &Path, to: &Path, rel: &Path, copied: &mut Vec<String>) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", from.display())),
    };
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in entries {
        let entry = entry?;
        let (name, kind) = (entry.file_name(), entry.file_type()?);
        if kind.is_dir() {
            copy_tree(&from.join(&name), &to.join(&name), &rel.join(&name), copied)?;
        } else if kind.is_file() {
            std::fs::copy(from.join(&name), to.join(&name))
                .with_context(|| format!("copying {}", from.join(&name).display()))?;
            copied.push(rel.join(&name).to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The file of a `sqlite://PATH?options` URL.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// A PostgreSQL client command for `url`; the password goes through the
/// environment, never the command line (where `ps` would show it).
fn pg_command(program: &str, url: &str) -> anyhow::Result<tokio::process::Command> {
    let mut parsed = url::Url::parse(url).context("database url")?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = parsed.set_password(None);
    let mut command = tokio::process::Command::new(program);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command
        .arg(format!("--dbname={parsed}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Ok(command)
}

async fn run_pg(program: &str, mut command: tokio::process::Command) -> anyhow::Result<()> {
    let output = match command.output().await {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{program} not found: install the PostgreSQL client tools of the server's major \
             version (Debian: apt-get install postgresql-client)"
        ),
        Err(e) => return Err(e).with_context(|| format!("starting {program}")),
    };
    if !output.status.success() {
        bail!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

async fn pg_dump(url: &str, file: &Path) -> anyhow::Result<()> {
    let mut command = pg_command("pg_dump", url)?;
    command
        .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(file);
    run_pg("pg_dump", command).await
}

async fn pg_restore(url: &str, file: &Path) -> anyhow::Result<()> {
    let mut command = pg_command("pg_restore", url)?;
    command
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
        ])
        .arg(file);
    run_pg("pg_restore", command).await
}

async fn ensure_empty_postgres(url: &str) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&db.pool)
    .await?;
    db.pool.close().await;
    if tables > 0 {
        bail!(
            "the PostgreSQL database to restore into already has {tables} tables: restore only \
             into an empty database (createdb a new one and point OFFICECOMMS_DATABASE_URL to it)"
        );
    }
    Ok(())
}
