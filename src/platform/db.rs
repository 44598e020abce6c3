//! One code path for SQLite and PostgreSQL through sqlx's `Any` driver:
//! `$n` placeholders, `BIGINT` integers, epoch-millisecond timestamps,
//! `INTEGER` flags. Each backend has its own migration folder with the same
//! tables.

use anyhow::Context;
use sqlx::{
    AnyPool, AssertSqlSafe, Connection, SqlSafeStr, Transaction,
    any::{Any, AnyPoolOptions},
    migrate::{Migration, MigrationType, Migrator},
};
use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite on a file: the group commit that makes commits durable (see [`Db::synced`]).
    durable: Option<Arc<GroupSync>>,
}

pub type Tx = Transaction<'static, Any>;

macro_rules! migrations {
    ($($version:literal $name:literal),* $(,)?) => {
        /// Every migration, in order; a feature adds a file to both folders and a line here.
        fn migrations(backend: Backend) -> Vec<Migration> {
            let make = |version, name: &'static str, sql: &'static str| {
                Migration::new(version, name.into(), MigrationType::Simple, AssertSqlSafe(sql).into_sql_str(), false)
            };
            match backend {
                Backend::Sqlite => vec![$(make($version, $name, include_str!(concat!("../../migrations/sqlite/", $name, ".sql")))),*],
                Backend::Postgres => vec![$(make($version, $name, include_str!(concat!("../../migrations/postgres/", $name, ".sql")))),*],
            }
        }
    };
}

