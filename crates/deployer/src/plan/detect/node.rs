//! Node: package manager, then framework, then a generic server.

use serde_json::Value;

use super::{Detected, quoted_after, spa};
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pm {
    Npm,
    Yarn,
    Pnpm,
    Bun,
}

impl Pm {
    fn run(self, script: &str) -> String {
        match self {
            Pm::Npm => format!("npm run {script}"),
            Pm::Yarn => format!("yarn {script}"),
            Pm::Pnpm => format!("pnpm run {script}"),
            Pm::Bun => format!("bun run {script}"),
        }
    }

    fn start(self) -> &'static str {
        match self {
            Pm::Npm => "npm start",
            Pm::Yarn => "yarn start",
            Pm::Pnpm => "pnpm start",
            Pm::Bun => "bun run start",
        }
    }
}

/// The package manager and its install command, with the evidence.
fn package_manager(repo: &Repo<'_>, dir: &str, pkg: &Value) -> (Pm, String, String) {
    let field = pkg["packageManager"].as_str().unwrap_or("");
    let has = |f: &str| repo.exists(&join(dir, f));
    let declared = [
        ("pnpm@", Pm::Pnpm),
        ("yarn@", Pm::Yarn),
        ("bun@", Pm::Bun),
        ("npm@", Pm::Npm),
    ]
    .into_iter()
    .find(|(prefix, _)| field.starts_with(prefix));
    let (pm, why) = if let Some((_, pm)) = declared {
        (pm, format!("packageManager is {field}"))
    } else if has("pnpm-lock.yaml") {
        (Pm::Pnpm, "found pnpm-lock.yaml".to_owned())
    } else if has("bun.lockb") || has("bun.lock") {
        (Pm::Bun, "found a bun lockfile".to_owned())
    } else if has("yarn.lock") {
        (Pm::Yarn, "found yarn.lock".to_owned())
    } else if has("package-lock.json") {
        (Pm::Npm, "found package-lock.json".to_owned())
    } else {
        (Pm::Npm, "no lockfile: npm".to_owned())
    };
    let install = match pm {
        Pm::Npm if has("package-lock.json") => "npm ci",
        Pm::Npm => "npm install",
        // Yarn Berry (with .yarnrc.yml) renamed --frozen-lockfile to --immutable.
        Pm::Yarn if has(".yarnrc.yml") => "yarn install --immutable",
        Pm::Yarn => "yarn install --frozen-lockfile",
        Pm::Pnpm => "pnpm install --frozen-lockfile",
        Pm::Bun => "bun install --frozen-lockfile",
    };
    (pm, install.to_owned(), why)
}

fn has_dep(pkg: &Value, dep: &str) -> bool {
    ["dependencies", "devDependencies"]
        .iter()
        .any(|k| pkg[k].get(dep).is_some())
}

