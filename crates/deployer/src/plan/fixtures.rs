//! One table of small, realistic repositories per stack and the plan each must
//! produce. The planner's unit tests run them through [`super::FsSource`]; the
//! integration tests push the same files into the GitHub emulator and check that
//! the GitHub path and `deployer plan <dir>` produce the same plan.

use std::path::Path;

use super::PlanRequest;
use super::model::{Plan, PlannedService, Runtime, ServiceKind};
use crate::domain::names::{RepoSlug, ServiceName};

/// The project name every fixture is planned with.
pub const PROJECT: &str = "demo";
/// The repository every fixture is planned as.
pub const REPO: &str = "octo/demo";

pub struct Fixture {
    pub name: &'static str,
    pub files: Vec<(&'static str, &'static str)>,
    /// Words that one of the plan's reasons must carry: the evidence the
    /// choice was made from, as the user will read it.
    pub because: &'static str,
    /// In plan order.
    pub expect: Vec<ExpectedService>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedService {
    pub name: &'static str,
    pub kind: ServiceKind,
    pub runtime: Option<Runtime>,
    pub root_dir: Option<&'static str>,
    pub build: Option<&'static str>,
    pub start: Option<&'static str>,
    pub publish: Option<&'static str>,
    /// A static site whose client-side routes need the `/* → /index.html` rewrite.
    pub spa: bool,
}

fn web(runtime: Runtime, build: &'static str, start: &'static str) -> ExpectedService {
    ExpectedService {
        name: PROJECT,
        kind: ServiceKind::WebService,
        runtime: Some(runtime),
        root_dir: None,
        build: Some(build),
        start: Some(start),
        publish: None,
        spa: false,
    }
}

fn site(build: Option<&'static str>, publish: &'static str) -> ExpectedService {
    ExpectedService {
        name: PROJECT,
        kind: ServiceKind::StaticSite,
        runtime: None,
        root_dir: None,
        build,
        start: None,
        publish: Some(publish),
        spa: false,
    }
}

impl ExpectedService {
    fn spa(self) -> Self {
        Self { spa: true, ..self }
    }

