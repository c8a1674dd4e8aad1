//! GitHub's OAuth App web flow: `GET /login/oauth/authorize` and `POST /login/oauth/access_token`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::faults::CredentialUsed;
use crate::ids;
use crate::state::{AppState, PendingCode};

const CODE_LIFETIME: time::Duration = time::Duration::minutes(10);
const DENIED_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied";
const TOKEN_ERRORS_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    login: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// Does `candidate` fit the app's single callback URL? Host (subdomains allowed) and port must
/// match and the path must be the callback path or below it; on a loopback callback any port
/// is accepted.
pub(crate) fn redirect_uri_matches(registered: &str, candidate: &str) -> bool {
    let (Ok(registered), Ok(candidate)) = (url::Url::parse(registered), url::Url::parse(candidate))
    else {
        return false;
    };
    let (Some(reg_host), Some(cand_host)) = (registered.host_str(), candidate.host_str()) else {
        return false;
    };
    let host_ok = cand_host.eq_ignore_ascii_case(reg_host)
        || cand_host
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", reg_host.to_ascii_lowercase()));
    let loopback = matches!(reg_host, "127.0.0.1" | "[::1]");
    let port_ok =
        loopback || registered.port_or_known_default() == candidate.port_or_known_default();
    let reg_path = registered.path().trim_end_matches('/');
    let cand_path = candidate.path();
    let path_ok = cand_path.trim_end_matches('/') == reg_path
        || cand_path.starts_with(&format!("{reg_path}/"));
    registered.scheme() == candidate.scheme() && host_ok && port_ok && path_ok
}

fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (key, value) in pairs {
                    if let Some(value) = value {
                        query.append_pair(key, value);
                    }
                }
            }
            url.into()
        }
        Err(_) => base.to_owned(),
    }
}

/// GitHub redirects with 302 Found.
fn found(target: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, target.to_owned())]).into_response()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) async fn authorize(
    State(state): State<AppState>,
    Query(params): Query<AuthorizeParams>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    let mut guard = state.lock();
    let Some(app) = params
        .client_id
        .as_deref()
        .and_then(|id| guard.oauth_apps.get(id))
        .cloned()
    else {
        return (StatusCode::NOT_FOUND, Html("<h1>404: Not Found</h1>")).into_response();
    };
    let redirect_uri = params
        .redirect_uri
        .clone()
        .unwrap_or_else(|| app.redirect_uri.clone());
    let state_param = params.state.as_deref();
    if !redirect_uri_matches(&app.redirect_uri, &redirect_uri) {
        let target = with_query(
            &app.redirect_uri,
            &[
                ("error", Some("redirect_uri_mismatch")),
                (
                    "error_description",
                    Some(
                        "The redirect_uri MUST match the registered callback URL for this application.",
                    ),
                ),
                ("error_uri", Some(TOKEN_ERRORS_URI)),
                ("state", state_param),
            ],
        );
        return found(&target);
    }
    if params
        .code_challenge_method
        .as_deref()
        .is_some_and(|m| m != "S256")
    {
        let target = with_query(
            &redirect_uri,
            &[
                ("error", Some("invalid_request")),
                (
                    "error_description",
                    Some("code_challenge_method must be S256."),
                ),
                ("state", state_param),
            ],
        );
        return found(&target);
    }

    let user_id = params
        .login
        .as_deref()
        .and_then(|login| guard.github_user_by_login(login))
        .map(|user| user.id);
    let Some(user_id) = user_id else {
        let logins: Vec<String> = guard
            .github_users
            .values()
            .map(|u| u.login.clone())
            .collect();
        drop(guard);
        return picker_page(
            &state,
            raw_query.as_deref(),
            &logins,
            &redirect_uri,
            state_param,
        )
        .into_response();
    };
    let code = ids::oauth_code();
    guard.oauth_codes.insert(
        code.clone(),
        PendingCode {
            client_id: app.client_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: params.code_challenge.clone(),
            user_id,
            scope: params.scope.clone().unwrap_or_default(),
            expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
        },
    );
    drop(guard);
    found(&with_query(
        &redirect_uri,
        &[("code", Some(&code)), ("state", state_param)],
    ))
}

/// The consent page: one link per user (the same request plus `login=`), and Cancel.
fn picker_page(
    state: &AppState,
    raw_query: Option<&str>,
    logins: &[String],
    redirect_uri: &str,
    state_param: Option<&str>,
) -> Html<String> {
    let authorize_url = format!("{}/login/oauth/authorize", state.base_url());
    let kept: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
            .filter(|(key, _)| key != "login")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let mut items = String::new();
    for login in logins {
        let mut pairs: Vec<(&str, Option<&str>)> = kept
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        pairs.push(("login", Some(login)));
        let href = with_query(&authorize_url, &pairs);
        items.push_str(&format!(
            "<li><a class=\"user\" href=\"{}\">Authorize as {}</a></li>\n",
            escape_html(&href),
            escape_html(login)
        ));
    }
    let cancel = with_query(
        redirect_uri,
        &[
            ("error", Some("access_denied")),
            (
                "error_description",
                Some("The user has denied your application access."),
            ),
            ("error_uri", Some(DENIED_URI)),
            ("state", state_param),
        ],
    );
    Html(format!(
        "<!doctype html>\n<html><head><title>Authorize application</title></head><body>\n\
         <h1>Authorize application (GitHub emulator)</h1>\n<ul>\n{items}</ul>\n\
         <a id=\"cancel\" href=\"{}\">Cancel</a>\n</body></html>\n",
        escape_html(&cancel)
    ))
}

