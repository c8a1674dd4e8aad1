//! Elixir: Phoenix (`mix phx.server`) or a plain Mix app.

use super::{Detected, generated_env, literal_env};
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let mix = join(dir, "mix.exs");
    let Some(text) = repo.read(&mix).await? else {
        return Ok(None);
    };
    let phoenix = text.contains(":phoenix,") || text.contains(":phoenix ");
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Elixir));
    svc.because("runtime", format!("found {mix} → elixir"));
    svc.env_vars.extend(literal_env("MIX_ENV", "prod"));
    svc.because(
        "env_vars",
        "MIX_ENV=prod: build and run the production config",
    );
    let mut build = "mix deps.get --only prod && mix compile".to_owned();
    if phoenix {
        if repo.dir_exists(&join(dir, "assets")) {
            build.push_str(" && mix assets.deploy");
        }
        svc.start_command = Some("mix phx.server".into());
        svc.because(
            "start_command",
            format!(
                "{mix} depends on :phoenix → mix phx.server (the generated runtime.exs reads $PORT)"
            ),
        );
        svc.env_vars.extend(generated_env("SECRET_KEY_BASE"));
        svc.because(
            "env_vars",
            "SECRET_KEY_BASE generated: Phoenix needs it in production",
        );
    } else {
        svc.start_command = Some("mix run --no-halt".into());
        svc.because(
            "start_command",
            "a Mix app without Phoenix → mix run --no-halt",
        );
    }
    svc.because("build_command", "fetch production deps and compile");
    svc.build_command = Some(build);
    let mut found = Detected::new(svc);
    found.entry_files.push(join(dir, "config/runtime.exs"));
    Ok(Some(found))
}
