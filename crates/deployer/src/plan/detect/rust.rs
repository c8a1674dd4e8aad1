//! Rust: the binary to run, from `default-run`, `[[bin]]`, `src/main.rs` or
//! `src/bin/*`, looking through workspace members when the root is a workspace.

use toml::Table;

use super::Detected;
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

/// One binary target: its name, the package holding it and its main file.
struct Bin {
    name: String,
    package: String,
    main: String,
    why: String,
}

/// The binary one package would run, if it has one.
fn package_bin(repo: &Repo<'_>, dir: &str, manifest: &Table) -> Option<Bin> {
    let package = manifest.get("package")?;
    let pkg_name = package.get("name")?.as_str()?.to_owned();
    let bins: Vec<(String, String)> = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let name = b.get("name")?.as_str()?.to_owned();
            let path = b
                .get("path")
                .and_then(|p| p.as_str())
                .map_or_else(|| format!("src/bin/{name}.rs"), str::to_owned);
            Some((name, join(dir, &path)))
        })
        .collect();
    let bin = |name: &str, main: String, why: String| Bin {
        name: name.to_owned(),
        package: pkg_name.clone(),
        main,
        why,
    };
    if let Some(run) = package.get("default-run").and_then(|d| d.as_str()) {
        let main = bins.iter().find(|(n, _)| n == run).map_or_else(
            || join(dir, &format!("src/bin/{run}.rs")),
            |(_, p)| p.clone(),
        );
        return Some(bin(
            run,
            main,
            format!("default-run = \"{run}\" in package {pkg_name}"),
        ));
    }
    if let [(name, main)] = bins.as_slice() {
        return Some(bin(
            name,
            main.clone(),
            format!("the only [[bin]] of package {pkg_name}"),
        ));
    }
    let main_rs = join(dir, "src/main.rs");
    if repo.exists(&main_rs) {
        return Some(bin(
            &pkg_name,
            main_rs,
            format!("package {pkg_name} has src/main.rs"),
        ));
    }
    let extra: Vec<&str> = repo
        .files_in(&join(dir, "src/bin"))
        .into_iter()
        .filter(|p| p.ends_with(".rs"))
        .collect();
    if let [only] = extra.as_slice() {
        let name = only
            .rsplit('/')
            .next()
            .unwrap_or(only)
            .trim_end_matches(".rs");
        return Some(bin(
            name,
            (*only).to_owned(),
            format!("the only file in src/bin of {pkg_name}"),
        ));
    }
    bins.first().map(|(name, main)| {
        bin(
            name,
            main.clone(),
            format!("the first [[bin]] of package {pkg_name} (it has several)"),
        )
    })
}

/// Member directories of a workspace, with `dir/*` globs expanded against the tree.
fn members(repo: &Repo<'_>, dir: &str, manifest: &Table) -> Vec<String> {
    let listed = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str());
    let mut out = Vec::new();
    for member in listed {
        match member.strip_suffix("/*") {
            Some(parent) => out.extend(
                repo.subdirs(&join(dir, parent))
                    .into_iter()
                    .map(str::to_owned),
            ),
            None => out.push(join(dir, member.trim_end_matches('/'))),
        }
    }
    out
}

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let path = join(dir, "Cargo.toml");
    let Some(text) = repo.read(&path).await? else {
        return Ok(None);
    };
    let Ok(manifest) = text.parse::<Table>() else {
        return Ok(None);
    };
    let mut chosen = package_bin(repo, dir, &manifest);
    let mut workspace_note = None;
    if chosen.is_none() {
        let mut found = Vec::new();
        for member in members(repo, dir, &manifest) {
            let Some(member_text) = repo.read(&join(&member, "Cargo.toml")).await? else {
                continue;
            };
            if let Ok(member_manifest) = member_text.parse::<Table>()
                && let Some(bin) = package_bin(repo, &member, &member_manifest)
            {
                found.push(bin);
            }
        }
        if found.len() > 1 {
            let names: Vec<&str> = found.iter().map(|b| b.package.as_str()).collect();
            workspace_note = Some(format!(
                "the workspace has several binaries ({}); planned {}: change the commands to pick another",
                names.join(", "),
                found[0].package
            ));
        }
        chosen = found.into_iter().next();
    }
    let Some(bin) = chosen else {
        return Ok(None); // A library crate or workspace.
    };
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Rust));
    svc.because("runtime", format!("found {path} → rust"));
    // --locked only when there is a lockfile to honour.
    let locked = if repo.exists(&join(dir, "Cargo.lock")) {
        " --locked"
    } else {
        ""
    };
    svc.build_command = Some(format!(
        "cargo build --release{locked} -p {} --bin {}",
        bin.package, bin.name
    ));
    svc.because(
        "build_command",
        format!("release build of binary {}: {}", bin.name, bin.why),
    );
    svc.start_command = Some(format!("./target/release/{}", bin.name));
    svc.because("start_command", "the release binary; it must read $PORT");
    let mut found = Detected::new(svc);
    found.notes.extend(workspace_note);
    found.entry_files.push(bin.main);
    Ok(Some(found))
}
