//! The page forms as posted (`application/x-www-form-urlencoded`), turned
//! into the same request bodies the JSON API validates, so both routes share
//! one set of rules.

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::views::FormView;
use crate::error::AppError;
use crate::http::deploy::{DeployBody, EnvVarBody, PlanBody};

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(body).map_err(|_| AppError::invalid("form", "could not be read"))
}

/// The Render key form. The key goes straight into a `SecretString`.
#[derive(serde::Deserialize)]
pub struct KeyForm {
    pub api_key: SecretString,
    /// A one-click repository to go back to after setup.
    #[serde(default)]
    pub repo: Option<String>,
}

/// The deploy form: plain fields plus env var rows, posted as repeated
/// `env_key` / `env_value` pairs in row order.
pub struct DeployForm {
    repo: String,
    project_name: String,
    branch: String,
    region: String,
    plan: String,
    env: Vec<(String, SecretString)>,
}

fn optional(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl DeployForm {
    /// A form with only the repository filled in (the one-click entry).
    pub fn for_repo(repo: &str) -> Self {
        DeployForm {
            repo: repo.to_owned(),
            project_name: String::new(),
            branch: String::new(),
            region: String::new(),
            plan: String::new(),
            env: Vec::new(),
        }
    }

    pub fn parse(body: &[u8]) -> Result<Self, AppError> {
        let pairs: Vec<(String, String)> = parse(body)?;
        let mut form = DeployForm::for_repo("");
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for (name, value) in pairs {
            match name.as_str() {
                "github_repo" => form.repo = value,
                "project_name" => form.project_name = value,
                "branch" => form.branch = value,
                "region" => form.region = value,
                "plan" => form.plan = value,
                "env_key" => keys.push(value),
                "env_value" => values.push(SecretString::from(value)),
                _ => {}
            }
        }
        if keys.len() != values.len() {
            return Err(AppError::invalid(
                "env_vars",
                "every variable needs a name and a value field",
            ));
        }
        for (i, (key, value)) in keys.into_iter().zip(values).enumerate() {
            let key = key.trim().to_owned();
            match (key.is_empty(), value.expose_secret().is_empty()) {
                (true, true) => {}
                (true, false) => {
                    return Err(AppError::invalid(
                        format!("env var row {}", i + 1),
                        "has a value but no name",
                    ));
                }
                (false, _) => form.env.push((key, value)),
            }
        }
        Ok(form)
    }

    fn env_keys(&self) -> Vec<String> {
        self.env.iter().map(|(k, _)| k.clone()).collect()
    }

    /// Planning needs only the names of the user's variables.
    pub fn plan_body(&self) -> PlanBody {
        PlanBody {
            github_repo: self.repo.clone(),
            branch: optional(&self.branch),
            project_name: optional(&self.project_name),
            env_keys: self.env_keys(),
        }
    }

    pub fn deploy_body(self) -> DeployBody {
        DeployBody {
            github_repo: self.repo,
            project_name: optional(&self.project_name),
            branch: optional(&self.branch),
            env_vars: self
                .env
                .into_iter()
                .map(|(key, value)| EnvVarBody { key, value })
                .collect(),
            region: optional(&self.region),
            plan: optional(&self.plan),
            overrides: Vec::new(),
        }
    }

    /// The form as shown again: every field but the env var values.
    pub fn view(&self) -> FormView {
        FormView {
            repo: self.repo.clone(),
            project_name: self.project_name.clone(),
            branch: self.branch.clone(),
            env_keys: self.env_keys(),
            region: self.region.clone(),
            plan: self.plan.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_up_and_blank_rows_are_skipped() {
        let body = b"csrf_token=t&github_repo=demo%2Fnode-hello&project_name=&branch=main\
&env_key=API_URL&env_value=https%3A%2F%2Fx&env_key=&env_value=&region=frankfurt&plan=";
        let form = DeployForm::parse(body).expect("parses");
        let deploy = form.deploy_body();
        assert_eq!(deploy.github_repo, "demo/node-hello");
        assert_eq!(deploy.project_name, None);
        assert_eq!(deploy.branch.as_deref(), Some("main"));
        assert_eq!(deploy.region.as_deref(), Some("frankfurt"));
        assert_eq!(deploy.plan, None);
        assert_eq!(deploy.env_vars.len(), 1);
        assert_eq!(deploy.env_vars[0].key, "API_URL");
        assert_eq!(deploy.env_vars[0].value.expose_secret(), "https://x");
    }

    #[test]
    fn a_value_without_a_name_is_refused() {
        let body = b"github_repo=a%2Fb&env_key=&env_value=secret";
        let Err(AppError::InvalidRequest { field, .. }) = DeployForm::parse(body) else {
            panic!("expected an invalid request");
        };
        assert_eq!(field, "env var row 1");
    }

    #[test]
    fn the_view_never_carries_env_values() {
        let body = b"github_repo=a%2Fb&env_key=TOKEN&env_value=hunter2";
        let view = DeployForm::parse(body).expect("parses").view();
        assert_eq!(view.env_keys, ["TOKEN"]);
        assert_eq!(view.repo, "a/b");
    }
}
