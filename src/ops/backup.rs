//! Backups and restores.
//!
//! A backup is a folder holding one encrypted archive and a manifest. The
//! archive (`officecomms-backup.tar.age`, a tar file encrypted with age to
//! the configured recipient or passphrase) carries a consistent copy of the
//! database taken while the site serves (SQLite `VACUUM INTO`, or `pg_dump`
//! for PostgreSQL), the key file, the erasure log and the uploads; the key
//! file is never stored in the clear, so a backup is useless without the
//! separately held identity or passphrase. The manifest, written last,
//! marks the backup complete and says it is ours (retention deletes only
//! such folders, and only the files it wrote). A restore fills an empty data
//! dir (and, on PostgreSQL, an empty database) from it, applies newer
//! migrations, then replays the erasure log, the backup's own and the live
//! one's, so nobody erased after the backup was taken comes back.

use super::UPLOADS_DIR;
use crate::{
    AppState,
    config::Config,
    platform::{
        db::{Backend, Db},
        now_ms, random_token,
    },
    privacy::erasure::{self, LogEntry},
};
use age::secrecy::SecretString;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    io::{BufReader, BufWriter, Write},
    path::{Component, Path, PathBuf},
    process::Stdio,
    str::FromStr,
};

/// The file that marks a backup complete and says what it holds.
pub const MANIFEST: &str = "officecomms-backup.json";
/// The encrypted archive of a backup (format 2 on).
pub const ARCHIVE: &str = "officecomms-backup.tar.age";
const SQLITE_FILE: &str = "officecomms.db";
const PG_DUMP_FILE: &str = "officecomms.pgdump";
const KEY_FILE: &str = "officecomms.key";
/// 1: plain files beside the manifest (the key file among them);
/// 2: one encrypted archive.
const FORMAT: u32 = 2;
/// Folders of the data dir a backup carries.
pub const DIRS: &[&str] = &[UPLOADS_DIR];

const NO_SECRET: &str = "backups are encrypted, and no key to encrypt them is configured. \
    Either create an age key pair with `age-keygen -o backup-identity.txt` (keep that file \
    off this machine: a restore needs it) and set OFFICECOMMS_BACKUP_RECIPIENT (TOML: \
    backup_recipient) to the public key it prints (age1…), or set \
    OFFICECOMMS_BACKUP_PASSPHRASE (TOML: backup_passphrase) to a long passphrase";

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

    fn file(self) -> &'static str {
        match self {
            Database::Sqlite => SQLITE_FILE,
            Database::Postgres => PG_DUMP_FILE,
        }
    }
}

/// What the archive of a backup is encrypted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// An age X25519 recipient; restoring needs its identity file.
    Recipient,
    /// A passphrase (age scrypt).
    Passphrase,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: i64,
    pub version: String,
    pub database: Database,
    /// Format 1: the files besides the database, relative to the backup
    /// folder. Format 2 keeps every name inside the archive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The recipient (public key) it was encrypted to, to tell which identity opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

#[derive(Debug)]
pub struct BackupReport {
    pub database: &'static str,
    pub files: usize,
    pub encryption: Encryption,
    /// Older backups deleted by the retention, their folders.
    pub deleted: Vec<PathBuf>,
}

#[derive(Debug)]
pub struct RestoreReport {
    pub database: &'static str,
    pub files: usize,
    /// Erasures in the logs, and how many of them had to be done again.
    pub log_entries: usize,
    pub replayed: usize,
}

