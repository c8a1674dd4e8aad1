//! Stack detection for repositories without a `render.yaml`.
//!
//! # Where apps are
//! The repository root is one app when a detector below recognises it. Otherwise
//! (a monorepo, or a JS workspace root with no `start` script) every directory up
//! to two levels deep that holds a marker file is tried, shallowest first, and
//! each recognised one becomes its own service with `root_dir` set. One app gets
//! the project name; several get `<project>-<dir>`.
//!
//! # Order of precedence inside one directory (first match wins)
//! 1. **Dockerfile** → `docker` runtime. The author wrote down exactly how to
//!    build and run the app; any guess of ours is weaker. This is also the only
//!    route for PHP, Deno, Java and .NET, which Render has no native runtime for.
//! 2. **Elixir** (`mix.exs`), 3. **Ruby** (`Gemfile`), 4. **Python**
//!    (`requirements.txt`, `pyproject.toml`, `Pipfile`, `manage.py`), 5. **Go**
//!    (`go.mod`), 6. **Rust** (`Cargo.toml`) — before Node because Phoenix, Rails
//!    and Django apps routinely carry a `package.json` for front-end assets,
//!    while a Node app almost never carries these manifests (Railpack makes the
//!    same call for Python; Nixpacks' Node-first order picks Node there, wrongly).
//! 7. **Node** (`package.json`): framework first (Next, Nuxt, Astro, Angular,
//!    CRA, Vite), then `start` script, `main`, or a conventional server file.
//!    SPAs become static sites (free, CDN-served) rather than web services.
//! 8. **Plain static** (`index.html`, or `public/index.html`) → static site.
//!
//! A detector that finds its manifest but no runnable app (a library crate, a
//! gem, a JS package without a start) declines, and the next one is tried.
//!
//! # Procfile
//! Applied after detection, for native runtimes: `web:` replaces the start
//! command (it is the author's explicit word, and beats every heuristic in
//! Heroku, Nixpacks and Railpack); every other entry but `release:` becomes a
//! background worker with the same build. Render does not read Procfiles itself.
//!
//! Start commands bind `$PORT`, which Render sets (default 10000).

mod elixir;
mod go;
mod node;
mod python;
mod ruby;
mod rust;

use super::model::{
    EnvVarSource, Plan, PlanSource, PlannedEnvVar, PlannedService, Route, Runtime, ServiceKind,
    Warning,
};
use super::repo::{Repo, join};
use super::source::SourceError;
use super::{PlanError, PlanRequest};
use crate::domain::names::{EnvVarKey, RootDir, ServiceName};

/// Files whose presence makes a directory worth trying as an app.
const MARKERS: &[&str] = &[
    "Dockerfile",
    "mix.exs",
    "Gemfile",
    "requirements.txt",
    "pyproject.toml",
    "Pipfile",
    "manage.py",
    "go.mod",
    "Cargo.toml",
    "package.json",
    "index.html",
    "composer.json",
    "deno.json",
    "pom.xml",
];

/// Directories that hold documentation, examples or tests rather than apps.
const NOT_APP_DIRS: &[&str] = &[
    "docs",
    "doc",
    "examples",
    "example",
    "test",
    "tests",
    "fixtures",
    "scripts",
    "vendor",
    "third_party",
];

/// What a stack detector found in one directory.
pub(super) struct Detected {
    pub(super) service: PlannedService,
    /// Files the warning scan should read first (the app's entry points), repo-relative.
    pub(super) entry_files: Vec<String>,
    /// Caveats, one line each.
    pub(super) notes: Vec<String>,
}

