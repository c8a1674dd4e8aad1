//! Names and values that arrive from users (HTTP bodies, CLI flags, `render.yaml`):
//! each type checks its rules once, at the edge, and cannot hold an invalid value.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// One variant per rule, so callers (and the HTTP layer) can say exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository must be written owner/name")]
    RepoSlugShape,
    #[error("repository owner must be 1 to 39 characters")]
    OwnerLength,
    #[error(
        "repository owner may contain only letters, digits and single hyphens, not at either end"
    )]
    OwnerCharacters,
    #[error("repository name must be 1 to 100 characters")]
    RepoNameLength,
    #[error("repository name may contain only letters, digits, '.', '_' and '-'")]
    RepoNameCharacters,
    #[error("repository name cannot be '.' or '..'")]
    RepoNameDots,
    #[error("service name must be 1 to {} characters", ServiceName::MAX_LEN)]
    ServiceNameLength,
    #[error("service name must start with a lowercase letter")]
    ServiceNameStart,
    #[error("service name may contain only lowercase letters, digits and hyphens")]
    ServiceNameCharacters,
    #[error("service name cannot end with a hyphen or contain two hyphens in a row")]
    ServiceNameHyphens,
    #[error("branch name must be 1 to {} bytes", BranchName::MAX_LEN)]
    BranchLength,
    #[error("branch name cannot contain control characters, spaces or any of ~^:?*[\\")]
    BranchCharacters,
    #[error("branch name cannot start with '-' or '/', end with '/' or '.', or contain '//'")]
    BranchEnds,
    #[error("branch name cannot contain '..' or '@{{', or be '@'")]
    BranchSequence,
    #[error("no part of a branch name may start with '.' or end with '.lock'")]
    BranchComponent,
    #[error(
        "environment variable name must be 1 to {} characters",
        EnvVarKey::MAX_LEN
    )]
    EnvVarKeyLength,
    #[error("environment variable name must match [A-Za-z_][A-Za-z0-9_]*")]
    EnvVarKeyCharacters,
    #[error(
        "environment variable value must be at most {} bytes",
        EnvVarValue::MAX_LEN
    )]
    EnvVarValueLength,
    #[error("unknown region (expected one of: {})", Region::NAMES.join(", "))]
    UnknownRegion,
    #[error("unknown instance plan (expected one of: {})", InstancePlan::NAMES.join(", "))]
    UnknownPlan,
    #[error("root directory must be 1 to {} bytes", RootDir::MAX_LEN)]
    RootDirLength,
    #[error("root directory must be relative to the repository root")]
    RootDirAbsolute,
    #[error("root directory cannot contain '.', '..' or empty parts")]
    RootDirTraversal,
    #[error("root directory cannot contain control characters or backslashes")]
    RootDirCharacters,
}

/// The shared plumbing of the string newtypes: `AsRef<str>`, `Display`, `FromStr`,
/// `TryFrom<String>` (what serde's `try_from` uses) and `Serialize` as a plain string.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::parse(&s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

/// `owner/name` of a GitHub repository, per GitHub's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct RepoSlug(String);
string_newtype!(RepoSlug);

impl RepoSlug {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let (owner, name) = s.split_once('/').ok_or(NameError::RepoSlugShape)?;
        if !(1..=39).contains(&owner.len()) {
            return Err(NameError::OwnerLength);
        }
        let owner_ok = owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !owner.starts_with('-')
            && !owner.ends_with('-')
            && !owner.contains("--");
        if !owner_ok {
            return Err(NameError::OwnerCharacters);
        }
        if !(1..=100).contains(&name.len()) {
            return Err(NameError::RepoNameLength);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(NameError::RepoNameCharacters);
        }
        if name == "." || name == ".." {
            return Err(NameError::RepoNameDots);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn owner(&self) -> &str {
        self.split().0
    }

    pub fn name(&self) -> &str {
        self.split().1
    }

    /// The clone URL Render expects in `repo` (no branch in it).
    pub fn https_url(&self) -> String {
        format!("https://github.com/{}", self.0)
    }

    fn split(&self) -> (&str, &str) {
        // parse() guarantees exactly one '/' separating two non-empty parts.
        self.0.split_once('/').unwrap_or((&self.0, ""))
    }
}

/// A Render service name we are willing to create. Render itself is laxer, but the
/// name also becomes the `<name>.onrender.com` subdomain, so we keep to a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ServiceName(String);
string_newtype!(ServiceName);

impl ServiceName {
    pub const MAX_LEN: usize = 63;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        if !(1..=Self::MAX_LEN).contains(&s.len()) {
            return Err(NameError::ServiceNameLength);
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::ServiceNameStart);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(NameError::ServiceNameCharacters);
        }
        if s.ends_with('-') || s.contains("--") {
            return Err(NameError::ServiceNameHyphens);
        }
        Ok(Self(s.to_owned()))
    }

    /// A default service name from a repository (or directory) name: lowercased,
    /// runs of other characters become one hyphen, leading non-letters dropped,
    /// cut to the length limit. `None` when nothing usable is left.
    pub fn from_repo_name(name: &str) -> Option<ServiceName> {
        let mut out = String::with_capacity(name.len());
        for c in name.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || (c.is_ascii_digit() && !out.is_empty()) {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.truncate(Self::MAX_LEN);
        while out.ends_with('-') {
            out.pop();
        }
        Self::parse(&out).ok()
    }

    /// `<self>-<suffix>`, sanitised like [`ServiceName::from_repo_name`].
    pub fn with_suffix(&self, suffix: &str) -> Option<ServiceName> {
        Self::from_repo_name(&format!("{}-{suffix}", self.0))
    }
}