/// How a backup is encrypted, from the configuration; refused with the
/// way to configure one when there is none.
fn encryptor(config: &Config) -> anyhow::Result<(age::Encryptor, Encryption, Option<String>)> {
    if let Some(recipient) = &config.backup_recipient {
        let recipient = recipient.trim();
        let invalid = |e: String| {
            anyhow::anyhow!(
                "OFFICECOMMS_BACKUP_RECIPIENT is not an age X25519 recipient (age1…, as printed \
                 by age-keygen) nor a post-quantum one (age1pq1…, age-keygen -pq): {e}"
            )
        };
        // Post-quantum recipients where the operator's age makes them;
        // classic X25519 ones (Debian's age-keygen) still work.
        let parsed: Box<dyn age::Recipient> = if recipient.starts_with("age1pq1") {
            Box::new(age::pq::Recipient::from_str(recipient).map_err(|e| invalid(e.to_string()))?)
        } else {
            #[allow(deprecated)]
            let classic =
                age::x25519::Recipient::from_str(recipient).map_err(|e| invalid(e.to_string()))?;
            Box::new(classic)
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(parsed.as_ref()))
            .context("preparing the backup encryption")?;
        return Ok((
            encryptor,
            Encryption::Recipient,
            Some(recipient.to_string()),
        ));
    }
    match &config.backup_passphrase {
        Some(p) if !p.trim().is_empty() => Ok((
            age::Encryptor::with_user_passphrase(SecretString::from(p.clone())),
            Encryption::Passphrase,
            None,
        )),
        _ => bail!(NO_SECRET),
    }
}

/// A folder of the data dir for a backup's or restore's plain files in
/// transit, deleted however the work ends.
struct Staging(PathBuf);

impl Staging {
    fn new(data_dir: &Path) -> anyhow::Result<Staging> {
        Staging::remove_abandoned(data_dir);
        let dir = data_dir.join(format!(".backup-{}", random_token(9)));
        prepare_empty_dir(&dir, "the staging folder")?;
        Ok(Staging(dir))
    }

    /// A run killed mid-way leaves its plain copy behind, holding people
    /// erased since: gone on the next run (a day on, so never a running one's).
    fn remove_abandoned(data_dir: &Path) {
        let Ok(entries) = std::fs::read_dir(data_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let abandoned = entry.file_name().to_string_lossy().starts_with(".backup-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 86_400));
            if abandoned {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an encrypted backup of a running site into `dest`, a new or
/// empty folder, then deletes the backups beside it older than
/// `backup_keep_days` (see [`prune`]).
pub async fn backup(state: &AppState, dest: &Path) -> anyhow::Result<BackupReport> {
    let config = &state.config;
    let data_dir = &config.data_dir;
    let (encryptor, encryption, recipient) = encryptor(config)?;
    if !data_dir.join(KEY_FILE).is_file() {
        bail!(
            "{} holds no officecomms key file: nothing to back up (is --data-dir right?)",
            data_dir.display()
        );
    }
    prepare_empty_dir(dest, "the backup destination")?;
    let database = Database::of(state.db.backend);
    let staging = Staging::new(data_dir)?;
    let snapshot = staging.0.join(database.file());
    match database {
        Database::Sqlite => {
            let target = snapshot
                .to_str()
                .context("data dir path is not valid UTF-8")?;
            // A consistent snapshot while writers carry on (WAL).
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&state.db.pool)
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
        }
        Database::Postgres => {
            pg_dump(&config.database_url(), &snapshot).await?;
        }
    }
    // After the snapshot: the log then holds at least every erasure in it.
    let (from, to) = (data_dir.clone(), dest.to_path_buf());
    let files = tokio::task::spawn_blocking(move || {
        write_archive(encryptor, &from, &snapshot, database, &to)
    })
    .await
    .context("writing the backup archive")??;
    drop(staging);
    let created_at = now_ms();
    let manifest = Manifest {
        format: FORMAT,
        created_at,
        version: env!("CARGO_PKG_VERSION").to_string(),
        database,
        files: vec![],
        encryption: Some(encryption),
        recipient,
    };
    let tmp = dest.join(format!(".{MANIFEST}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dest.join(MANIFEST)).context("writing the backup manifest")?;
    let deleted = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            prune(parent, config.backup_keep_days, created_at, dest)?
        }
        _ => prune(Path::new("."), config.backup_keep_days, created_at, dest)?,
    };
    Ok(BackupReport {
        database: database.name(),
        files,
        encryption,
        deleted,
    })
}

/// Writes the encrypted tar archive of the snapshot, key file, erasure log
/// and [`DIRS`] into `dest`; returns how many files it holds besides the
/// database.
fn write_archive(
    encryptor: age::Encryptor,
    data_dir: &Path,
    snapshot: &Path,
    database: Database,
    dest: &Path,
) -> anyhow::Result<usize> {
    let tmp = dest.join(format!(".{ARCHIVE}.tmp"));
    let file = create_private(&tmp)?;
    let sealed = encryptor
        .wrap_output(BufWriter::new(file))
        .context("starting the encrypted archive")?;
    let mut tar = tar::Builder::new(sealed);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.append_path_with_name(snapshot, database.file())
        .context("archiving the database copy")?;
    tar.append_path_with_name(data_dir.join(KEY_FILE), KEY_FILE)
        .context("archiving the key file")?;
    let mut files = 1;
    if data_dir.join(erasure::LOG_FILE).is_file() {
        tar.append_path_with_name(data_dir.join(erasure::LOG_FILE), erasure::LOG_FILE)
            .context("archiving the erasure log")?;
        files += 1;
    }
    for dir in DIRS {
        files += archive_tree(&mut tar, &data_dir.join(dir), Path::new(dir))?;
    }
    let sealed = tar.into_inner().context("finishing the archive")?;
    let file = sealed
        .finish()
        .context("finishing the encryption")?
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the backup archive")?;
    file.sync_all()?;
    std::fs::rename(&tmp, dest.join(ARCHIVE)).context("naming the backup archive")?;
    Ok(files)
}

fn archive_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    from: &Path,
    rel: &Path,
) -> anyhow::Result<usize> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("listing {}", from.display())),
    };
    let mut files = 0;
    for entry in entries {
        let entry = entry?;
        let (name, kind) = (entry.file_name(), entry.file_type()?);
        if kind.is_dir() {
            files += archive_tree(tar, &from.join(&name), &rel.join(&name))?;
        } else if kind.is_file() {
            tar.append_path_with_name(from.join(&name), rel.join(&name))
                .with_context(|| format!("archiving {}", from.join(&name).display()))?;
            files += 1;
        }
    }
    Ok(files)
}

