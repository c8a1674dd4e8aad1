//! GitHub login: the OAuth web flow with `state` and PKCE S256 (the `oauth2`
//! crate), and the check of `return_to` targets.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::Config;
use crate::credentials::GitHubToken;
use crate::error::AppError;
use crate::upstream::{UnavailableReason, Upstream, UpstreamError};

type GitHubOAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the short-lived login cookie carries between the redirect to GitHub
/// and the callback. The cookie is encrypted and authenticated by the
/// server (a private cookie), so the client can neither read nor forge it.
#[derive(Serialize, Deserialize)]
pub struct LoginAttempt {
    pub state: String,
    pub verifier: String,
    pub return_to: String,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

pub struct OAuth {
    client: GitHubOAuthClient,
    http: reqwest::Client,
    scopes: Vec<String>,
}

impl OAuth {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let base = &config.github_oauth_url;
        let client = BasicClient::new(ClientId::new(config.github_client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.github_client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(base.join("/login/oauth/authorize")?))
            .set_token_uri(TokenUrl::from_url(base.join("/login/oauth/access_token")?))
            .set_redirect_uri(RedirectUrl::from_url(config.oauth_redirect_uri()));
        // The token endpoint must never be followed elsewhere (SSRF), and a
        // slow GitHub must not hold the callback open.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.upstream_timeout)
            .connect_timeout(config.upstream_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("render-deployer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            http,
            scopes: config.github_scopes.clone(),
        })
    }

    /// The GitHub authorize URL and the attempt to remember in the cookie.
    pub fn start(&self, return_to: String) -> (Url, LoginAttempt) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let attempt = LoginAttempt {
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to,
        };
        (url, attempt)
    }

    /// Compares `state` (constant time) before exchanging the code.
    pub async fn finish(
        &self,
        attempt: LoginAttempt,
        state: &str,
        code: &str,
    ) -> Result<GitHubToken, AppError> {
        let same: bool = attempt.state.as_bytes().ct_eq(state.as_bytes()).into();
        if !same {
            return Err(AppError::LoginFailed("state_mismatch"));
        }
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.verifier))
            .request_async(&TokenEndpoint(&self.http))
            .await
            .map_err(exchange_error)?;
        let secret = SecretString::from(token.access_token().secret().to_owned());
        GitHubToken::parse(secret.expose_secret()).ok_or(AppError::LoginFailed("token_malformed"))
    }
}

/// The HTTP client for the token exchange. GitHub answers a bad code with
/// HTTP 200 and an error body; a 5xx or 429 is GitHub being down or
/// throttling, which must read as an upstream failure, not as a refused login.
struct TokenEndpoint<'a>(&'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for TokenEndpoint<'_> {
    type Error = TokenEndpointError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TokenEndpointError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.call(request).await?;
            let status = response.status();
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(TokenEndpointError::Status(status.as_u16()));
            }
            Ok(response)
        })
    }
}

/// Why the token endpoint gave no usable answer, before its body is read.
#[derive(Debug, thiserror::Error)]
enum TokenEndpointError {
    #[error("token endpoint unreachable")]
    Transport(#[from] oauth2::HttpClientError<reqwest::Error>),
    #[error("token endpoint answered status {0}")]
    Status(u16),
}

fn github_unavailable(reason: UnavailableReason) -> AppError {
    AppError::Upstream(UpstreamError::Unavailable {
        upstream: Upstream::GitHub,
        reason,
    })
}

fn exchange_error(
    error: RequestTokenError<TokenEndpointError, oauth2::basic::BasicErrorResponse>,
) -> AppError {
    match error {
        // GitHub's refusal of the code: an OAuth error body, usually with 200.
        RequestTokenError::ServerResponse(_) => AppError::LoginFailed("code_rejected"),
        RequestTokenError::Parse(_, body) => {
            let is_oauth_error = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v.get("error").is_some_and(serde_json::Value::is_string));
            if is_oauth_error {
                AppError::LoginFailed("code_rejected")
            } else {
                github_unavailable(UnavailableReason::Malformed)
            }
        }
        RequestTokenError::Request(TokenEndpointError::Status(429)) => {
            AppError::Upstream(UpstreamError::RateLimited {
                upstream: Upstream::GitHub,
                retry_after: None,
            })
        }
        RequestTokenError::Request(TokenEndpointError::Status(_)) => {
            github_unavailable(UnavailableReason::ServerError)
        }
        RequestTokenError::Request(TokenEndpointError::Transport(e)) => github_unavailable(
            if matches!(&e, oauth2::HttpClientError::Reqwest(r) if r.is_timeout()) {
                UnavailableReason::Timeout
            } else {
                UnavailableReason::Connect
            },
        ),
        RequestTokenError::Other(_) => github_unavailable(UnavailableReason::Malformed),
    }
}

/// `return_to` is honoured only as a same-origin path: `/x`, never `//host`,
/// `/\host`, a scheme, or control characters. Anything else means `/`.
pub fn safe_return_to(raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return "/".into();
    };
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && raw.len() <= 512
        && !raw.chars().any(|c| c.is_control() || c == '\\');
    if ok { raw.to_owned() } else { "/".into() }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_accepts_only_same_origin_paths() {
        assert_eq!(safe_return_to(Some("/deploy?repo=a/b")), "/deploy?repo=a/b");
        for hostile in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/%0d%0a\r\nx",
            "javascript:alert(1)",
            "evil.example",
            "/ok\\..\\x",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