/// The first of `names` (inside `dir`) that exists, as a repo path.
fn first_existing(repo: &Repo<'_>, dir: &str, names: &[&str]) -> Option<String> {
    names.iter().map(|n| join(dir, n)).find(|p| repo.exists(p))
}

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let manifest = join(dir, "package.json");
    let Some(text) = repo.read(&manifest).await? else {
        return Ok(None);
    };
    let Ok(pkg) = serde_json::from_str::<Value>(&text) else {
        return Ok(None);
    };
    let script = |s: &str| pkg["scripts"][s].as_str().map(str::to_owned);
    let start_script = script("start");
    let build_script = script("build");
    let is_workspace_root =
        pkg.get("workspaces").is_some() || repo.exists(&join(dir, "pnpm-workspace.yaml"));
    if is_workspace_root && start_script.is_none() {
        return Ok(None); // The apps are in the workspace's packages.
    }
    let (pm, install, pm_why) = package_manager(repo, dir, &pkg);
    let build = match &build_script {
        Some(_) => format!("{install} && {}", pm.run("build")),
        None => install.clone(),
    };
    let build_why = match &build_script {
        Some(s) => format!("{pm_why}; scripts.build is `{s}`"),
        None => format!("{pm_why}; no build script"),
    };
    let spa_site = |framework: &str, publish: String, publish_why: String| {
        let mut svc = spa(name, build.clone(), publish);
        svc.because("kind", format!("{framework} in {manifest} → static site"));
        svc.because("build_command", build_why.clone());
        svc.because("publish_path", publish_why);
        Detected::new(svc)
    };

    if has_dep(&pkg, "next") {
        let config = first_existing(
            repo,
            dir,
            &[
                "next.config.js",
                "next.config.mjs",
                "next.config.ts",
                "next.config.cjs",
            ],
        );
        let config_text = match &config {
            Some(p) => repo.read(p).await?.unwrap_or_default(),
            None => String::new(),
        };
        if quoted_after(&config_text, "output").as_deref() == Some("export") {
            let (publish, why) = match quoted_after(&config_text, "distDir") {
                Some(d) => (d.clone(), format!("distDir is '{d}' in the Next config")),
                None => ("out".into(), "Next's static export writes to out/".into()),
            };
            return Ok(Some(spa_site("next with output: 'export'", publish, why)));
        }
        let (start, why) = match &start_script {
            Some(s) => (
                pm.start().to_owned(),
                format!("scripts.start is `{s}`; next start reads $PORT"),
            ),
            None => (
                "npx next start -p $PORT".to_owned(),
                "no start script: next start on $PORT".to_owned(),
            ),
        };
        return Ok(Some(web(
            name,
            &manifest,
            "next (server-rendered)",
            build,
            build_why,
            start,
            why,
        )));
    }
    if has_dep(&pkg, "nuxt") {
        let start = "node .output/server/index.mjs".to_owned();
        return Ok(Some(web(
            name,
            &manifest,
            "nuxt (server-rendered)",
            build,
            build_why,
            start,
            "Nuxt's build emits a Node server that reads $PORT".into(),
        )));
    }
    if has_dep(&pkg, "astro") {
        let config = first_existing(
            repo,
            dir,
            &["astro.config.mjs", "astro.config.ts", "astro.config.js"],
        );
        let config_text = match &config {
            Some(p) => repo.read(p).await?.unwrap_or_default(),
            None => String::new(),
        };
        if quoted_after(&config_text, "output").as_deref() != Some("server") {
            let (publish, why) = match quoted_after(&config_text, "outDir") {
                Some(d) => (trim_dot(&d), format!("outDir is '{d}' in the Astro config")),
                None => ("dist".into(), "Astro builds static pages into dist/".into()),
            };
            return Ok(Some(spa_site("astro (static output)", publish, why)));
        }
        return Ok(Some(web(
            name,
            &manifest,
            "astro with output: 'server'",
            build,
            build_why,
            "HOST=0.0.0.0 node ./dist/server/entry.mjs".into(),
            "Astro's Node adapter entry point; it reads $PORT".into(),
        )));
    }
    if has_dep(&pkg, "@angular/core") && repo.exists(&join(dir, "angular.json")) {
        let angular = repo
            .read(&join(dir, "angular.json"))
            .await?
            .unwrap_or_default();
        let (publish, why) = angular_output(&angular).unwrap_or_else(|| {
            (
                format!("dist/{}", pkg["name"].as_str().unwrap_or("app")),
                "Angular's default dist/<project>".into(),
            )
        });
        return Ok(Some(spa_site(
            "@angular/core with angular.json",
            publish,
            why,
        )));
    }
    if has_dep(&pkg, "react-scripts") {
        return Ok(Some(spa_site(
            "react-scripts (Create React App)",
            "build".into(),
            "Create React App builds into build/".into(),
        )));
    }
    let ssr_vite = [
        "@sveltejs/kit",
        "@remix-run/dev",
        "@tanstack/react-start",
        "@react-router/dev",
    ]
    .iter()
    .any(|d| has_dep(&pkg, d));
    let runs_server = start_script.as_deref().is_some_and(|s| !s.contains("vite"));
    if has_dep(&pkg, "vite") && build_script.is_some() && !ssr_vite && !runs_server {
        let config = first_existing(
            repo,
            dir,
            &["vite.config.ts", "vite.config.js", "vite.config.mjs"],
        );
        let config_text = match &config {
            Some(p) => repo.read(p).await?.unwrap_or_default(),
            None => String::new(),
        };
        let (publish, why) = match quoted_after(&config_text, "outDir") {
            Some(d) => (
                trim_dot(&d),
                format!("build.outDir is '{d}' in the Vite config"),
            ),
            None => ("dist".into(), "Vite builds into dist/".into()),
        };
        return Ok(Some(spa_site(
            "vite with a build script and no server",
            publish,
            why,
        )));
    }

    // A generic Node server.
    let main = pkg["main"].as_str().map(str::to_owned);
    let (start, why, entry) = if let Some(s) = &start_script {
        let entry = s
            .split_whitespace()
            .find(|w| w.ends_with(".js") || w.ends_with(".ts") || w.ends_with(".mjs"));
        (
            pm.start().to_owned(),
            format!("scripts.start is `{s}`"),
            entry.map(|e| join(dir, e)),
        )
    } else if let Some(m) = main.filter(|m| repo.exists(&join(dir, m))) {
        (
            format!("node {m}"),
            format!("no start script; main is {m}"),
            Some(join(dir, &m)),
        )
    } else if let Some(file) =
        first_existing(repo, dir, &["server.js", "index.js", "app.js", "main.js"])
    {
        let local = file.rsplit('/').next().unwrap_or(&file).to_owned();
        (
            format!("node {local}"),
            format!("no start script or main; found {file}"),
            Some(file),
        )
    } else {
        return Ok(None); // A library or tooling package, not an app.
    };
    let mut found = web(name, &manifest, "node", build, build_why, start, why);
    found.entry_files.extend(entry);
    found.entry_files.extend(
        [
            "server.js",
            "index.js",
            "app.js",
            "src/index.js",
            "src/server.js",
            "src/index.ts",
            "src/server.ts",
            "src/main.ts",
        ]
        .iter()
        .map(|f| join(dir, f)),
    );
    Ok(Some(found))
}

