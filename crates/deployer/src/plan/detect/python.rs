//! Python: installer from the manifest/lockfile, then Django, FastAPI, Flask,
//! found in the real module that builds the app rather than assumed in main.py.

use super::Detected;
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

/// At most this many `.py` files are opened looking for the app object.
const MAX_MODULE_READS: usize = 12;

struct Installer {
    install: &'static str,
    /// Prefix that runs a command inside the installer's environment.
    run: &'static str,
    why: String,
}

fn installer(repo: &Repo<'_>, dir: &str) -> Option<Installer> {
    let has = |f: &str| repo.exists(&join(dir, f));
    let pick = |install, run, why: &str| {
        Some(Installer {
            install,
            run,
            why: why.to_owned(),
        })
    };
    if has("requirements.txt") {
        pick(
            "pip install -r requirements.txt",
            "",
            "found requirements.txt → pip",
        )
    } else if has("pyproject.toml") && has("uv.lock") {
        pick("uv sync --frozen --no-dev", "uv run ", "found uv.lock → uv")
    } else if has("pyproject.toml") && has("poetry.lock") {
        pick(
            "pip install poetry && poetry install --only main --no-root",
            "poetry run ",
            "found poetry.lock → poetry",
        )
    } else if has("Pipfile") {
        pick(
            "pip install pipenv && pipenv install --deploy",
            "pipenv run ",
            "found Pipfile → pipenv",
        )
    } else if has("pyproject.toml") {
        pick(
            "pip install .",
            "",
            "found pyproject.toml without a lockfile → pip install .",
        )
    } else {
        None
    }
}

/// Lowercased distribution names declared in whichever manifests exist.
async fn dependencies(repo: &mut Repo<'_>, dir: &str) -> Result<Vec<String>, SourceError> {
    let mut deps = Vec::new();
    if let Some(text) = repo.read(&join(dir, "requirements.txt")).await? {
        deps.extend(text.lines().filter_map(requirement_name));
    }
    if let Some(text) = repo.read(&join(dir, "pyproject.toml")).await?
        && let Ok(doc) = text.parse::<toml::Table>()
    {
        let project = doc
            .get("project")
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array());
        deps.extend(
            project
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().and_then(requirement_name)),
        );
        let poetry = doc
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_table());
        deps.extend(
            poetry
                .into_iter()
                .flatten()
                .map(|(k, _)| k.to_ascii_lowercase()),
        );
    }
    if let Some(text) = repo.read(&join(dir, "Pipfile")).await?
        && let Ok(doc) = text.parse::<toml::Table>()
    {
        let packages = doc.get("packages").and_then(|p| p.as_table());
        deps.extend(
            packages
                .into_iter()
                .flatten()
                .map(|(k, _)| k.to_ascii_lowercase()),
        );
    }
    Ok(deps)
}