/// A git branch name, per `git check-ref-format --branch`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BranchName(String);
string_newtype!(BranchName);

impl BranchName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(NameError::BranchLength);
        }
        if s.chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        {
            return Err(NameError::BranchCharacters);
        }
        if s.starts_with(['-', '/']) || s.ends_with(['/', '.']) || s.contains("//") {
            return Err(NameError::BranchEnds);
        }
        if s == "@" || s.contains("..") || s.contains("@{") {
            return Err(NameError::BranchSequence);
        }
        if s.split('/')
            .any(|part| part.starts_with('.') || part.ends_with(".lock"))
        {
            return Err(NameError::BranchComponent);
        }
        Ok(Self(s.to_owned()))
    }
}

/// An environment variable name, as Render and POSIX shells accept it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvVarKey(String);
string_newtype!(EnvVarKey);

impl EnvVarKey {
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(NameError::EnvVarKeyLength);
        }
        let mut bytes = s.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(NameError::EnvVarKeyCharacters);
        }
        Ok(Self(s.to_owned()))
    }
}

/// A user's environment variable value: a secret from the form field to the
/// Render request. `Debug` redacts it; there is deliberately no `Serialize`,
/// `Display` or `AsRef<str>`, so it cannot end up in a plan, log or error.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvVarValue(SecretString);

impl EnvVarValue {
    pub const MAX_LEN: usize = 32 * 1024;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        Self::try_from(s.to_owned())
    }

    /// Only for building the Render request body.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl TryFrom<String> for EnvVarValue {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        if s.len() > Self::MAX_LEN {
            return Err(NameError::EnvVarValueLength);
        }
        Ok(Self(SecretString::from(s)))
    }
}

impl fmt::Debug for EnvVarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvVarValue([REDACTED])")
    }
}

/// The shared plumbing of Render's string enums: the names, `as_str`, `Display`
/// and a `FromStr` that rejects unknown values with the given error.
macro_rules! render_enum {
    ($ty:ident, $err:expr, { $($variant:ident => $name:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $ty {
            $($variant),+
        }

        impl $ty {
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($err),
                }
            }
        }
    };
}

render_enum!(Region, NameError::UnknownRegion, {
    Frankfurt => "frankfurt",
    Oregon => "oregon",
    Ohio => "ohio",
    Singapore => "singapore",
    Virginia => "virginia",
});

render_enum!(InstancePlan, NameError::UnknownPlan, {
    Starter => "starter",
    StarterPlus => "starter_plus",
    Standard => "standard",
    StandardPlus => "standard_plus",
    Pro => "pro",
    ProPlus => "pro_plus",
    ProMax => "pro_max",
    ProUltra => "pro_ultra",
    Free => "free",
    Custom => "custom",
});

/// Render's defaults when nothing is chosen (by hand: the enums come from a macro).
#[allow(clippy::derivable_impls)]
impl Default for Region {
    fn default() -> Self {
        Region::Oregon
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "render_enum! declares the enum; the default sits with the other one"
)]
impl Default for InstancePlan {
    fn default() -> Self {
        InstancePlan::Starter
    }
}

impl InstancePlan {
    /// Render's `paidPlan` enum: the only plans private services, background
    /// workers and cron jobs accept.
    pub fn is_paid_plan(self) -> bool {
        matches!(
            self,
            InstancePlan::Starter
                | InstancePlan::Standard
                | InstancePlan::Pro
                | InstancePlan::ProPlus
                | InstancePlan::ProMax
                | InstancePlan::ProUltra
        )
    }
}

/// A directory inside the repository, `/`-separated and relative to its root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct RootDir(String);
string_newtype!(RootDir);

impl RootDir {
    pub const MAX_LEN: usize = 1024;