/// Deletes the backups officecomms made in `parent` (folders with our
/// manifest) created more than `keep_days` before `now`, except `keep`.
/// Only the files a backup wrote go; a folder holding anything else is
/// left with that inside, and nothing without our manifest is touched.
/// Returns the folders deleted.
pub fn prune(parent: &Path, keep_days: u32, now: i64, keep: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cutoff = now - i64::from(keep_days) * 86_400_000;
    let keep = keep.canonicalize().ok();
    let mut deleted = Vec::new();
    let entries =
        std::fs::read_dir(parent).with_context(|| format!("listing {}", parent.display()))?;
    for entry in entries {
        let entry = entry?;
        let dir = entry.path();
        if !entry.file_type()?.is_dir() || dir.canonicalize().ok() == keep {
            continue;
        }
        let Ok(manifest) = read_manifest(&dir) else {
            continue;
        };
        if manifest.created_at >= cutoff {
            continue;
        }
        let mut ours = vec![
            PathBuf::from(manifest.database.file()),
            PathBuf::from(ARCHIVE),
        ];
        ours.extend(manifest.files.iter().filter_map(|f| safe_relative(f)));
        for file in &ours {
            match std::fs::remove_file(dir.join(file)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("deleting {}", dir.join(file).display()));
                }
            }
        }
        // The manifest last: a deletion cut short is found again next time.
        std::fs::remove_file(dir.join(MANIFEST))
            .with_context(|| format!("deleting {}", dir.join(MANIFEST).display()))?;
        // Folders the backup made, if nothing else is in them.
        for file in &ours {
            for folder in file.ancestors().skip(1) {
                if !folder.as_os_str().is_empty() {
                    let _ = std::fs::remove_dir(dir.join(folder));
                }
            }
        }
        if std::fs::remove_dir(&dir).is_ok() {
            deleted.push(dir);
        } else {
            tracing::warn!(folder = %dir.display(), "an expired backup's folder holds other files: kept them");
        }
    }
    Ok(deleted)
}

