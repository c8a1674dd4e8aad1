//! `deployer`: serve, run the demo, plan a local checkout, or check the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deployer::app::{Application, BuildOptions};
use deployer::config::{Config, ServeArgs};
use deployer::db::Database;
use deployer::db::audit;
use deployer::domain::names::{RepoSlug, ServiceName};
use deployer::plan::{FsSource, PlanRequest, plan_repository, render_text};
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "deployer",
    version,
    about = "Deploy GitHub repositories to your own Render account"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (configured by environment variables).
    Serve(Box<ServeArgs>),
    /// Run the service wired to an in-process GitHub + Render emulator, with demo data.
    #[cfg(feature = "demo")]
    Demo(deployer::demo::DemoArgs),
    /// Print the deploy plan for a local checkout.
    Plan {
        /// The repository's root directory.
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://deployer.db",
            hide_env_values = true
        )]
        database_url: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole hash chain; exit 1 and name the first broken link.
    /// Prints the head as SEQ:HASH: keep it outside the database and pass it
    /// back as --anchor to prove the chain was not rebuilt since.
    Verify {
        /// A head printed by an earlier verify, `SEQ:HASH`.
        #[arg(long)]
        anchor: Option<audit::Anchor>,
    },
    /// Print events as JSON lines, oldest first.
    Export {
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events of this GitHub user id.
        #[arg(long)]
        user: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => report(deployer::demo::run(args).await),
        Command::Plan { dir, json } => report(plan(dir, json).await),
        Command::Audit {
            command,
            database_url,
        } => audit_command(command, &database_url).await,
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    deployer::telemetry::init_logging(config.log_format);
    let app = match Application::build(config, BuildOptions::default()).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %app.local_addr(), url = %app.public_url(), "serving");
    report(app.run_until_stopped(shutdown_signal()).await)
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn plan(dir: PathBuf, json: bool) -> anyhow::Result<()> {
    let dir = dir.canonicalize()?;
    let dir_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("app")
        .to_owned();
    let project_name = ServiceName::from_repo_name(&dir_name)
        .ok_or_else(|| anyhow::anyhow!("cannot derive a service name from {dir_name}"))?;
    let repo = RepoSlug::parse(&format!("local/{}", project_name))?;
    let request = PlanRequest {
        repo,
        branch: None,
        project_name,
        user_env_keys: Vec::new(),
    };
    let plan = plan_repository(&FsSource::new(dir), &request).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render_text(&plan));
    }
    Ok(())
}

async fn audit_command(command: AuditCommand, database_url: &str) -> ExitCode {
    let db = match Database::connect_existing(database_url).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("error: cannot open the database: {error}");
            return ExitCode::from(2);
        }
    };
    match command {
        AuditCommand::Verify { anchor } => match audit::verify(&db, anchor.as_ref()).await {
            Ok(report) => match report.first_broken {
                None => {
                    println!(
                        "audit chain intact: {} events checked; head {}",
                        report.checked, report.head
                    );
                    ExitCode::SUCCESS
                }
                Some(link) => {
                    println!(
                        "audit chain BROKEN at {link} ({} events checked)",
                        report.checked
                    );
                    ExitCode::FAILURE
                }
            },
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
        AuditCommand::Export { since, user } => {
            let since = match since
                .map(|s| OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339))
                .transpose()
            {
                Ok(since) => since,
                Err(error) => {
                    eprintln!("error: --since must be an RFC 3339 time: {error}");
                    return ExitCode::from(2);
                }
            };
            let mut out = std::io::stdout().lock();
            match audit::export(&db, since, user, &mut out).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
