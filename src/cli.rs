//! The command line: `serve`, `migrate`, `user add`, `policy`, `backup`,
//! `restore`, `scan`, `mail-in`.

use crate::{AppState, Application, config::Config, ops, staff, telemetry};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::{io::Read, net::SocketAddr, path::PathBuf};

#[derive(Parser)]
#[command(
    name = "officecomms",
    version,
    about = "The website and back office of a small software-support company"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct Global {
    /// Where the database, key file and mail live.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the site.
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
        /// Do not create the demo content on first start.
        #[arg(long)]
        no_demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the privacy policy, generated from the data inventory, as Markdown.
    Policy,
    /// Encrypt the database, key file, erasure log and uploads into DEST (a
    /// new or empty folder) while the site keeps serving, to the age
    /// recipient OFFICECOMMS_BACKUP_RECIPIENT or with the passphrase
    /// OFFICECOMMS_BACKUP_PASSPHRASE; then delete the backups beside DEST
    /// that are older than the retention.
    Backup {
        #[arg(value_name = "DEST")]
        dest: PathBuf,
        /// Delete officecomms backups beside DEST older than N days (at most
        /// backup_keep_days, the window the privacy policy states; default:
        /// that window).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        keep_days: Option<u32>,
    },
    /// Restore the backup SRC into the empty --data-dir, then erase again
    /// everyone erased after the backup was made.
    Restore {
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// The age identity file (from age-keygen) of the recipient the
        /// backup was encrypted to; a passphrase backup reads
        /// OFFICECOMMS_BACKUP_PASSPHRASE instead.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// The live data dir's erasure.log, holding erasures newer than the
        /// backup (default: only the log inside SRC).
        #[arg(long, value_name = "FILE")]
        erasure_log: Option<PathBuf>,
    },
    /// Check static files, stored content and uploads; exits with status 1
    /// when something is found.
    Scan,
    /// Take one RFC 5322 message from standard input (an MTA's pipe): a new
    /// ticket, an answer on one, a bounce or complaint, deliberately
    /// ignored, or quarantined for staff when it cannot be taken. Exits 0
    /// once the message is stored, 75 (EX_TEMPFAIL) when nothing could be
    /// (the database is unreachable, or its schema is behind this program:
    /// run `migrate`), so the MTA offers it again.
    MailIn,
}