/// A relative path made only of plain names (no `..`, no root).
fn safe_relative(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    (!path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))))
        .then(|| path.to_path_buf())
}

/// Creates a file readable by the owner alone.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Restores the backup in `src` into `config`'s data dir, which must be
/// empty (as must the PostgreSQL database, if one is configured), then
/// replays the erasures of `src`'s log and of `newer_log` (the live data
/// dir's `erasure.log`, holding erasures made after the backup). An
/// encrypted backup opens with `config.backup_identity` (the age identity
/// file) or `config.backup_passphrase`, checked before anything is written.
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
    let archive = match manifest.format {
        1 => None,
        _ => Some(open_archive(&config, src, &manifest)?),
    };
    prepare_empty_dir(&data_dir, "the data dir to restore into")?;
    let sqlite_file = sqlite_path(&url);
    match target {
        Database::Sqlite if sqlite_file.exists() => bail!(
            "{} already exists: restore only into an empty data dir",
            sqlite_file.display()
        ),
        Database::Sqlite => {}
        Database::Postgres => ensure_empty_postgres(&url).await?,
    }
    let files = match archive {
        None => {
            match target {
                Database::Sqlite => {
                    std::fs::copy(src.join(SQLITE_FILE), &sqlite_file).with_context(|| {
                        format!("copying the database to {}", sqlite_file.display())
                    })?;
                }
                Database::Postgres => pg_restore(&url, &src.join(PG_DUMP_FILE)).await?,
            }
            copy_files(src, &data_dir)?.len()
        }
        Some(archive) => {
            let staging = Staging::new(&data_dir)?;
            let (dir, stage) = (data_dir.clone(), staging.0.clone());
            let db_file = match target {
                Database::Sqlite => sqlite_file.clone(),
                Database::Postgres => stage.join(PG_DUMP_FILE),
            };
            let files = tokio::task::spawn_blocking(move || {
                unpack_archive(archive, target, &db_file, &dir)
            })
            .await
            .context("reading the backup archive")??;
            if target == Database::Postgres {
                pg_restore(&url, &staging.0.join(PG_DUMP_FILE)).await?;
            }
            files
        }
    };

    // Every erasure either log knows, once each, oldest first; the restored
    // data dir keeps them all for the next restore.
    let mut entries = erasure::read_log(&data_dir.join(erasure::LOG_FILE))?;
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
        files,
        log_entries: entries.len(),
        replayed,
    })
}

type Archive = age::stream::StreamReader<BufReader<std::fs::File>>;

/// Opens a backup's archive with the configured identity or passphrase; a
/// wrong or missing one is refused here, before anything is written.
fn open_archive(config: &Config, src: &Path, manifest: &Manifest) -> anyhow::Result<Archive> {
    let path = src.join(ARCHIVE);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("{} is not a complete officecomms backup", src.display()))?;
    let decryptor = age::Decryptor::new(BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("{} is not an age-encrypted backup: {e}", path.display()))?;
    let (identities, what): (Vec<Box<dyn age::Identity>>, &str) = if decryptor.is_scrypt() {
        let Some(passphrase) = config.backup_passphrase.clone() else {
            bail!(
                "this backup is encrypted with a passphrase: set OFFICECOMMS_BACKUP_PASSPHRASE \
                 to the passphrase it was made with"
            );
        };
        let identity = age::scrypt::Identity::new(SecretString::from(passphrase));
        (
            vec![Box::new(identity)],
            "the passphrase (OFFICECOMMS_BACKUP_PASSPHRASE)",
        )
    } else {
        let recipient = manifest.recipient.as_deref().unwrap_or("its recipient");
        let Some(file) = &config.backup_identity else {
            bail!(
                "this backup is encrypted to the age recipient {recipient}: pass --identity FILE \
                 (or set OFFICECOMMS_BACKUP_IDENTITY), the identity file age-keygen wrote with it"
            );
        };
        let identities = age::IdentityFile::from_file(file.to_string_lossy().into_owned())
            .with_context(|| format!("reading the age identity file {}", file.display()))?
            .into_identities()
            .map_err(|e| anyhow::anyhow!("the identity file {}: {e}", file.display()))?;
        let identities = identities
            .into_iter()
            .map(|i| i as Box<dyn age::Identity>)
            .collect();
        (identities, "the identity file given")
    };
    decryptor
        .decrypt(identities.iter().map(|i| i.as_ref()))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys
            | age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed => anyhow::anyhow!(
                "{what} does not open this backup: wrong passphrase or identity ({e})"
            ),
            e => anyhow::anyhow!("cannot decrypt the backup {}: {e}", path.display()),
        })
}

