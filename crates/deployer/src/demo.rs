//! `deployer demo`: the service wired to an in-process GitHub + Render
//! emulator, seeded with a demo user, a few repositories and a Render
//! account. No real account is needed and nothing leaves this machine.

use std::collections::BTreeMap;

use clap::Parser;
use emulator::control::{Control, RepoSpec};
use emulator::{EmulatorConfig, OAuthApp};

use crate::app::{Application, BuildOptions};
use crate::config::{Config, ServeArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the service listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where the emulator listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub emulator_listen: String,
    /// Milliseconds each deploy status step takes in the emulator.
    #[arg(long, default_value_t = 1500)]
    pub phase_ms: u64,
}

pub const DEMO_USER: &str = "demo";

const RENDER_YAML: &str = r#"services:
  - type: web
    name: shop-api
    runtime: python
    rootDir: api
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn --bind 0.0.0.0:$PORT app:app
    envVars:
      - key: SECRET_TOKEN
        generateValue: true
  - type: web
    name: shop-web
    runtime: static
    rootDir: web
    buildCommand: npm ci && npm run build
    staticPublishPath: dist
    envVars:
      - key: API_HOST
        fromService:
          type: web
          name: shop-api
          property: host
"#;

fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

/// The demo repositories: a Node app, a Python app, a static site, a Rust
/// service and a `render.yaml` monorepo with two services.
pub fn seed_repos(owner: &str) -> Vec<RepoSpec> {
    let repo = |name: &str, list: &[(&str, &str)]| RepoSpec {
        owner: owner.to_owned(),
        name: name.to_owned(),
        private: false,
        default_branch: "main".to_owned(),
        files: files(list),
        collaborators: Vec::new(),
        other_branches: Vec::new(),
    };
    vec![
        repo(
            "node-hello",
            &[
                (
                    "package.json",
                    r#"{"name":"node-hello","version":"1.0.0","main":"server.js","scripts":{"start":"node server.js"}}"#,
                ),
                (
                    "package-lock.json",
                    r#"{"name":"node-hello","lockfileVersion":3}"#,
                ),
                (
                    "server.js",
                    "const http = require('http');\nhttp.createServer((_, res) => res.end('hello')).listen(process.env.PORT || 3000);\n",
                ),
            ],
        ),
        repo(
            "flask-notes",
            &[
                ("requirements.txt", "flask==3.0.3\ngunicorn==22.0.0\n"),
                (
                    "notes.py",
                    "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'notes'\n",
                ),
            ],
        ),
        repo(
            "static-site",
            &[
                (
                    "index.html",
                    "<!doctype html><title>Hi</title><h1>Hello</h1>\n",
                ),
                ("style.css", "h1 { color: rebeccapurple; }\n"),
            ],
        ),
        repo(
            "rust-api",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"rust-api\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                ("Cargo.lock", "version = 3\n"),
                (
                    "src/main.rs",
                    "fn main() {\n    let port = std::env::var(\"PORT\").unwrap_or_else(|_| \"10000\".into());\n    println!(\"listening on {port}\");\n}\n",
                ),
            ],
        ),
        repo(
            "shop-monorepo",
            &[
                ("render.yaml", RENDER_YAML),
                ("api/requirements.txt", "flask==3.0.3\ngunicorn==22.0.0\n"),
                (
                    "api/app.py",
                    "from flask import Flask\napp = Flask(__name__)\n",
                ),
                (
                    "web/package.json",
                    r#"{"name":"shop-web","scripts":{"build":"vite build"},"devDependencies":{"vite":"^5.0.0"}}"#,
                ),
                ("web/index.html", "<!doctype html><div id=app></div>\n"),
            ],
        ),
    ]
}

#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    serve: ServeArgs,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let redirect_uri = "http://127.0.0.1/api/auth/github/callback".to_owned();
    let emulator = emulator::spawn(EmulatorConfig {
        listen: args.emulator_listen.parse()?,
        oauth_app: None,
        phase_ms: args.phase_ms,
    })
    .await?;
    let base = emulator.base_url().to_owned();
    let control = Control::new(&base);
    // Loopback callbacks match on any port, as on GitHub.
    let app: OAuthApp = control.create_oauth_app(&redirect_uri).await?;
    let user = control.create_github_user(DEMO_USER).await?;
    for repo in seed_repos(&user.login) {
        control.create_repo(&repo).await?;
    }
    let account = control
        .create_render_account("Demo workspace", "demo@example.com")
        .await?;

    let database = std::env::temp_dir().join(format!("deployer-demo-{}.db", std::process::id()));
    let argv = [
        "deployer".to_owned(),
        format!("--listen-addr={}", args.listen),
        format!("--public-url=http://{}", args.listen),
        format!("--github-client-id={}", app.client_id),
        format!("--github-client-secret={}", app.client_secret),
        format!("--github-oauth-url={base}"),
        format!("--github-api-url={base}"),
        format!("--render-api-url={base}/v1"),
        format!("--database-url=sqlite://{}", database.display()),
        "--deploy-poll-interval=1s".to_owned(),
    ];
    let config = Config::from_args(ServeOnly::parse_from(argv).serve)?;
    crate::telemetry::init_logging(config.log_format);
    let service = Application::build(config, BuildOptions::default()).await?;
    let url = service.public_url();

    println!("Render Deployer demo is running.");
    println!();
    println!("  Open            {url}/");
    println!(
        "  Log in as       {} (on the emulated GitHub page)",
        user.login
    );
    // Shown on purpose: this key only works against the local emulator.
    println!("  Render API key  {}", account.api_key);
    println!(
        "  Repositories    {}",
        seed_repos(&user.login)
            .iter()
            .map(|r| format!("{}/{}", r.owner, r.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  Emulator        {base}");
    println!();
    println!("Everything runs on this machine; press Ctrl-C to stop.");

    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = service.run_until_stopped(stop).await;
    emulator.shutdown().await;
    let _ = std::fs::remove_file(&database);
    result
}