/// `Django>=4.2 ; python_version > "3"` → `django`.
fn requirement_name(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(['#', '-']) {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = &line[..end];
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace('_', "-"))
}

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let manage = join(dir, "manage.py");
    let Some(inst) = installer(repo, dir) else {
        return Ok(None);
    };
    let deps = dependencies(repo, dir).await?;
    let has = |d: &str| deps.iter().any(|x| x == d);
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Python));
    svc.because("runtime", format!("{} (Python)", inst.why));
    let mut found_notes = Vec::new();
    let mut entry_files = Vec::new();

    if repo.exists(&manage) && has("django") {
        let wsgi = django_wsgi(repo, dir, &manage).await?;
        let (module, why) = match wsgi {
            Some((m, from)) => (
                m.clone(),
                format!("found {manage} and django; WSGI_APPLICATION in {from} is {m}"),
            ),
            None => {
                let guess = format!("{}.wsgi", name.as_ref().replace('-', "_"));
                found_notes.push(format!(
                    "WSGI_APPLICATION not found; guessed {guess}: check the start command"
                ));
                (
                    guess,
                    format!("found {manage} and django, but no WSGI_APPLICATION setting"),
                )
            }
        };
        svc.build_command = Some(format!(
            "{} && python manage.py collectstatic --no-input",
            inst.install
        ));
        svc.because(
            "build_command",
            "install, then collect static files for serving",
        );
        svc.start_command = Some(format!(
            "{}gunicorn {module}:application --bind 0.0.0.0:$PORT",
            inst.run
        ));
        svc.because(
            "start_command",
            format!("{why} → gunicorn {module}:application"),
        );
        if !has("gunicorn") {
            found_notes.push(
                "gunicorn is not a declared dependency: add it, or the start command fails".into(),
            );
        }
        entry_files.push(manage);
    } else {
        svc.build_command = Some(inst.install.to_owned());
        svc.because("build_command", inst.why.clone());
        let framework = if has("fastapi") {
            Some(("fastapi", "FastAPI("))
        } else if has("flask") {
            Some(("flask", "Flask("))
        } else {
            None
        };
        let app = match framework {
            Some((_, ctor)) => find_app(repo, dir, ctor).await?,
            None => None,
        };
        match (framework, app) {
            (Some(("fastapi", _)), Some(app)) => {
                svc.start_command = Some(format!(
                    "{}uvicorn {}:{} --host 0.0.0.0 --port $PORT{}",
                    inst.run,
                    app.module,
                    app.var,
                    app.app_dir_flag()
                ));
                svc.because(
                    "start_command",
                    format!(
                        "fastapi is a dependency and {} holds `{} = FastAPI()` → uvicorn",
                        app.file, app.var
                    ),
                );
                if !has("uvicorn") && !has("fastapi-cli") {
                    found_notes.push(
                        "uvicorn is not a declared dependency: add it, or the start command fails"
                            .into(),
                    );
                }
                entry_files.push(app.file);
            }
            (Some(_), Some(app)) => {
                svc.start_command = Some(format!(
                    "{}gunicorn {}:{} --bind 0.0.0.0:$PORT{}",
                    inst.run,
                    app.module,
                    app.var,
                    app.chdir_flag()
                ));
                svc.because(
                    "start_command",
                    format!(
                        "flask is a dependency and {} holds `{} = Flask(...)` → gunicorn",
                        app.file, app.var
                    ),
                );
                if !has("gunicorn") {
                    found_notes.push(
                        "gunicorn is not a declared dependency: add it, or the start command fails"
                            .into(),
                    );
                }
                entry_files.push(app.file);
            }
            _ => {
                let Some(main) = ["main.py", "app.py", "server.py", "bot.py"]
                    .iter()
                    .find(|f| repo.exists(&join(dir, f)))
                else {
                    return Ok(None); // A library or scripts, nothing to run.
                };
                svc.start_command = Some(format!("{}python {main}", inst.run));
                svc.because(
                    "start_command",
                    format!("no web framework found; runs {main}"),
                );
                found_notes.push(format!(
                    "start command `python {main}` is a guess: it must listen on $PORT"
                ));
                entry_files.push(join(dir, main));
            }
        }
    }
    let mut found = Detected::new(svc);
    found.notes = found_notes;
    found.entry_files = entry_files;
    Ok(Some(found))
}

/// `(module, file it was read from)` from `WSGI_APPLICATION = 'mysite.wsgi.application'`,
/// finding the settings module through `manage.py`.
async fn django_wsgi(
    repo: &mut Repo<'_>,
    dir: &str,
    manage: &str,
) -> Result<Option<(String, String)>, SourceError> {
    let manage_text = repo.read(manage).await?.unwrap_or_default();
    let Some(settings) = super::quoted_after(&manage_text, "'DJANGO_SETTINGS_MODULE',")
        .or_else(|| super::quoted_after(&manage_text, "\"DJANGO_SETTINGS_MODULE\","))
        .or_else(|| setdefault_value(&manage_text))
    else {
        return Ok(None);
    };
    let base = settings.replace('.', "/");
    for candidate in [
        format!("{base}.py"),
        format!("{base}/__init__.py"),
        format!("{base}/base.py"),
    ] {
        let path = join(dir, &candidate);
        if let Some(text) = repo.read(&path).await?
            && let Some(app) = super::quoted_after(&text, "WSGI_APPLICATION")
        {
            let module = app
                .rsplit_once('.')
                .map_or(app.as_str(), |(m, _)| m)
                .to_owned();
            return Ok(Some((module, path)));
        }
    }
    Ok(None)
}

