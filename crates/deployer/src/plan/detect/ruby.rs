//! Ruby: Rails, then any Rack app (`config.ru`).

use super::{Detected, generated_env};
use crate::domain::names::ServiceName;
use crate::plan::model::{PlannedService, Runtime, ServiceKind};
use crate::plan::repo::{Repo, join};
use crate::plan::source::SourceError;

pub(super) async fn detect(
    repo: &mut Repo<'_>,
    dir: &str,
    name: &ServiceName,
) -> Result<Option<Detected>, SourceError> {
    let gemfile = join(dir, "Gemfile");
    if !repo.exists(&gemfile) {
        return Ok(None);
    }
    let application = join(dir, "config/application.rb");
    let is_rails = repo
        .read(&application)
        .await?
        .is_some_and(|t| t.contains("Rails::Application"));
    let rackup = join(dir, "config.ru");
    let mut svc = PlannedService::new(name.clone(), ServiceKind::WebService, Some(Runtime::Ruby));
    svc.because("runtime", format!("found {gemfile} → ruby"));
    let mut found_entry = Vec::new();
    if is_rails {
        let assets = repo.dir_exists(&join(dir, "app/assets"));
        svc.build_command = Some(if assets {
            "bundle install && bundle exec rails assets:precompile".into()
        } else {
            "bundle install".into()
        });
        svc.because(
            "build_command",
            if assets {
                "install gems, then precompile app/assets"
            } else {
                "install gems (no app/assets to precompile)"
            },
        );
        svc.start_command = Some("bundle exec rails server -b 0.0.0.0 -p $PORT".into());
        svc.because(
            "start_command",
            format!("{application} defines a Rails::Application → rails server on $PORT"),
        );
        // Rails refuses to boot in production without a secret key base.
        svc.env_vars.extend(generated_env("SECRET_KEY_BASE"));
        svc.because(
            "env_vars",
            "SECRET_KEY_BASE generated: Rails needs it in production",
        );
        found_entry.push(application);
    } else if repo.exists(&rackup) {
        svc.build_command = Some("bundle install".into());
        svc.because("build_command", "install gems");
        svc.start_command = Some("bundle exec rackup config.ru -o 0.0.0.0 -p $PORT".into());
        svc.because("start_command", format!("found {rackup} → rackup on $PORT"));
        found_entry.push(rackup);
        found_entry.extend(["app.rb", "server.rb"].iter().map(|f| join(dir, f)));
    } else {
        return Ok(None); // A gem or scripts: nothing serves HTTP.
    }
    let mut found = Detected::new(svc);
    found.entry_files = found_entry;
    Ok(Some(found))
}