    /// Accepts one trailing `/` (`web/` means `web`).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let s = s.strip_suffix('/').unwrap_or(s);
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(NameError::RootDirLength);
        }
        if s.starts_with('/') {
            return Err(NameError::RootDirAbsolute);
        }
        if s.chars().any(|c| c.is_control() || c == '\\') {
            return Err(NameError::RootDirCharacters);
        }
        if s.split('/').any(|part| matches!(part, "" | "." | "..")) {
            return Err(NameError::RootDirTraversal);
        }
        Ok(Self(s.to_owned()))
    }

    /// `path` (relative to this directory) as a path from the repository root.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{path}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn repo_slug_rules() {
        let slug = RepoSlug::parse("octo-cat/my.repo_1").expect("valid");
        assert_eq!((slug.owner(), slug.name()), ("octo-cat", "my.repo_1"));
        assert_eq!(slug.https_url(), "https://github.com/octo-cat/my.repo_1");
        let cases = [
            ("nope", NameError::RepoSlugShape),
            ("/repo", NameError::OwnerLength),
            ("-octo/repo", NameError::OwnerCharacters),
            ("octo-/repo", NameError::OwnerCharacters),
            ("oc--to/repo", NameError::OwnerCharacters),
            ("oc_to/repo", NameError::OwnerCharacters),
            ("octo/", NameError::RepoNameLength),
            ("octo/a/b", NameError::RepoNameCharacters),
            ("octo/..", NameError::RepoNameDots),
        ];
        for (input, err) in cases {
            assert_eq!(RepoSlug::parse(input), Err(err), "{input}");
        }
        assert_eq!(
            RepoSlug::parse(&format!("{}/r", "a".repeat(40))),
            Err(NameError::OwnerLength)
        );
    }

    #[test]
    fn service_name_rules_and_derivation() {
        assert!(ServiceName::parse("my-app-2").is_ok());
        assert_eq!(ServiceName::parse("2app"), Err(NameError::ServiceNameStart));
        assert_eq!(
            ServiceName::parse("my_app"),
            Err(NameError::ServiceNameCharacters)
        );
        assert_eq!(
            ServiceName::parse("app-"),
            Err(NameError::ServiceNameHyphens)
        );
        assert_eq!(
            ServiceName::parse(&"a".repeat(64)),
            Err(NameError::ServiceNameLength)
        );
        let derived = |s| ServiceName::from_repo_name(s).map(|n| n.to_string());
        assert_eq!(derived("My_Cool.App"), Some("my-cool-app".into()));
        assert_eq!(derived("2048-game"), Some("game".into()));
        assert_eq!(derived("___"), None);
        let base = ServiceName::parse("shop").expect("valid");
        assert_eq!(
            base.with_suffix("Web_UI").map(|n| n.to_string()),
            Some("shop-web-ui".into())
        );
    }

    #[test]
    fn branch_rules() {
        for ok in ["main", "feature/x-1", "release-1.2", "a@b"] {
            assert!(BranchName::parse(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", NameError::BranchLength),
            ("a b", NameError::BranchCharacters),
            ("a~1", NameError::BranchCharacters),
            ("-x", NameError::BranchEnds),
            ("x/", NameError::BranchEnds),
            ("x.", NameError::BranchEnds),
            ("a//b", NameError::BranchEnds),
            ("a..b", NameError::BranchSequence),
            ("a@{1}", NameError::BranchSequence),
            ("@", NameError::BranchSequence),
            ("a/.hidden", NameError::BranchComponent),
            ("x.lock", NameError::BranchComponent),
        ];
        for (input, err) in cases {
            assert_eq!(BranchName::parse(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn env_var_key_and_value() {
        assert!(EnvVarKey::parse("_DATABASE_URL2").is_ok());
        assert_eq!(EnvVarKey::parse("1X"), Err(NameError::EnvVarKeyCharacters));
        assert_eq!(EnvVarKey::parse("A-B"), Err(NameError::EnvVarKeyCharacters));
        assert_eq!(EnvVarKey::parse(""), Err(NameError::EnvVarKeyLength));
        let value = EnvVarValue::parse("hunter2").expect("valid");
        assert_eq!(value.expose(), "hunter2");
        assert!(!format!("{value:?}").contains("hunter2"));
        let too_long = "x".repeat(EnvVarValue::MAX_LEN + 1);
        assert!(matches!(
            EnvVarValue::parse(&too_long),
            Err(NameError::EnvVarValueLength)
        ));
        let parsed: EnvVarValue = serde_json::from_str("\"s3cret\"").expect("valid");
        assert!(!format!("{parsed:?}").contains("s3cret"));
    }

    #[test]
    fn enums_use_render_spelling_and_reject_unknown() {
        assert_eq!(
            serde_json::to_string(&InstancePlan::StarterPlus).expect("serialize"),
            "\"starter_plus\""
        );
        assert_eq!("ohio".parse(), Ok(Region::Ohio));
        assert_eq!("mars".parse::<Region>(), Err(NameError::UnknownRegion));
        assert!(serde_json::from_str::<Region>("\"mars\"").is_err());
        assert!(serde_json::from_str::<InstancePlan>("\"gold\"").is_err());
        assert!(!InstancePlan::Free.is_paid_plan());
        assert!(InstancePlan::Pro.is_paid_plan());
    }

    #[test]
    fn root_dir_rules() {
        assert_eq!(
            RootDir::parse("apps/web/").map(|d| d.to_string()),
            Ok("apps/web".into())
        );
        assert_eq!(RootDir::parse("/etc"), Err(NameError::RootDirAbsolute));
        assert_eq!(RootDir::parse("a/../b"), Err(NameError::RootDirTraversal));
        assert_eq!(RootDir::parse("./a"), Err(NameError::RootDirTraversal));
        assert_eq!(RootDir::parse("a\\b"), Err(NameError::RootDirCharacters));
        assert_eq!(RootDir::parse("a\nb"), Err(NameError::RootDirCharacters));
        assert_eq!(RootDir::parse(""), Err(NameError::RootDirLength));
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        assert!(serde_json::from_str::<RepoSlug>("\"a/b\"").is_ok());
        assert!(serde_json::from_str::<RepoSlug>("\"a\"").is_err());
        assert!(serde_json::from_str::<ServiceName>("\"Bad\"").is_err());
        let name = ServiceName::parse("ok").expect("valid");
        assert_eq!(serde_json::to_string(&name).expect("serialize"), "\"ok\"");
    }

    proptest! {
        #[test]
        fn valid_repo_slugs_parse(owner in "[a-zA-Z0-9]([a-zA-Z0-9]|-[a-zA-Z0-9]){0,18}",
                                  name in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}") {
            let slug = RepoSlug::parse(&format!("{owner}/{name}")).expect("valid slug");
            prop_assert_eq!(slug.owner(), owner.as_str());
            prop_assert_eq!(slug.name(), name.as_str());
        }

        #[test]
        fn repo_slug_parse_roundtrips_or_rejects(s in "\\PC{0,50}") {
            if let Ok(slug) = RepoSlug::parse(&s) {
                prop_assert_eq!(slug.to_string(), s);
                prop_assert_eq!(slug.owner().len() + slug.name().len() + 1, slug.as_ref().len());
            }
        }

        #[test]
        fn derived_service_names_are_always_valid(s in "\\PC{0,120}") {
            if let Some(name) = ServiceName::from_repo_name(&s) {
                prop_assert!(ServiceName::parse(name.as_ref()).is_ok());
            }
        }

        #[test]
        fn service_names_never_hold_invalid_chars(s in "\\PC{0,80}") {
            if let Ok(name) = ServiceName::parse(&s) {
                prop_assert!(name.as_ref().len() <= ServiceName::MAX_LEN);
                prop_assert!(name.as_ref().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }

        #[test]
        fn valid_branches_parse(s in "[a-z0-9][a-z0-9_-]{0,20}(/[a-z0-9][a-z0-9_-]{0,20}){0,3}") {
            prop_assert!(BranchName::parse(&s).is_ok());
        }

        #[test]
        fn branches_never_hold_forbidden_sequences(s in "\\PC{0,60}") {
            if let Ok(b) = BranchName::parse(&s) {
                prop_assert!(!b.as_ref().contains("..") && !b.as_ref().contains(' '));
            }
        }

        #[test]
        fn env_var_keys(s in "[A-Za-z_][A-Za-z0-9_]{0,255}", junk in "\\PC{0,20}") {
            prop_assert!(EnvVarKey::parse(&s).is_ok());
            if let Ok(k) = EnvVarKey::parse(&junk) {
                prop_assert!(!k.as_ref().starts_with(|c: char| c.is_ascii_digit()));
            }
        }

        #[test]
        fn env_var_values_never_show_in_debug(s in "[a-z]{8,40}") {
            let v = EnvVarValue::parse(&s).expect("short values are valid");
            let shown = format!("{v:?}");
            prop_assert!(!shown.contains(&s));
        }

        #[test]
        fn enums_roundtrip(i in 0usize..10) {
            let plan: InstancePlan = InstancePlan::NAMES[i].parse().expect("known");
            prop_assert_eq!(plan.as_str(), InstancePlan::NAMES[i]);
            let region: Region = Region::NAMES[i % Region::NAMES.len()].parse().expect("known");
            prop_assert_eq!(region.to_string(), Region::NAMES[i % Region::NAMES.len()]);
        }

        #[test]
        fn root_dirs_stay_inside_the_repo(s in "\\PC{0,60}") {
            if let Ok(d) = RootDir::parse(&s) {
                prop_assert!(!d.as_ref().starts_with('/'));
                prop_assert!(d.as_ref().split('/').all(|p| !p.is_empty() && p != ".."));
            }
        }
    }
}