/// The second argument of `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.settings")`.
fn setdefault_value(text: &str) -> Option<String> {
    let i = text.find("DJANGO_SETTINGS_MODULE")?;
    let rest = &text[i..];
    let comma = rest.find(',')?;
    let rest = rest[comma + 1..].trim_start();
    let quote = rest.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let value = &rest[1..];
    value.find(quote).map(|end| value[..end].to_owned())
}

struct AppObject {
    file: String,
    /// Dotted module path relative to the import root.
    module: String,
    var: String,
    /// The import root relative to the app dir (`src` layouts), if not the app dir.
    import_root: Option<String>,
}

impl AppObject {
    fn app_dir_flag(&self) -> String {
        self.import_root
            .as_ref()
            .map_or(String::new(), |d| format!(" --app-dir {d}"))
    }

    fn chdir_flag(&self) -> String {
        self.import_root
            .as_ref()
            .map_or(String::new(), |d| format!(" --chdir {d}"))
    }
}

/// The module that assigns `<var> = <ctor>...` at top level, looking at the
/// conventional names first and then other shallow `.py` files.
async fn find_app(
    repo: &mut Repo<'_>,
    dir: &str,
    ctor: &str,
) -> Result<Option<AppObject>, SourceError> {
    const PREFERRED: &[&str] = &[
        "main.py",
        "app.py",
        "server.py",
        "api.py",
        "asgi.py",
        "wsgi.py",
        "__init__.py",
    ];
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut candidates: Vec<String> = repo
        .files_under(dir)
        .into_iter()
        .filter(|p| p.ends_with(".py"))
        .filter(|p| {
            let rel = &p[prefix.len()..];
            rel.matches('/').count() <= 2
                && !rel
                    .split('/')
                    .any(|part| matches!(part, "tests" | "test" | "migrations" | "venv"))
        })
        .map(str::to_owned)
        .collect();
    // Shallow first, conventional names first, then alphabetical.
    candidates.sort_by_key(|p| {
        let file = p.rsplit('/').next().unwrap_or(p);
        (
            p.matches('/').count(),
            PREFERRED
                .iter()
                .position(|n| *n == file)
                .unwrap_or(PREFERRED.len()),
            p.clone(),
        )
    });
    for path in candidates.into_iter().take(MAX_MODULE_READS) {
        let Some(text) = repo.read(&path).await? else {
            continue;
        };
        let Some(var) = text.lines().find_map(|l| assignment_of(l, ctor)) else {
            continue;
        };
        let rel = &path[prefix.len()..];
        let (import_root, rel) = match rel.strip_prefix("src/") {
            Some(inner) => (Some("src".to_owned()), inner),
            None => (None, rel),
        };
        let module = rel
            .trim_end_matches(".py")
            .trim_end_matches("/__init__")
            .replace('/', ".");
        return Ok(Some(AppObject {
            file: path,
            module,
            var,
            import_root,
        }));
    }
    Ok(None)
}

/// `app = Flask(__name__)` → `app`; only unindented (module-level) assignments.
fn assignment_of(line: &str, ctor: &str) -> Option<String> {
    let (lhs, rhs) = line.split_once('=')?;
    let var = lhs.trim_end();
    let var = var.split(':').next().unwrap_or(var).trim_end(); // `app: FastAPI = FastAPI()`
    let is_ident = !var.is_empty()
        && !line.starts_with([' ', '\t'])
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rhs = rhs.trim_start();
    let calls = rhs.starts_with(ctor)
        || rhs
            .split_once('.')
            .is_some_and(|(_, r)| r.starts_with(ctor));
    (is_ident && calls).then(|| var.to_owned())
}