fn web(
    name: &ServiceName,
    manifest: &str,
    what: &str,
    build: String,
    build_why: String,
    start: String,
    start_why: String,
) -> Detected {
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Node));
    svc.because("runtime", format!("found {manifest} → {what}"));
    svc.build_command = Some(build);
    svc.because("build_command", build_why);
    svc.start_command = Some(start);
    svc.because("start_command", start_why);
    Detected::new(svc)
}

/// `./dist` → `dist`: Render wants a path relative to the root directory.
fn trim_dot(dir: &str) -> String {
    dir.trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}

/// `outputPath` of the first Angular project; the `application` builder
/// (Angular 17+) puts the browser bundle under `browser/`.
fn angular_output(text: &str) -> Option<(String, String)> {
    let json: Value = serde_json::from_str(text).ok()?;
    let (project, config) = json["projects"].as_object()?.iter().next()?;
    let build = &config["architect"]["build"];
    let builder = build["builder"].as_str().unwrap_or("");
    let output = &build["options"]["outputPath"];
    let base = output
        .as_str()
        .or_else(|| output["base"].as_str())
        .map(trim_dot)
        .unwrap_or_else(|| format!("dist/{project}"));
    if builder.ends_with(":application") {
        Some((
            format!("{base}/browser"),
            format!("project {project} builds with {builder} into {base}/browser"),
        ))
    } else {
        Some((
            base.clone(),
            format!("project {project} outputPath is {base}"),
        ))
    }
}
