//! Warnings from reading a bounded set of likely entry files: a fixed listen
//! port instead of `$PORT`, and env vars the code needs that nothing sets.

use std::collections::BTreeMap;

use super::PlanRequest;
use super::detect::App;
use super::model::{Plan, Runtime, Warning};
use super::repo::Repo;
use super::source::SourceError;
use crate::domain::names::EnvVarKey;

/// At most this many files are read for warnings per plan (each at most
/// `MAX_MARKER_FILE_BYTES`, enforced by [`Repo::read`]).
const MAX_SCANNED_FILES: usize = 20;

/// Variables the platform or the runtime sets, or that are conventionally optional.
const PLATFORM_VARS: &[&str] = &[
    "PORT",
    "NODE_ENV",
    "RENDER",
    "IS_PULL_REQUEST",
    "PATH",
    "HOME",
    "PWD",
    "HOSTNAME",
    "TZ",
    "LANG",
    "CI",
    "PYTHONPATH",
    "DJANGO_SETTINGS_MODULE",
    "RAILS_ENV",
    "RACK_ENV",
    "MIX_ENV",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "WEB_CONCURRENCY",
];

/// Source extensions worth scanning per runtime.
fn extensions(runtime: Runtime) -> &'static [&'static str] {
    match runtime {
        Runtime::Node => &[".js", ".mjs", ".cjs", ".ts"],
        Runtime::Python => &[".py"],
        Runtime::Ruby => &[".rb"],
        Runtime::Go => &[".go"],
        Runtime::Rust => &[".rs"],
        Runtime::Elixir => &[".ex", ".exs"],
        Runtime::Docker | Runtime::Image => &[],
    }
}

/// Build output, dependencies and tests: not what runs in production.
fn skipped(path: &str) -> bool {
    path.split('/').any(|p| {
        matches!(
            p,
            "dist"
                | "build"
                | "out"
                | ".next"
                | "public"
                | "vendor"
                | "test"
                | "tests"
                | "spec"
                | "migrations"
                | "deps"
                | "_build"
        )
    }) || path.contains(".config.")
        || path.contains(".test.")
        || path.contains(".spec.")
        || path.ends_with("_test.go")
}

pub(crate) async fn warn(
    repo: &mut Repo<'_>,
    plan: &mut Plan,
    apps: &[App],
    request: &PlanRequest,
) -> Result<(), SourceError> {
    let mut budget = MAX_SCANNED_FILES;
    for app in apps {
        let Some(runtime) = app.runtime else { continue };
        let exts = extensions(runtime);
        if exts.is_empty() {
            continue;
        }
        let Some(service) = app.services.first().cloned() else {
            continue;
        };
        let prefix = if app.dir.is_empty() {
            String::new()
        } else {
            format!("{}/", app.dir)
        };
        let mut files: Vec<String> = app
            .entry_files
            .iter()
            .filter(|f| repo.exists(f))
            .cloned()
            .collect();
        let mut others: Vec<&str> = repo
            .files_under(&app.dir)
            .into_iter()
            .filter(|p| exts.iter().any(|e| p.ends_with(e)) && !skipped(&p[prefix.len()..]))
            .collect();
        others.sort_by_key(|p| (p.matches('/').count(), *p));
        for other in others {
            if !files.iter().any(|f| f == other) {
                files.push(other.to_owned());
            }
        }
        let set: Vec<&EnvVarKey> = plan
            .services
            .iter()
            .filter(|s| app.services.contains(&s.name))
            .flat_map(|s| s.env_vars.iter().map(|v| &v.key))
            .chain(request.user_env_keys.iter())
            .collect();
        let start_commands: Vec<String> = plan
            .services
            .iter()
            .filter(|s| app.services.contains(&s.name))
            .filter_map(|s| s.start_command.clone())
            .collect();
        let mut unset: BTreeMap<EnvVarKey, String> = BTreeMap::new();
        for file in files {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(text) = repo.read(&file).await? else {
                continue;
            };
            let local = file.rsplit('/').next().unwrap_or(&file);
            // Python's `app.run(port=…)` only matters when the file itself is run.
            let runs_file =
                runtime != Runtime::Python || start_commands.iter().any(|c| c.contains(local));
            if runs_file && let Some(line) = fixed_port_line(runtime, &text) {
                plan.warnings.push(Warning::FixedPort {
                    service: service.clone(),
                    file: file.clone(),
                    line,
                });
            }
            for key in required_reads(&text) {
                let Ok(key) = EnvVarKey::parse(&key) else {
                    continue;
                };
                let platform =
                    PLATFORM_VARS.contains(&key.as_ref()) || key.as_ref().starts_with("RENDER_");
                if !platform && !set.contains(&&key) {
                    unset.entry(key).or_insert_with(|| file.clone());
                }
            }
        }
        for (key, file) in unset {
            plan.warnings.push(Warning::UnsetEnvVar {
                service: service.clone(),
                key,
                file,
            });
        }
    }
    Ok(())
}