    fn named(self, name: &'static str, root_dir: Option<&'static str>) -> Self {
        Self {
            name,
            root_dir,
            ..self
        }
    }
}

/// The request every fixture is planned with (no user env keys).
pub fn request() -> PlanRequest {
    PlanRequest {
        repo: RepoSlug::parse(REPO).unwrap_or_else(|_| unreachable!("constant slug")),
        branch: None,
        project_name: ServiceName::parse(PROJECT).unwrap_or_else(|_| unreachable!("constant name")),
        user_env_keys: Vec::new(),
    }
}

/// Writes `files` under `root`, creating directories as needed.
pub fn write_files(root: &Path, files: &[(&str, &str)]) -> std::io::Result<()> {
    for (path, content) in files {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(full, content)?;
    }
    Ok(())
}

impl ExpectedService {
    fn matches(&self, s: &PlannedService) -> bool {
        self.name == s.name.as_ref()
            && self.kind == s.kind
            && self.runtime == s.runtime
            && self.root_dir == s.root_dir.as_ref().map(AsRef::as_ref)
            && self.build == s.build_command.as_deref()
            && self.start == s.start_command.as_deref()
            && self.publish == s.publish_path.as_deref()
            && self.spa
                == s.routes
                    .iter()
                    .any(|r| r.source == "/*" && r.destination == "/index.html")
    }
}

impl Fixture {
    /// Compares a plan with the expectation; the error shows both in full.
    pub fn check(&self, plan: &Plan) -> Result<(), String> {
        let same = plan.services.len() == self.expect.len()
            && self
                .expect
                .iter()
                .zip(&plan.services)
                .all(|(e, s)| e.matches(s));
        if !same {
            return Err(format!(
                "fixture {}: expected {:#?}\nplanned {:#?}",
                self.name, self.expect, plan.services
            ));
        }
        let explained = plan
            .services
            .iter()
            .flat_map(|s| &s.reasons)
            .any(|r| r.text.contains(self.because));
        if !explained {
            return Err(format!(
                "fixture {}: no reason says {:?}: {:#?}",
                self.name,
                self.because,
                plan.services.iter().map(|s| &s.reasons).collect::<Vec<_>>()
            ));
        }
        if let Some(s) = plan.services.iter().find(|s| s.reasons.is_empty()) {
            return Err(format!(
                "fixture {}: service {} has no reasons",
                self.name, s.name
            ));
        }
        Ok(())
    }
}

const EXPRESS_SERVER: &str = "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send('ok'));\napp.listen(process.env.PORT || 3000);\n";

pub fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "node-npm",
            because: "scripts.start is `node server.js`",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"api","scripts":{"start":"node server.js"},"dependencies":{"express":"^4.19.0"}}"#,
                ),
                ("package-lock.json", "{}"),
                ("server.js", EXPRESS_SERVER),
            ],
            expect: vec![web(Runtime::Node, "npm ci", "npm start")],
        },
        Fixture {
            name: "node-yarn",
            because: "found yarn.lock",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"api","scripts":{"build":"tsc","start":"node dist/index.js"},"dependencies":{"fastify":"^4.0.0"}}"#,
                ),
                ("yarn.lock", "# yarn lockfile v1\n"),
                (
                    "src/index.ts",
                    "import Fastify from 'fastify';\nconst app = Fastify();\napp.listen({ port: Number(process.env.PORT), host: '0.0.0.0' });\n",
                ),
            ],
            expect: vec![web(
                Runtime::Node,
                "yarn install --frozen-lockfile && yarn build",
                "yarn start",
            )],
        },
        Fixture {
            name: "node-pnpm",
            because: "packageManager is pnpm@9.1.0",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"api","packageManager":"pnpm@9.1.0","main":"index.js","dependencies":{"koa":"^2.15.0"}}"#,
                ),
                ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
                (
                    "index.js",
                    "const Koa = require('koa');\nnew Koa().listen(process.env.PORT);\n",
                ),
            ],
            expect: vec![web(
                Runtime::Node,
                "pnpm install --frozen-lockfile",
                "node index.js",
            )],
        },
        Fixture {
            name: "node-bun",
            because: "found a bun lockfile",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"api","scripts":{"start":"bun run index.ts"},"dependencies":{"hono":"^4.0.0"}}"#,
                ),
                ("bun.lockb", "binary"),
                (
                    "index.ts",
                    "import { Hono } from 'hono';\nconst app = new Hono();\nexport default { port: process.env.PORT, fetch: app.fetch };\n",
                ),
            ],
            expect: vec![web(
                Runtime::Node,
                "bun install --frozen-lockfile",
                "bun run start",
            )],
        },
        Fixture {
            name: "next-ssr",
            because: "next (server-rendered)",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"web","scripts":{"dev":"next dev","build":"next build","start":"next start"},"dependencies":{"next":"14.2.3","react":"18.3.1"}}"#,
                ),
                ("package-lock.json", "{}"),
                (
                    "next.config.js",
                    "/** @type {import('next').NextConfig} */\nmodule.exports = { reactStrictMode: true };\n",
                ),
                (
                    "app/page.tsx",
                    "export default function Page() { return <h1>Hello</h1>; }\n",
                ),
            ],
            expect: vec![web(Runtime::Node, "npm ci && npm run build", "npm start")],
        },
        Fixture {
            name: "next-export",
            because: "output: 'export'",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"web","scripts":{"build":"next build"},"dependencies":{"next":"14.2.3"}}"#,
                ),
                ("package-lock.json", "{}"),
                (
                    "next.config.mjs",
                    "const nextConfig = { output: 'export', images: { unoptimized: true } };\nexport default nextConfig;\n",
                ),
            ],
            expect: vec![site(Some("npm ci && npm run build"), "out").spa()],
        },
        Fixture {
            name: "vite",
            because: "build.outDir is 'build-output'",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"spa","scripts":{"dev":"vite","build":"tsc && vite build","preview":"vite preview"},"dependencies":{"react":"^18.3.1"},"devDependencies":{"vite":"^5.2.0"}}"#,
                ),
                ("package-lock.json", "{}"),
                (
                    "vite.config.ts",
                    "import { defineConfig } from 'vite';\nexport default defineConfig({ build: { outDir: 'build-output' } });\n",
                ),
                (
                    "index.html",
                    "<!doctype html><div id=\"root\"></div><script type=\"module\" src=\"/src/main.tsx\"></script>\n",
                ),
            ],
            expect: vec![site(Some("npm ci && npm run build"), "build-output").spa()],
        },
        Fixture {
            name: "create-react-app",
            because: "react-scripts (Create React App)",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"cra","scripts":{"start":"react-scripts start","build":"react-scripts build"},"dependencies":{"react":"^18.2.0","react-scripts":"5.0.1"}}"#,
                ),
                ("yarn.lock", "# yarn lockfile v1\n"),
                (
                    "public/index.html",
                    "<!doctype html><div id=\"root\"></div>\n",
                ),
            ],
            expect: vec![
                site(
                    Some("yarn install --frozen-lockfile && yarn build"),
                    "build",
                )
                .spa(),
            ],
        },
        Fixture {
            name: "astro",
            because: "astro (static output)",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"blog","scripts":{"build":"astro build"},"dependencies":{"astro":"^4.8.0"}}"#,
                ),
                ("package-lock.json", "{}"),
                (
                    "astro.config.mjs",
                    "import { defineConfig } from 'astro/config';\nexport default defineConfig({ site: 'https://example.com' });\n",
                ),
            ],
            expect: vec![site(Some("npm ci && npm run build"), "dist").spa()],
        },
        Fixture {
            name: "angular",
            because: "into dist/shop/browser",
            files: vec![
                (
                    "package.json",
                    r#"{"name":"shop","scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^17.3.0"},"devDependencies":{"@angular/cli":"^17.3.0"}}"#,
                ),
                ("package-lock.json", "{}"),
                (
                    "angular.json",
                    r#"{"projects":{"shop":{"architect":{"build":{"builder":"@angular-devkit/build-angular:application","options":{"outputPath":"dist/shop"}}}}}}"#,
                ),
            ],
            expect: vec![site(Some("npm ci && npm run build"), "dist/shop/browser").spa()],
        },
        Fixture {
            name: "plain-static",
            because: "found index.html and no app manifest",
            files: vec![
                (
                    "index.html",
                    "<!doctype html><title>Hi</title><h1>Hello</h1>\n",
                ),
                ("style.css", "h1 { color: teal; }\n"),
            ],
            expect: vec![site(None, ".")],
        },
        Fixture {
            name: "django",
            because: "WSGI_APPLICATION in mysite/settings.py is mysite.wsgi",
            files: vec![
                (
                    "requirements.txt",
                    "Django==5.0.6\ngunicorn==22.0.0\npsycopg[binary]==3.1.19\n",
                ),
                (
                    "manage.py",
                    "#!/usr/bin/env python\nimport os, sys\n\ndef main():\n    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n    from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n\nif __name__ == '__main__':\n    main()\n",
                ),
                ("mysite/__init__.py", ""),
                (
                    "mysite/settings.py",
                    "import os\nSECRET_KEY = os.environ.get('SECRET_KEY', 'dev')\nDEBUG = False\nROOT_URLCONF = 'mysite.urls'\nWSGI_APPLICATION = 'mysite.wsgi.application'\n",
                ),
                (
                    "mysite/wsgi.py",
                    "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
                ),
            ],
            expect: vec![web(
                Runtime::Python,
                "pip install -r requirements.txt && python manage.py collectstatic --no-input",
                "gunicorn mysite.wsgi:application --bind 0.0.0.0:$PORT",
            )],
        },
        Fixture {
            name: "fastapi",
            because: "app/api.py holds `api = FastAPI()`",
            files: vec![
                (
                    "requirements.txt",
                    "fastapi==0.111.0\nuvicorn[standard]==0.30.0\n",
                ),
                ("app/__init__.py", ""),
                (
                    "app/routes.py",
                    "from fastapi import APIRouter\nrouter = APIRouter()\n",
                ),
                (
                    "app/api.py",
                    "from fastapi import FastAPI\nfrom .routes import router\n\napi = FastAPI(title='demo')\napi.include_router(router)\n",
                ),
            ],
            expect: vec![web(
                Runtime::Python,
                "pip install -r requirements.txt",
                "uvicorn app.api:api --host 0.0.0.0 --port $PORT",
            )],
        },
        Fixture {
            name: "flask",
            because: "hello.py holds `server = Flask(...)`",
            files: vec![
                ("requirements.txt", "Flask==3.0.3\ngunicorn==22.0.0\n"),
                (
                    "hello.py",
                    "from flask import Flask\n\nserver = Flask(__name__)\n\n@server.route('/')\ndef index():\n    return 'hi'\n",
                ),
            ],
            expect: vec![web(
                Runtime::Python,
                "pip install -r requirements.txt",
                "gunicorn hello:server --bind 0.0.0.0:$PORT",
            )],
        },
        Fixture {
            name: "poetry",
            because: "found poetry.lock → poetry",
            files: vec![
                (
                    "pyproject.toml",
                    "[tool.poetry]\nname = \"svc\"\nversion = \"0.1.0\"\n\n[tool.poetry.dependencies]\npython = \"^3.12\"\nflask = \"^3.0\"\ngunicorn = \"^22.0\"\n",
                ),
                ("poetry.lock", "# lock\n"),
                ("app.py", "from flask import Flask\napp = Flask(__name__)\n"),
            ],
            expect: vec![web(
                Runtime::Python,
                "pip install poetry && poetry install --only main --no-root",
                "poetry run gunicorn app:app --bind 0.0.0.0:$PORT",
            )],
        },
        Fixture {
            name: "uv",
            because: "found uv.lock → uv",
            files: vec![
                (
                    "pyproject.toml",
                    "[project]\nname = \"svc\"\nversion = \"0.1.0\"\ndependencies = [\"fastapi>=0.111\", \"uvicorn>=0.30\"]\n",
                ),
                ("uv.lock", "version = 1\n"),
                (
                    "src/svc/main.py",
                    "from fastapi import FastAPI\napp = FastAPI()\n",
                ),
            ],
            expect: vec![web(
                Runtime::Python,
                "uv sync --frozen --no-dev",
                "uv run uvicorn svc.main:app --host 0.0.0.0 --port $PORT --app-dir src",
            )],
        },
        Fixture {
            name: "pipenv",
            because: "found Pipfile → pipenv",
            files: vec![
                (
                    "Pipfile",
                    "[packages]\nflask = \"*\"\ngunicorn = \"*\"\n\n[requires]\npython_version = \"3.12\"\n",
                ),
                ("Pipfile.lock", "{}"),
                (
                    "wsgi.py",
                    "from flask import Flask\napplication = Flask(__name__)\n",
                ),
            ],
            expect: vec![web(
                Runtime::Python,
                "pip install pipenv && pipenv install --deploy",
                "pipenv run gunicorn wsgi:application --bind 0.0.0.0:$PORT",
            )],
        },
        Fixture {
            name: "rails",
            because: "defines a Rails::Application",
            files: vec![
                (
                    "Gemfile",
                    "source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\ngem 'puma'\n",
                ),
                ("Gemfile.lock", "GEM\n"),
                (
                    "config/application.rb",
                    "require_relative 'boot'\nrequire 'rails/all'\nmodule Blog\n  class Application < Rails::Application\n    config.load_defaults 7.1\n  end\nend\n",
                ),
                (
                    "config.ru",
                    "require_relative 'config/environment'\nrun Rails.application\n",
                ),
                ("app/assets/config/manifest.js", "//= link_tree ../images\n"),
            ],
            expect: vec![web(
                Runtime::Ruby,
                "bundle install && bundle exec rails assets:precompile",
                "bundle exec rails server -b 0.0.0.0 -p $PORT",
            )],
        },
        Fixture {
            name: "rack",
            because: "found config.ru",
            files: vec![
                (
                    "Gemfile",
                    "source 'https://rubygems.org'\ngem 'sinatra'\ngem 'rackup'\n",
                ),
                ("config.ru", "require './app'\nrun Sinatra::Application\n"),
                ("app.rb", "require 'sinatra'\nget('/') { 'hi' }\n"),
            ],
            expect: vec![web(
                Runtime::Ruby,
                "bundle install",
                "bundle exec rackup config.ru -o 0.0.0.0 -p $PORT",
            )],
        },
        Fixture {
            name: "go",
            because: "chose cmd/demo",
            files: vec![
                ("go.mod", "module github.com/octo/demo\n\ngo 1.22\n"),
                ("cmd/migrate/main.go", "package main\n\nfunc main() {}\n"),
                (
                    "cmd/demo/main.go",
                    "package main\n\nimport (\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc main() {\n\thttp.ListenAndServe(\":\"+os.Getenv(\"PORT\"), nil)\n}\n",
                ),
            ],
            expect: vec![web(
                Runtime::Go,
                "go build -tags netgo -ldflags '-s -w' -o app ./cmd/demo",
                "./app",
            )],
        },
        Fixture {
            name: "rust-bin",
            because: "the only [[bin]] of package demo-server",
            files: vec![
                (
                    "Cargo.toml",
                    "[package]\nname = \"demo-server\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"server\"\npath = \"src/server.rs\"\n",
                ),
                ("Cargo.lock", "version = 3\n"),
                (
                    "src/server.rs",
                    "fn main() {\n    let port = std::env::var(\"PORT\").unwrap_or_else(|_| \"10000\".into());\n    println!(\"{port}\");\n}\n",
                ),
            ],
            expect: vec![web(
                Runtime::Rust,
                "cargo build --release --locked -p demo-server --bin server",
                "./target/release/server",
            )],
        },
        Fixture {
            name: "rust-workspace",
            because: r#"default-run = "api-server" in package api"#,
            files: vec![
                (
                    "Cargo.toml",
                    "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
                ),
                (
                    "crates/core/Cargo.toml",
                    "[package]\nname = \"core\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                ("crates/core/src/lib.rs", "pub fn hi() {}\n"),
                (
                    "crates/api/Cargo.toml",
                    "[package]\nname = \"api\"\nversion = \"0.1.0\"\nedition = \"2021\"\ndefault-run = \"api-server\"\n\n[[bin]]\nname = \"api-server\"\npath = \"src/main.rs\"\n\n[[bin]]\nname = \"seed\"\npath = \"src/seed.rs\"\n",
                ),
                (
                    "crates/api/src/main.rs",
                    "fn main() { let _ = std::env::var(\"PORT\"); }\n",
                ),
            ],
            expect: vec![web(
                Runtime::Rust,
                "cargo build --release -p api --bin api-server",
                "./target/release/api-server",
            )],
        },
        Fixture {
            name: "phoenix",
            because: "depends on :phoenix",
            files: vec![
                (
                    "mix.exs",
                    "defmodule Hello.MixProject do\n  use Mix.Project\n  def project, do: [app: :hello, version: \"0.1.0\", deps: deps()]\n  defp deps do\n    [\n      {:phoenix, \"~> 1.7.12\"},\n      {:jason, \"~> 1.2\"}\n    ]\n  end\nend\n",
                ),
                ("mix.lock", "%{}\n"),
                ("assets/js/app.js", "import 'phoenix_html';\n"),
                (
                    "config/runtime.exs",
                    "import Config\nconfig :hello, HelloWeb.Endpoint, http: [port: String.to_integer(System.get_env(\"PORT\") || \"4000\")]\n",
                ),
            ],
            expect: vec![web(
                Runtime::Elixir,
                "mix deps.get --only prod && mix compile && mix assets.deploy",
                "mix phx.server",
            )],
        },
        Fixture {
            name: "dockerfile",
            because: "found Dockerfile → docker",
            files: vec![
                (
                    "Dockerfile",
                    "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"server.js\"]\n",
                ),
                (
                    "package.json",
                    r#"{"name":"api","scripts":{"start":"node server.js"}}"#,
                ),
                ("server.js", EXPRESS_SERVER),
            ],
            expect: vec![ExpectedService {
                build: None,
                start: None,
                ..web(Runtime::Docker, "", "")
            }],
        },
        Fixture {
            name: "php-docker",
            because: "PHP has no native Render runtime",
            files: vec![
                ("Dockerfile", "FROM php:8.3-apache\nCOPY . /var/www/html/\n"),
                ("composer.json", r#"{"require":{"php":"^8.2"}}"#),
                ("index.php", "<?php echo 'hi';\n"),
            ],
            expect: vec![ExpectedService {
                build: None,
                start: None,
                ..web(Runtime::Docker, "", "")
            }],
        },
        Fixture {
            name: "procfile-web-worker",
            because: "the web: line of Procfile",
            files: vec![
                ("requirements.txt", "flask\ngunicorn\ncelery\n"),
                ("app.py", "from flask import Flask\napp = Flask(__name__)\n"),
                (
                    "Procfile",
                    "web: gunicorn app:app --workers 2 --bind 0.0.0.0:$PORT\nworker: celery -A tasks worker\nrelease: python migrate.py\n",
                ),
            ],
            expect: vec![
                web(
                    Runtime::Python,
                    "pip install -r requirements.txt",
                    "gunicorn app:app --workers 2 --bind 0.0.0.0:$PORT",
                ),
                ExpectedService {
                    kind: ServiceKind::BackgroundWorker,
                    ..web(
                        Runtime::Python,
                        "pip install -r requirements.txt",
                        "celery -A tasks worker",
                    )
                }
                .named("demo-worker", None),
            ],
        },
        Fixture {
            name: "monorepo-subdir",
            because: "the app lives in server/",
            files: vec![
                ("README.md", "# demo\n"),
                ("docs/index.html", "<h1>docs</h1>\n"),
                (
                    "server/package.json",
                    r#"{"name":"server","scripts":{"start":"node index.js"}}"#,
                ),
                ("server/package-lock.json", "{}"),
                (
                    "server/index.js",
                    "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n",
                ),
            ],
            expect: vec![web(Runtime::Node, "npm ci", "npm start").named(PROJECT, Some("server"))],
        },
        Fixture {
            name: "python-api-and-vite-web",
            because: "api/main.py holds `app = FastAPI()`",
            files: vec![
                ("api/requirements.txt", "fastapi\nuvicorn\n"),
                (
                    "api/main.py",
                    "from fastapi import FastAPI\napp = FastAPI()\n",
                ),
                (
                    "web/package.json",
                    r#"{"name":"web","scripts":{"build":"vite build"},"devDependencies":{"vite":"^5.2.0"}}"#,
                ),
                ("web/package-lock.json", "{}"),
                ("web/index.html", "<div id=app></div>\n"),
            ],
            expect: vec![
                web(
                    Runtime::Python,
                    "pip install -r requirements.txt",
                    "uvicorn main:app --host 0.0.0.0 --port $PORT",
                )
                .named("demo-api", Some("api")),
                site(Some("npm ci && npm run build"), "dist")
                    .spa()
                    .named("demo-web", Some("web")),
            ],
        },
    ]
}