impl Detected {
    fn new(service: PlannedService) -> Self {
        Self {
            service,
            entry_files: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// A detected app: its service(s), plus what the warning scan needs.
pub(crate) struct App {
    pub(crate) dir: String,
    pub(crate) services: Vec<ServiceName>,
    pub(crate) entry_files: Vec<String>,
    pub(crate) runtime: Option<Runtime>,
}

pub(crate) async fn plan(
    repo: &mut Repo<'_>,
    request: &PlanRequest,
) -> Result<(Plan, Vec<App>), PlanError> {
    let mut found: Vec<(String, Detected)> = Vec::new();
    if let Some(root) = detect_dir(repo, "", &request.project_name).await? {
        found.push((String::new(), root));
    } else {
        for dir in candidate_dirs(repo) {
            // Named later, once we know whether there is more than one.
            if let Some(app) = detect_dir(repo, &dir, &request.project_name).await? {
                found.push((dir, app));
            }
        }
    }
    let mut warnings = Vec::new();
    if found.is_empty() {
        return Err(PlanError::NothingDetected {
            hint: unsupported_stack_hint(repo),
        });
    }

    let several = found.len() > 1;
    let mut services = Vec::new();
    let mut apps = Vec::new();
    for (dir, mut app) in found {
        if several {
            app.service.name = unique_name(&request.project_name, &dir, &services)?;
        }
        if !dir.is_empty() {
            let root = RootDir::parse(&dir).map_err(|_| PlanError::NothingDetected {
                hint: Some(format!("directory {dir} cannot be a Render root directory")),
            })?;
            app.service.root_dir = Some(root);
            app.service
                .because("root_dir", format!("the app lives in {dir}/"));
        }
        let mut group = vec![app.service];
        procfile(repo, &dir, &mut group, &mut app.notes).await?;
        for note in app.notes {
            warnings.push(Warning::Service {
                service: group[0].name.clone(),
                text: note,
            });
        }
        apps.push(App {
            dir,
            services: group.iter().map(|s| s.name.clone()).collect(),
            entry_files: app.entry_files,
            runtime: group[0].runtime,
        });
        services.extend(group);
    }
    let plan = Plan {
        services,
        source: PlanSource::Detected,
        warnings,
        blueprint_url: None,
        unsupported: Vec::new(),
        required_env: Vec::new(),
        tree_truncated: false,
    };
    Ok((plan, apps))
}

fn unique_name(
    project: &ServiceName,
    dir: &str,
    taken: &[PlannedService],
) -> Result<ServiceName, PlanError> {
    let last = dir.rsplit('/').next().unwrap_or(dir);
    let candidates = [last.to_owned(), dir.replace('/', "-")];
    candidates
        .iter()
        .filter_map(|suffix| project.with_suffix(suffix))
        .find(|name| taken.iter().all(|s| &s.name != name))
        .ok_or_else(|| PlanError::NothingDetected {
            hint: Some(format!(
                "cannot derive a distinct service name for {dir}/ from {project}"
            )),
        })
}

fn has_marker(repo: &Repo<'_>, dir: &str) -> bool {
    MARKERS.iter().any(|m| repo.exists(&join(dir, m)))
}

fn candidate_dirs(repo: &Repo<'_>) -> Vec<String> {
    let app_like = |dir: &&str| {
        let name = dir.rsplit('/').next().unwrap_or(dir);
        !name.starts_with('.') && !NOT_APP_DIRS.contains(&name)
    };
    let mut out = Vec::new();
    for dir in repo.subdirs("").into_iter().filter(app_like) {
        if has_marker(repo, dir) {
            out.push(dir.to_owned());
            continue;
        }
        for sub in repo.subdirs(dir).into_iter().filter(app_like) {
            if has_marker(repo, sub) {
                out.push(sub.to_owned());
            }
        }
    }
    out
}

/// Why nothing was found, when the repo holds a stack Render cannot run natively.
fn unsupported_stack_hint(repo: &Repo<'_>) -> Option<String> {
    let stacks = [
        ("composer.json", "PHP"),
        ("index.php", "PHP"),
        ("deno.json", "Deno"),
        ("deno.jsonc", "Deno"),
        ("pom.xml", "Java"),
        ("build.gradle", "Java"),
    ];
    stacks
        .iter()
        .find(|(file, _)| repo.files_under("").iter().any(|p| p.ends_with(file)))
        .map(|(file, stack)| {
            format!(
                "found {file}: Render has no native {stack} runtime, add a Dockerfile to deploy it"
            )
        })
}

/// Tries each stack in the documented order.
async fn detect_dir(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    if let Some(found) = docker(repo, dir, name) {
        return Ok(Some(found));
    }
    if let Some(found) = elixir::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    if let Some(found) = ruby::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    if let Some(found) = python::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    if let Some(found) = go::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    if let Some(found) = rust::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    if let Some(found) = node::detect(repo, dir, name).await? {
        return Ok(Some(found));
    }
    Ok(static_site(repo, dir, name))
}

fn docker(repo: &Repo<'_>, dir: &str, name: &ServiceName) -> Option<Detected> {
    let dockerfile = join(dir, "Dockerfile");
    if !repo.exists(&dockerfile) {
        return None;
    }
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Docker));
    let stack = [
        ("composer.json", " (PHP has no native Render runtime)"),
        ("index.php", " (PHP has no native Render runtime)"),
        ("deno.json", " (Deno has no native Render runtime)"),
        ("pom.xml", " (Java has no native Render runtime)"),
        ("build.gradle", " (Java has no native Render runtime)"),
    ]
    .iter()
    .find(|(file, _)| repo.exists(&join(dir, file)))
    .map_or("", |(_, why)| why);
    svc.because(
        "runtime",
        format!(
            "found {dockerfile} → docker: the author's own build recipe beats any guess{stack}"
        ),
    );
    svc.dockerfile_path = Some("./Dockerfile".into());
    svc.because(
        "start_command",
        "none: the image's CMD runs, and must listen on $PORT",
    );
    Some(Detected::new(svc))
}

fn static_site(repo: &Repo<'_>, dir: &str, name: &ServiceName) -> Option<Detected> {
    let publish = ["", "public"]
        .into_iter()
        .find(|sub| repo.exists(&join(&join(dir, sub), "index.html")))?;
    let mut svc = PlannedService::new(name.clone(), ServiceKind::StaticSite, None);
    let shown = join(dir, &join(publish, "index.html"));
    svc.because(
        "kind",
        format!("found {shown} and no app manifest → static site (free, served from a CDN)"),
    );
    svc.publish_path = Some(if publish.is_empty() {
        ".".into()
    } else {
        publish.into()
    });
    svc.because("publish_path", format!("the directory holding {shown}"));
    Some(Detected::new(svc))
}

/// One `name: command` line of a Procfile.
fn procfile_entries(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, cmd)| (name.trim(), cmd.trim()))
        .filter(|(name, cmd)| {
            !cmd.is_empty()
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .collect()
}

async fn procfile(
    repo: &mut Repo<'_>,
    dir: &str,
    group: &mut Vec<PlannedService>,
    notes: &mut Vec<String>,
) -> Result<(), SourceError> {
    let path = join(dir, "Procfile");
    let Some(text) = repo.read(&path).await? else {
        return Ok(());
    };
    let main = group[0].clone();
    if main.runtime == Some(Runtime::Docker) || main.kind == ServiceKind::StaticSite {
        notes.push(format!(
            "{path} is ignored: a {} does not run Procfile commands",
            if main.kind == ServiceKind::StaticSite {
                "static site"
            } else {
                "Docker service"
            }
        ));
        return Ok(());
    }
    for (proc_name, cmd) in procfile_entries(&text) {
        match proc_name {
            "web" => {
                group[0].start_command = Some(cmd.to_owned());
                group[0].decided("start_command", format!("the web: line of {path}"));
            }
            "release" => notes.push(format!(
                "{path} release: is not run; Render's pre-deploy command (paid plans) can run it"
            )),
            _ => {
                let Some(name) = main.name.with_suffix(proc_name) else {
                    continue;
                };
                let mut worker =
                    PlannedService::new(name, ServiceKind::BackgroundWorker, main.runtime);
                worker.root_dir = main.root_dir.clone();
                worker.build_command = main.build_command.clone();
                worker.reasons = main
                    .reasons
                    .iter()
                    .filter(|r| r.field == "runtime" || r.field == "build_command")
                    .cloned()
                    .collect();
                worker.env_vars = main.env_vars.clone();
                worker.because(
                    "kind",
                    format!("the {proc_name}: line of {path} → background worker"),
                );
                worker.start_command = Some(cmd.to_owned());
                worker.because("start_command", format!("the {proc_name}: line of {path}"));
                group.push(worker);
            }
        }
    }
    Ok(())
}

/// A framework default committed into the plan (e.g. `MIX_ENV=prod`).
fn literal_env(key: &str, value: &str) -> Option<PlannedEnvVar> {
    Some(PlannedEnvVar {
        key: EnvVarKey::parse(key).ok()?,
        source: EnvVarSource::Value {
            value: value.into(),
        },
    })
}

/// A secret Render generates (e.g. `SECRET_KEY_BASE`).
fn generated_env(key: &str) -> Option<PlannedEnvVar> {
    Some(PlannedEnvVar {
        key: EnvVarKey::parse(key).ok()?,
        source: EnvVarSource::Generate,
    })
}

/// A static-site service for an SPA build, with the client-side routing rewrite.
fn spa(name: &ServiceName, build: String, publish: String) -> PlannedService {
    let mut svc = PlannedService::new(name.clone(), ServiceKind::StaticSite, None);
    svc.build_command = Some(build);
    svc.publish_path = Some(publish);
    svc.routes.push(Route::spa_rewrite());
    svc.because(
        "routes",
        "rewrite /* → /index.html so client-side routes survive a reload",
    );
    svc
}

/// A quoted string value that follows `key` in config source text
/// (`outDir: 'build'`, `"distDir": "out"`), for JS/TS/JSON configs we do not evaluate.
fn quoted_after(text: &str, key: &str) -> Option<String> {
    text.match_indices(key).find_map(|(i, _)| {
        let rest = text[i + key.len()..]
            .trim_start_matches(['"', '\''])
            .trim_start();
        let rest = rest.strip_prefix([':', '='])?.trim_start();
        let quote = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"' | '`'))?;
        let value = &rest[1..];
        value.find(quote).map(|end| value[..end].to_owned())
    })
}