/// Writes the archive's files into the data dir (the database to
/// `db_file`); returns how many besides the database. Only names a backup
/// writes are accepted: nothing lands outside the data dir.
fn unpack_archive(
    archive: Archive,
    database: Database,
    db_file: &Path,
    data_dir: &Path,
) -> anyhow::Result<usize> {
    let damaged = || "the backup archive is damaged or was altered (decryption failed)";
    let mut tar = tar::Archive::new(archive);
    let mut files = 0;
    let mut has_database = false;
    for entry in tar.entries().context(damaged())? {
        let mut entry = entry.context(damaged())?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().context(damaged())?.into_owned();
        let name_str = name.to_string_lossy().into_owned();
        let is_database = name_str == database.file();
        let target = if is_database {
            has_database = true;
            db_file.to_path_buf()
        } else if name_str == KEY_FILE || name_str == erasure::LOG_FILE {
            data_dir.join(&name)
        } else if let Some(rel) = safe_relative(&name_str)
            && DIRS.iter().any(|d| rel.starts_with(d))
        {
            data_dir.join(rel)
        } else {
            tracing::warn!(file = %name_str, "unknown file in the backup archive: skipped");
            continue;
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut out =
            create_private(&target).with_context(|| format!("writing {}", target.display()))?;
        std::io::copy(&mut entry, &mut out).context(damaged())?;
        out.sync_all()?;
        if !is_database {
            files += 1;
        }
    }
    // The rest of the stream, so a cut or altered end is noticed too.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).context(damaged())?;
    if !has_database {
        bail!("the backup archive holds no database");
    }
    if !data_dir.join(KEY_FILE).is_file() {
        bail!("the backup archive holds no key file");
    }
    Ok(files)
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

/// Copies the key file, the erasure log and the [`DIRS`] from a backup of
/// format 1 (plain files) to the data dir; returns the files copied.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_deletes_an_old_plain_backup_but_never_a_path_its_manifest_points_outside() {
        let root = tempfile::tempdir().unwrap();
        let (parent, old) = (root.path().join("backups"), root.path().join("backups/old"));
        std::fs::create_dir_all(old.join("uploads/attachments")).unwrap();
        for f in [
            "officecomms.db",
            "officecomms.key",
            "uploads/attachments/a.txt",
        ] {
            std::fs::write(old.join(f), "x").unwrap();
        }
        std::fs::write(root.path().join("victim.txt"), "not ours").unwrap();
        // A format-1 backup (the key file in the clear) whose manifest was
        // tampered with to name a file outside it.
        let manifest = serde_json::json!({
            "format": 1, "created_at": 0, "version": "0.1.0", "database": "sqlite",
            "files": ["officecomms.key", "uploads/attachments/a.txt", "../../victim.txt", "/etc/hostname"],
        });
        std::fs::write(old.join(MANIFEST), manifest.to_string()).unwrap();
        let deleted = prune(&parent, 30, now_ms(), &parent.join("new")).unwrap();
        assert_eq!(deleted, vec![old.clone()]);
        assert!(
            !old.exists(),
            "the old backup and its plain key file are gone"
        );
        assert!(root.path().join("victim.txt").is_file());
        assert!(safe_relative("uploads/a/../../x").is_none() && safe_relative("").is_none());
    }
}
