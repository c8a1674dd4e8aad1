//! `emulator --listen 127.0.0.1:0`: prints its base URL as the first line of stdout, then serves.

use std::net::SocketAddr;

use clap::Parser;
use emulator::{EmulatorConfig, OAuthApp};

/// A local stand-in for GitHub (OAuth + REST) and Render (REST v1).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Register an OAuth App with this client id (needs the secret and redirect URI too).
    #[arg(long, requires_all = ["github_client_secret", "github_redirect_uri"])]
    github_client_id: Option<String>,
    #[arg(long, requires = "github_client_id")]
    github_client_secret: Option<String>,
    #[arg(long, requires = "github_client_id")]
    github_redirect_uri: Option<String>,
    /// Milliseconds per deploy status step.
    #[arg(long, default_value_t = 50)]
    phase_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let oauth_app = match (
        args.github_client_id,
        args.github_client_secret,
        args.github_redirect_uri,
    ) {
        (Some(client_id), Some(client_secret), Some(redirect_uri)) => Some(OAuthApp {
            client_id,
            client_secret,
            redirect_uri,
        }),
        _ => None,
    };
    let emulator = emulator::spawn(EmulatorConfig {
        listen: args.listen,
        oauth_app,
        phase_ms: args.phase_ms,
    })
    .await?;
    println!("{}", emulator.base_url());
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