/// sysexits.h: a temporary failure, the sender should try again.
pub const EX_TEMPFAIL: i32 = 75;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a staff account; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "agent", "editor"])]
        role: String,
        /// The name customers and colleagues see ("Dana Whitfield"); without
        /// it, one made from the address, changeable in /admin/account.
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(|k| std::env::var(k).ok())?;
    if let Some(dir) = cli.global.data_dir {
        config.data_dir = dir;
    }
    telemetry::init(config.log_format);
    // `mail-in` stores one message: one thread is enough, and quicker to start.
    let mut runtime = match cli.command {
        Command::MailIn => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { bind, no_demo } => {
                if let Some(bind) = bind {
                    config.set_bind(bind);
                }
                config.demo = !no_demo;
                serve(config).await
            }
            Command::Migrate => {
                config.demo = false;
                AppState::open(config).await?;
                println!("migrations applied");
                Ok(())
            }
            Command::User {
                command: UserCommand::Add { email, role, name },
            } => {
                let role = staff::Role::parse(&role).context("unknown role")?;
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .context("reading password from stdin")?;
                let password = password.trim_end_matches(['\n', '\r']);
                config.workers = false;
                let state = AppState::open(config).await?;
                let id =
                    staff::add_user_cli(&state, &email, name.as_deref(), role, password).await?;
                state.db.synced().await?;
                println!("created {} account {email} (id {id})", role.as_str());
                Ok(())
            }
            Command::Backup { dest, keep_days } => {
                if let Some(days) = keep_days {
                    anyhow::ensure!(
                        days <= config.backup_keep_days,
                        "--keep-days {days} is longer than the {} days the privacy policy states \
                         (backup_keep_days): raise OFFICECOMMS_BACKUP_KEEP_DAYS first, so the \
                         policy stays true",
                        config.backup_keep_days
                    );
                    config.backup_keep_days = days;
                }
                config.demo = false;
                config.workers = false;
                let state = AppState::open(config).await?;
                let report = ops::backup::backup(&state, &dest).await?;
                println!(
                    "backed up the {} database and {} files into {}, encrypted to {}",
                    report.database,
                    report.files,
                    dest.display(),
                    match report.encryption {
                        ops::backup::Encryption::Recipient => "the backup recipient",
                        ops::backup::Encryption::Passphrase => "the backup passphrase",
                    }
                );
                for old in &report.deleted {
                    println!(
                        "deleted {} (older than {} days)",
                        old.display(),
                        state.config.backup_keep_days
                    );
                }
                Ok(())
            }
            Command::Restore {
                src,
                erasure_log,
                identity,
            } => {
                if identity.is_some() {
                    config.backup_identity = identity;
                }
                let data_dir = config.data_dir.clone();
                let report = ops::backup::restore(config, &src, erasure_log.as_deref()).await?;
                println!(
                    "restored the {} database and {} files into {}; {} erasures in the logs, \
                     {} done again",
                    report.database,
                    report.files,
                    data_dir.display(),
                    report.log_entries,
                    report.replayed
                );
                Ok(())
            }
            Command::Scan => {
                config.demo = false;
                config.workers = false;
                let state = AppState::open(config).await?;
                let report = ops::integrity::scan(&state, "command line").await?;
                for f in &report.findings {
                    println!("{} {}: {}: {}", f.kind, f.item_id, f.rule.label(), f.detail);
                }
                for e in &report.errors {
                    eprintln!("could not read {e}");
                }
                println!(
                    "{} items read, {} findings",
                    report.items,
                    report.findings.len()
                );
                if report.findings.is_empty() && report.errors.is_empty() {
                    Ok(())
                } else {
                    anyhow::bail!("the integrity scan found problems")
                }
            }
            Command::MailIn => {
                let limit = crate::mail_in::parse::MAX_MESSAGE_BYTES as u64 + 1;
                let mut raw = Vec::new();
                let mut stdin = std::io::stdin().lock();
                (&mut stdin)
                    .take(limit)
                    .read_to_end(&mut raw)
                    .context("reading the message from standard input")?;
                // The rest of a message too large to take is read and not kept
                // (it is quarantined as it began), so the MTA sees it taken.
                std::io::copy(&mut stdin, &mut std::io::sink())
                    .context("reading the message from standard input")?;
                // An MTA runs this once per message, many at a time: it opens
                // one connection, checks the schema and stores, nothing more.
                let taken = async {
                    let state = AppState::open_single(config).await?;
                    let outcome = crate::mail_in::intake::take_or_quarantine(&state, &raw).await?;
                    state.db.synced().await?;
                    anyhow::Ok(outcome)
                }
                .await;
                match taken {
                    Ok(outcome) => {
                        println!("{outcome}");
                        Ok(())
                    }
                    Err(e) => {
                        eprintln!("officecomms mail-in: message not taken, try again later: {e:#}");
                        std::process::exit(EX_TEMPFAIL)
                    }
                }
            }
            Command::Policy => {
                let state = AppState::open(config).await?;
                let policy =
                    crate::privacy::policy::generate(&state.site(), &state.registry.inventory);
                let label = crate::privacy::policy::record(&state.db, &policy).await?;
                print!("{}", policy.document(&label));
                Ok(())
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    // Before the first line is printed: a supervisor may signal from then on.
    install_hangup_handler(app.certificates())?;
    let shutdown = shutdown_signal()?;
    let state = app.state().clone();
    let url = &state.config.base_url;
    tracing::info!(data_dir = %state.config.data_dir.display(), "officecomms is running at {url}");
    println!("officecomms is running at {url}  (staff sign-in: {url}admin/login)");
    if staff::db::count_users(&state.db).await? == 0 {
        println!(
            "No staff account yet. Create the first admin with:\n  \
             officecomms user add --email you@example.com --role admin --data-dir {}",
            state.config.data_dir.display()
        );
    }
    app.run_until(shutdown).await
}

/// SIGHUP (`systemctl reload`) rereads the TLS certificate and key; without
/// TLS it is logged and ignored rather than ending the process.
fn install_hangup_handler(
    certificates: Option<crate::platform::tls::Certificates>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match &certificates {
                    None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                    Some(c) => {
                        if let Err(e) = c.reload() {
                            tracing::error!(error = ?e, "TLS certificate not reloaded; keeping the one in use");
                        }
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = certificates;
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed at once, so
/// a signal that arrives before serving starts is not lost (or fatal).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
