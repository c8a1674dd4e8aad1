//! Go: build the `main` package at the module root or under `cmd/`.

use super::Detected;
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let gomod = join(dir, "go.mod");
    let Some(text) = repo.read(&gomod).await? else {
        return Ok(None);
    };
    let module = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    let (package, main_file, why) = if repo.exists(&join(dir, "main.go")) {
        (
            ".".to_owned(),
            join(dir, "main.go"),
            "main.go at the module root".to_owned(),
        )
    } else {
        let cmd_dir = join(dir, "cmd");
        let mains: Vec<String> = repo
            .subdirs(&cmd_dir)
            .into_iter()
            .filter(|d| repo.exists(&join(d, "main.go")))
            .map(str::to_owned)
            .collect();
        let last = module.rsplit('/').next().unwrap_or("");
        // Prefer the command named after the module, then the usual server names.
        let pick = [last, "server", "api", "web"]
            .iter()
            .find_map(|want| mains.iter().find(|d| d.ends_with(&format!("/{want}"))))
            .or(mains.first());
        let Some(pick) = pick else {
            return Ok(None); // A library module.
        };
        let rel = pick.strip_prefix(&format!("{dir}/")).unwrap_or(pick);
        let why = if mains.len() > 1 {
            format!("{} commands under cmd/; chose {rel}", mains.len())
        } else {
            format!("the only command is {rel}")
        };
        (format!("./{rel}"), join(pick, "main.go"), why)
    };
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Go));
    svc.because("runtime", format!("found {gomod} (module {module}) → go"));
    svc.build_command = Some(format!(
        "go build -tags netgo -ldflags '-s -w' -o app {package}"
    ));
    svc.because("build_command", format!("static binary from {why}"));
    svc.start_command = Some("./app".into());
    svc.because("start_command", "the built binary; it must read $PORT");
    let mut found = Detected::new(svc);
    found.entry_files.push(main_file);
    Ok(Some(found))
}