#[derive(Debug, Clone, Copy)]
enum TokenError {
    IncorrectClientCredentials,
    RedirectUriMismatch,
    BadVerificationCode,
}

impl TokenError {
    fn code(self) -> &'static str {
        match self {
            Self::IncorrectClientCredentials => "incorrect_client_credentials",
            Self::RedirectUriMismatch => "redirect_uri_mismatch",
            Self::BadVerificationCode => "bad_verification_code",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::IncorrectClientCredentials => {
                "The client_id and/or client_secret passed are incorrect."
            }
            Self::RedirectUriMismatch => {
                "The redirect_uri MUST match the registered callback URL for this application."
            }
            Self::BadVerificationCode => "The code passed is incorrect or expired.",
        }
    }
}

struct Grant {
    token: String,
    scope: String,
}

/// Parameters from the query, then the body (form, or JSON as some clients send).
fn token_params(
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &[u8],
) -> HashMap<String, String> {
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            for (key, value) in map {
                if let serde_json::Value::String(value) = value {
                    params.insert(key, value);
                }
            }
        }
    } else {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    params
}

/// Client credentials from HTTP Basic (form-urlencoded id and secret, as RFC 6749 §2.3.1 says).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

pub(crate) fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn normalize_scope(scope: &str) -> String {
    scope
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn exchange(
    state: &AppState,
    params: &HashMap<String, String>,
    client: Option<&(String, String)>,
) -> Result<Grant, TokenError> {
    let (client_id, client_secret) = client.ok_or(TokenError::IncorrectClientCredentials)?;
    let mut guard = state.lock();
    let app = guard
        .oauth_apps
        .get(client_id)
        .filter(|app| &app.client_secret == client_secret)
        .ok_or(TokenError::IncorrectClientCredentials)?;
    if params
        .get("redirect_uri")
        .is_some_and(|uri| !redirect_uri_matches(&app.redirect_uri, uri))
    {
        return Err(TokenError::RedirectUriMismatch);
    }
    // A code is spent by its first presentation, whatever the outcome.
    let pending = params
        .get("code")
        .and_then(|code| guard.oauth_codes.remove(code))
        .ok_or(TokenError::BadVerificationCode)?;
    if &pending.client_id != client_id || pending.expires_at < OffsetDateTime::now_utc() {
        return Err(TokenError::BadVerificationCode);
    }
    if params
        .get("redirect_uri")
        .is_some_and(|uri| uri != &pending.redirect_uri)
    {
        return Err(TokenError::RedirectUriMismatch);
    }
    if let Some(challenge) = &pending.code_challenge {
        let verified = params
            .get("code_verifier")
            .is_some_and(|verifier| &pkce_challenge(verifier) == challenge);
        if !verified {
            return Err(TokenError::BadVerificationCode);
        }
    }
    let token = ids::github_token();
    guard.github_tokens.insert(token.clone(), pending.user_id);
    Ok(Grant {
        token,
        scope: normalize_scope(&pending.scope),
    })
}

/// Always HTTP 200, errors included, as GitHub does; JSON when asked for, else form-encoded.
pub(crate) async fn access_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Response {
    let params = token_params(&headers, raw_query.as_deref(), &body);
    let client = match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => basic_credentials(&headers),
    };
    let result = exchange(&state, &params, client.as_ref());
    let fields: Vec<(&str, String)> = match &result {
        Ok(grant) => vec![
            ("access_token", grant.token.clone()),
            ("token_type", "bearer".to_owned()),
            ("scope", grant.scope.clone()),
        ],
        Err(error) => vec![
            ("error", error.code().to_owned()),
            ("error_description", error.description().to_owned()),
            ("error_uri", TOKEN_ERRORS_URI.to_owned()),
        ],
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut response = if wants_json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
            .collect();
        let mut response = axum::Json(map).into_response();
        super::set_json_content_type(&mut response);
        response
    } else {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        (
            [(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body,
        )
            .into_response()
    };
    if let Some((_, secret)) = client {
        response.extensions_mut().insert(CredentialUsed(secret));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules_follow_github() {
        let reg = "http://example.com/path";
        assert!(redirect_uri_matches(reg, "http://example.com/path"));
        assert!(redirect_uri_matches(
            reg,
            "http://example.com/path/subdir/other"
        ));
        assert!(redirect_uri_matches(reg, "http://oauth.example.com/path"));
        assert!(!redirect_uri_matches(reg, "http://example.com/bar"));
        assert!(!redirect_uri_matches(reg, "http://example.com/"));
        assert!(!redirect_uri_matches(reg, "http://example.com:8080/path"));
        assert!(!redirect_uri_matches(reg, "http://example.org/path"));
        assert!(!redirect_uri_matches(reg, "http://example.com/pathology"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1234/cb"
        ));
    }

    #[test]
    fn pkce_challenge_is_unpadded_base64url_of_sha256() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXFW-cXjk"),
            // Computed independently: base64.urlsafe_b64encode(sha256(v)).rstrip("=") in Python.
            "0NdviKR0XKn7UtomXpR7QCpZqhWvcd4vLgr-KCVYOww"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
