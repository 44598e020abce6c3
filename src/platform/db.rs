//! One code path for SQLite and PostgreSQL through sqlx's `Any` driver:
//! `$n` placeholders, `BIGINT` integers, epoch-millisecond timestamps,
//! `INTEGER` flags. Each backend has its own migration folder with the same
//! tables.

use anyhow::Context;
use sqlx::{
    AnyPool, AssertSqlSafe, SqlSafeStr, Transaction,
    any::{Any, AnyPoolOptions},
    migrate::{Migration, MigrationType, Migrator},
};
use std::time::Duration;
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
}

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
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
            Backend::Sqlite => options
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA wal_autocheckpoint = 0; PRAGMA secure_delete = ON;",
                        )
                        .execute(conn)
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .context("opening the SQLite database")?,
            Backend::Postgres => options
                .max_connections(16)
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?,
        };
        Ok(Db { pool, backend })
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
        if self.backend == Backend::Sqlite {
            sqlx::raw_sql("PRAGMA wal_checkpoint(PASSIVE)")
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