/// The 1-based line that listens on a literal port, unless the file reads `PORT`.
fn fixed_port_line(runtime: Runtime, text: &str) -> Option<usize> {
    let reads_port = ["\"PORT\"", "'PORT'", "env.PORT", ":PORT"]
        .iter()
        .any(|m| text.contains(m));
    if reads_port {
        return None;
    }
    let starts_with_digit = |s: &str| s.trim_start().starts_with(|c: char| c.is_ascii_digit());
    let fixed = |line: &str| match runtime {
        Runtime::Node => line
            .split_once(".listen(")
            .is_some_and(|(_, arg)| starts_with_digit(arg)),
        Runtime::Python => {
            line.contains(".run(")
                && line
                    .split_once("port=")
                    .or_else(|| line.split_once("port ="))
                    .is_some_and(|(_, arg)| starts_with_digit(arg))
        }
        Runtime::Go => {
            ["Listen", "Run(", "Addr"].iter().any(|m| line.contains(m))
                && line
                    .split_once("\":")
                    .is_some_and(|(_, arg)| arg.starts_with(|c: char| c.is_ascii_digit()))
        }
        Runtime::Rust => ["\"0.0.0.0:", "\"127.0.0.1:", "\"localhost:", "\"[::]:"]
            .iter()
            .any(|m| {
                line.split_once(m)
                    .is_some_and(|(_, arg)| starts_with_digit(arg))
            }),
        Runtime::Ruby | Runtime::Elixir | Runtime::Docker | Runtime::Image => false,
    };
    text.lines().position(fixed).map(|i| i + 1)
}

/// How code reads an env var: the text before the name, and whether the name
/// is quoted (`os.getenv("X")`) or a bare identifier (`process.env.X`).
const READS: &[&str] = &[
    "process.env.",
    "process.env[",
    "os.environ[",
    "os.environ.get(",
    "os.getenv(",
    "env::var(",
    "env::var_os(",
    "ENV[",
    "ENV.fetch(",
    "os.Getenv(",
    "System.get_env(",
    "System.fetch_env!(",
];

/// What may follow a read to give it a fallback, making the variable optional.
const DEFAULTS: &[&str] = &[
    "||",
    "??",
    ".unwrap_or",
    ".ok()",
    ".is_ok()",
    ".is_err()",
    "{",
    "or ",
    "if ",
];

/// Names of env vars the text reads with no default.
fn required_reads(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for needle in READS {
        for (i, _) in text.match_indices(needle) {
            let rest = &text[i + needle.len()..];
            let (key, after) = if let Some(quoted) = rest.strip_prefix(['"', '\'']) {
                let quote = &rest[..1];
                let Some(end) = quoted.find(quote) else {
                    continue;
                };
                let after = &quoted[end + 1..];
                if after.trim_start().starts_with(',') {
                    continue; // A second argument is the default.
                }
                (&quoted[..end], after.trim_start_matches([')', ']']))
            } else if needle.ends_with('.') {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            } else {
                continue; // A computed name: nothing to check.
            };
            let optional = DEFAULTS.iter().any(|d| after.trim_start().starts_with(d));
            if !key.is_empty() && !optional {
                out.push(key.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_without_defaults_are_required() {
        let js = "const a = process.env.API_KEY;\nconst b = process.env.OPT || 'x';\nconst c = process.env['DB_URL'];";
        assert_eq!(required_reads(js), vec!["API_KEY", "DB_URL"]);
        let py =
            "x = os.environ['SECRET']\ny = os.getenv('OPT', 'd')\nz = os.environ.get(\"TOKEN\")";
        assert_eq!(required_reads(py), vec!["SECRET", "TOKEN"]);
        let rs = "let a = std::env::var(\"DATABASE_URL\")?;\nlet b = env::var(\"OPT\").unwrap_or_default();";
        assert_eq!(required_reads(rs), vec!["DATABASE_URL"]);
        let rb = "ENV[\"A\"]\nENV.fetch(\"B\", 1)\nENV.fetch(\"C\")";
        assert_eq!(required_reads(rb), vec!["A", "C"]);
        assert_eq!(required_reads("os.Getenv(\"GO_KEY\")"), vec!["GO_KEY"]);
    }

    #[test]
    fn fixed_ports_per_language() {
        assert_eq!(
            fixed_port_line(Runtime::Node, "a\napp.listen(3000);"),
            Some(2)
        );
        assert_eq!(
            fixed_port_line(Runtime::Node, "app.listen(process.env.PORT || 3000)"),
            None
        );
        assert_eq!(
            fixed_port_line(Runtime::Go, "http.ListenAndServe(\":8080\", nil)"),
            Some(1)
        );
        assert_eq!(
            fixed_port_line(
                Runtime::Go,
                "p := os.Getenv(\"PORT\")\nhttp.ListenAndServe(\":\"+p, nil)"
            ),
            None
        );
        assert_eq!(
            fixed_port_line(Runtime::Python, "app.run(port=5000)"),
            Some(1)
        );
        assert_eq!(
            fixed_port_line(Runtime::Rust, "bind(\"127.0.0.1:8080\")"),
            Some(1)
        );
    }
}