migrations! {
    1 "0001_foundation",
    2 "0002_privacy",
    3 "0003_ops",
    4 "0004_content",
    5 "0005_support",
    6 "0006_privacy_rights",
    10 "0010_shop_surveys",
    11 "0011_newsletter",
    12 "0012_consent_analytics",
    13 "0013_chat",
    14 "0014_search_in_memory",
    20 "0020_ticket_links",
    21 "0021_chat_email_verified",
    22 "0022_staff_shell",
    25 "0025_accounts_csat",
    26 "0026_chat_unanswered",
    30 "0030_mail_in",
    40 "0040_two_factor",
    41 "0041_webhooks",
    50 "0050_api_tokens",
    60 "0060_search_index",
    61 "0061_ticket_priority_tags",
    62 "0062_teams_triggers_macros",
    80 "0080_sla_next_response",
    85 "0085_staff_notifications",
    90 "0090_chat_search_teams",
    110 "0110_mail_in_attempts",
}

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        Db::open(url, false).await
    }

    /// One connection and nothing shared, for a command that stores one
    /// item and exits (`mail-in`, run by an MTA once per message, many at
    /// a time). A second is opened only when a step reads beside its open
    /// transaction (a bounce reads the subscriber it suppresses). SQLite
    /// commits durably itself (`synchronous = FULL`, no
    /// group commit to wait for) and checkpoints its log as it goes, so an
    /// installation fed by its MTA alone keeps a bounded log.
    pub async fn connect_single(url: &str) -> anyhow::Result<Db> {
        Db::open(url, true).await
    }

    async fn open(url: &str, single: bool) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database url (use sqlite:// or postgres://)");
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // WAL lets readers run beside the one writer; the busy timeout
            // makes a second writer wait instead of failing. Checkpoints
            // are not left to whichever commit crosses the threshold (it
            // would wait for the fsync): `run_checkpointer` does them.
            // `secure_delete` zeroes deleted rows and freed pages, so an
            // erased person's rows and shredded key do not linger in the file.
            // Each connection keeps at most 1 MiB of pages (SQLite's default
            // is 2 MiB): nine connections filled 18 MiB during a campaign,
            // and a page missed is read back from the kernel's cache.
            Backend::Sqlite => options
                .max_connections(if single { 2 } else { 8 })
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(if single {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA secure_delete = ON; PRAGMA journal_size_limit = 67108864;"
                        } else {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA wal_autocheckpoint = 0; PRAGMA secure_delete = ON; \
                             PRAGMA cache_size = -1024; PRAGMA journal_size_limit = 67108864;"
                        })
                        .execute(conn)
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .context("opening the SQLite database")?,
            // Durable at commit, whatever the server's or the database's
            // default says (it may be set off for speed elsewhere).
            Backend::Postgres => options
                .max_connections(if single { 2 } else { 16 })
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql("SET synchronous_commit = on")
                            .execute(conn)
                            .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?,
        };
        let durable = match backend {
            Backend::Sqlite if !single => GroupSync::open(&pool, url).await?.map(Arc::new),
            _ => None,
        };
        Ok(Db {
            pool,
            backend,
            durable,
        })
    }

    /// Returns once every transaction committed before the call is on
    /// disk: what a handler acknowledges to a person must survive a power
    /// cut ("nothing lost"). The site middleware calls it before every
    /// answer of the router, and so does any writer that acknowledges
    /// otherwise (the chat writer, the command line).
    ///
    /// SQLite commits with `synchronous = NORMAL` (written to the log,
    /// not yet flushed), then the callers waiting at the same moment share
    /// one `fdatasync` of the log: group commit, the same guarantee as
    /// `FULL` for everything acknowledged, at a fraction of the flushes.
    /// Nothing committed since the last flush: no flush. PostgreSQL
    /// flushes at commit itself (`synchronous_commit = on`).
    pub async fn synced(&self) -> anyhow::Result<()> {
        match &self.durable {
            Some(group) => group.synced().await,
            None => Ok(()),
        }
    }

    /// How many flushes of the SQLite log [`Db::synced`] has made (0 on
    /// PostgreSQL): fewer than the answers that waited for them when
    /// they are shared.
    pub fn flushes(&self) -> u64 {
        self.durable.as_ref().map_or(0, |group| {
            group.started.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Whether the schema has every migration this build knows, read from
    /// sqlx's own table without taking the migration lock or reading the
    /// migrations: a command that only stores (`mail-in`) leaves applying
    /// them to `serve` or `migrate`. `Err` when the schema is behind or
    /// was never created, saying so.
    pub async fn ensure_schema_current(&self) -> anyhow::Result<()> {
        let known = migrations(self.backend).last().map_or(0, |m| m.version);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .context("reading the schema version (has `officecomms migrate` run?)")?;
        let applied = applied.unwrap_or(0);
        anyhow::ensure!(
            applied >= known,
            "the database schema is at migration {applied}, this program needs {known}: \
             run `officecomms migrate` (or start `serve`) first"
        );
        Ok(())
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::with_migrations(migrations(self.backend))
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Copies the SQLite write-ahead log back into the database file, on
    /// a connection no request is waiting for. `PASSIVE` never blocks
    /// readers or the writer; what it cannot copy yet waits for the next
    /// round. Does nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        // (busy, frames in the log, frames copied back)
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        // A passive checkpoint copies the log back but never makes writers
        // start it again from the beginning while readers use it: under
        // steady writes with overlapping reads the log only grows (7.9 GB
        // in 45 s seeding tickets, then "database or disk is full"). Past
        // the limit, wait for the readers once, so the next commit starts
        // the log over and `journal_size_limit` gives the space back.
        if frames > WAL_RESTART_FRAMES {
            sqlx::raw_sql("PRAGMA wal_checkpoint(RESTART)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Copies the whole SQLite log back and truncates it to nothing, so the
    /// page images it held (an erased person's rows before their deletion)
    /// are gone from disk too. Waits for readers (up to the busy timeout);
    /// returns whether it completed. Does nothing on PostgreSQL.
    pub async fn checkpoint_truncate(&self) -> Result<bool, sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(true);
        }
        let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(busy == 0)
    }

    /// Picks the statement for this backend where the two dialects differ.
    pub fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// Names of every column of every table of ours, `(table, column)`;
    /// SQLite's full-text shadow tables are the index's internals, not ours.
    pub async fn columns(&self) -> anyhow::Result<Vec<(String, String)>> {
        let sql = self.pick(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
             AND NOT EXISTS (SELECT 1 FROM sqlite_master v WHERE v.sql LIKE 'CREATE VIRTUAL TABLE%' \
             AND substr(m.name, 1, length(v.name) + 1) = v.name || '_') \
             ORDER BY 1, 2",
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' ORDER BY 1, 2",
        );
        Ok(sqlx::query_as::<_, (String, String)>(sql)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Checkpoints the SQLite log every half second until shutdown, and once
/// more on the way out (auto-checkpoint is off on every connection).
/// Log frames (4 KiB pages) past which the checkpointer makes the log
/// start over: 64 MiB.
const WAL_RESTART_FRAMES: i64 = 16_384;

pub async fn run_checkpointer(db: Db, mut shutdown: watch::Receiver<bool>) {
    if db.backend != Backend::Sqlite {
        return;
    }
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        if let Err(e) = db.checkpoint().await {
            tracing::warn!(error = ?e, "WAL checkpoint failed; retrying");
        }
    }
    if let Err(e) = db.checkpoint().await {
        tracing::warn!(error = ?e, "last WAL checkpoint failed");
    }
}

/// Group commit for SQLite in WAL mode. A commit writes its pages to the
/// log (`-wal`) and updates the log's index header in shared memory
/// (`-shm`); a flush of the log makes every commit written before it
/// durable. Callers queue on one lock: the first flushes for all who
/// arrived before its flush began, the rest find their commit covered.
struct GroupSync {
    files: Arc<SyncFiles>,
    /// Flushes started and completed; one at a time, under `turn`.
    turn: tokio::sync::Mutex<u64>,
    started: std::sync::atomic::AtomicU64,
    /// Keeps the database open, so SQLite never deletes and recreates the
    /// log and index files our handles point at (it does when the last
    /// connection closes).
    _sentinel: Mutex<sqlx::AnyConnection>,
}

struct SyncFiles {
    wal: File,
    shm: File,
    /// The index header as it was when the last completed flush began:
    /// a header still the same means nothing was committed since.
    flushed: Mutex<Option<[u8; HEADER]>>,
}

/// The first copy of SQLite's WAL-index header (`WalIndexHdr`, 48 bytes at
/// the start of the `-shm` file): change counter, last frame, checksums
/// and salts, rewritten at every commit.
const HEADER: usize = 48;

impl SyncFiles {
    fn header(&self) -> Option<[u8; HEADER]> {
        let mut header = [0; HEADER];
        self.shm.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }

    fn is_flushed(&self) -> bool {
        let flushed = *self.flushed.lock().unwrap_or_else(|e| e.into_inner());
        flushed.is_some() && flushed == self.header()
    }

    fn flush(&self) -> std::io::Result<()> {
        let header = self.header();
        self.wal.sync_data()?;
        *self.flushed.lock().unwrap_or_else(|e| e.into_inner()) = header;
        Ok(())
    }
}

impl GroupSync {
    /// `None` for an in-memory database.
    async fn open(pool: &AnyPool, url: &str) -> anyhow::Result<Option<GroupSync>> {
        let sentinel = sqlx::AnyConnection::connect(url)
            .await
            .context("opening the SQLite database")?;
        let (_, _, file): (i64, String, String) =
            sqlx::query_as("SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(pool)
                .await
                .context("locating the SQLite database file")?;
        if file.is_empty() {
            return Ok(None);
        }
        let path = PathBuf::from(file);
        let open = |suffix: &str| {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            File::open(&name).with_context(|| format!("opening {}", PathBuf::from(name).display()))
        };
        let files = SyncFiles {
            wal: open("-wal")?,
            shm: open("-shm")?,
            flushed: Mutex::new(None),
        };
        // The log's name in its folder must survive a power cut too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("flushing {}", dir.display()))?;
        }
        Ok(Some(GroupSync {
            files: Arc::new(files),
            turn: tokio::sync::Mutex::new(0),
            started: std::sync::atomic::AtomicU64::new(0),
            _sentinel: Mutex::new(sentinel),
        }))
    }

    async fn synced(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        if self.files.is_flushed() {
            return Ok(());
        }
        // The first flush to begin after this moment covers our commit.
        let needed = self.started.load(Ordering::SeqCst) + 1;
        let mut completed = self.turn.lock().await;
        if *completed >= needed {
            return Ok(());
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || files.flush())
            .await
            .context("flushing the SQLite log")?
            .context("flushing the SQLite log")?;
        *completed = number;
        Ok(())
    }
}

/// True when the error is a unique-constraint violation (for field errors).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Dynamic SQL whose identifiers come from static declarations only (the
/// data inventory), never from input.
pub fn trusted_sql(sql: String) -> AssertSqlSafe<String> {
    AssertSqlSafe(sql)
}

/// `$first, $first+1, …` for `n` values: an `IN (…)` list of binds.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($first, …), (…), …`: `rows` rows of `per_row` binds for a multi-row
/// `INSERT … VALUES`.
pub fn value_rows(first: usize, rows: usize, per_row: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(first + r * per_row, per_row)))
        .collect::<Vec<_>>()
        .join(", ")
}
