//! The command line: `serve`, `migrate`, `user add`, `policy`.

use crate::{AppState, Application, config::Config, staff, telemetry};
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
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a staff account; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "agent", "editor"])]
        role: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(|k| std::env::var(k).ok())?;
    if let Some(dir) = cli.global.data_dir {
        config.data_dir = dir;
    }
    telemetry::init(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
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
                command: UserCommand::Add { email, role },
            } => {
                let role = staff::Role::parse(&role).context("unknown role")?;
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .context("reading password from stdin")?;
                let password = password.trim_end_matches(['\n', '\r']);
                config.workers = false;
                let state = AppState::open(config).await?;
                let id = staff::add_user_cli(&state, &email, role, password).await?;
                println!("created {} account {email} (id {id})", role.as_str());
                Ok(())
            }
            Command::Policy => {
                let state = AppState::open(config).await?;
                print!(
                    "{}",
                    crate::privacy::policy::generate(&state.site()).markdown
                );
                Ok(())
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
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
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
