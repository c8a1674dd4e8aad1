//! `/api/auth/*`: GitHub login, callback, logout, logout everywhere.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite as CookieSameSite};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Auth, Ctx};
use super::pages::MessagePage;
use crate::app::AppState;
use crate::config::{CookieSettings, SameSite};
use crate::credentials::SessionToken;
use crate::db::audit::{AuditKind, AuditStatus, ReasonCode};
use crate::error::AppError;
use crate::login::{LoginAttempt, safe_return_to};
use crate::ratelimit::client_network;

/// A login attempt must come back from GitHub within this time.
const LOGIN_ATTEMPT_TTL: Duration = Duration::from_secs(600);

fn same_site(settings: &CookieSettings) -> CookieSameSite {
    match settings.same_site {
        SameSite::Lax => CookieSameSite::Lax,
        SameSite::Strict => CookieSameSite::Strict,
    }
}

/// The session cookie: no Max-Age/Expires, so it ends with the browser.
pub fn session_cookie(settings: &CookieSettings, token: &SessionToken) -> Cookie<'static> {
    Cookie::build((
        settings.session_cookie_name(),
        token.secret().expose_secret().to_owned(),
    ))
    .path("/")
    .http_only(settings.http_only)
    .secure(settings.secure)
    .same_site(same_site(settings))
    .build()
}

/// Clears a cookie. It carries `Secure` like the cookie it clears: a browser
/// ignores a `__Host-` cookie set without it, removals included.
pub fn removal_cookie(settings: &CookieSettings, name: &'static str) -> Cookie<'static> {
    Cookie::build((name, ""))
        .path("/")
        .secure(settings.secure)
        .build()
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    jar: PrivateCookieJar,
    Query(query): Query<LoginQuery>,
) -> Result<(PrivateCookieJar, Redirect), ApiError> {
    if let Err(retry_after) = state.limits.login_ip.check(&client_network(ctx.client_ip)) {
        state.audit.record(ctx.event_because(
            None,
            AuditKind::RateLimited,
            AuditStatus::Denied,
            ReasonCode::new("login"),
        ));
        return Err(AppError::RateLimited { retry_after }.into());
    }
    let return_to = safe_return_to(query.return_to.as_deref());
    let (url, attempt) = state.oauth.start(return_to);
    let value = serde_json::to_string(&attempt).map_err(|_| ApiError::not_found())?;
    let settings = &state.config.cookies;
    // Lax whatever the session setting: the callback is a cross-site
    // navigation from GitHub, which a Strict cookie would not survive.
    let cookie = Cookie::build((settings.oauth_cookie_name(), value))
        .path("/")
        .http_only(true)
        .secure(settings.secure)
        .same_site(CookieSameSite::Lax)
        .max_age(
            LOGIN_ATTEMPT_TTL
                .try_into()
                .unwrap_or(time::Duration::minutes(10)),
        )
        .build();
    Ok((jar.add(cookie), Redirect::to(url.as_str())))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn failure_page(status: StatusCode, message: &str) -> Response {
    MessagePage {
        title: "GitHub login did not complete",
        message,
        next_href: "/api/auth/github/login",
        next_label: "Try logging in again",
        refresh_to: None,
    }
    .respond(status)
}

/// The login cookie is removed whatever the outcome; the state is compared
/// before the code is exchanged.
pub async fn callback(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    private: PrivateCookieJar,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let settings = state.config.cookies.clone();
    let attempt: Option<LoginAttempt> = private
        .get(settings.oauth_cookie_name())
        .and_then(|c| serde_json::from_str(c.value()).ok());
    let private = private.remove(removal_cookie(&settings, settings.oauth_cookie_name()));

    if query.error.is_some() {
        state.login_failed("access_denied", &ctx);
        let page = failure_page(
            StatusCode::BAD_REQUEST,
            "You cancelled the login on GitHub, so you are not logged in. Log in again when you are ready.",
        );
        return (private, page).into_response();
    }
    let (Some(attempt), Some(returned_state), Some(code)) = (attempt, query.state, query.code)
    else {
        state.login_failed("missing_attempt", &ctx);
        let page = failure_page(
            StatusCode::BAD_REQUEST,
            "This login link is not valid any more (it expired, or was started in another browser). Start the login again.",
        );
        return (private, page).into_response();
    };
    let return_to = attempt.return_to.clone();
    let result = match state.oauth.finish(attempt, &returned_state, &code).await {
        Ok(github_token) => {
            let previous = jar
                .get(settings.session_cookie_name())
                .and_then(|c| SessionToken::parse(c.value()));
            state.complete_login(github_token, previous, &ctx).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(session) => {
            let token = session
                .session_token()
                .expect("a login creates a cookie session")
                .clone();
            let jar = jar.add(session_cookie(&settings, &token));
            let to = safe_return_to(Some(&return_to));
            let next = if settings.same_site == SameSite::Strict {
                // A Strict cookie is not sent on a redirect chain that began
                // on github.com; a same-origin refresh carries it.
                MessagePage {
                    title: "Logged in",
                    message: "You are logged in with GitHub.",
                    next_href: &to,
                    next_label: "Continue",
                    refresh_to: Some(&to),
                }
                .respond(StatusCode::OK)
            } else {
                Redirect::to(&to).into_response()
            };
            (private, jar, next).into_response()
        }
        Err(AppError::LoginFailed(reason)) => {
            state.login_failed(reason, &ctx);
            let page = failure_page(
                StatusCode::BAD_REQUEST,
                "GitHub did not confirm this login. Start the login again.",
            );
            (private, page).into_response()
        }
        Err(error) => {
            state.login_failed("upstream_unavailable", &ctx);
            let api = ApiError::from(error);
            let page = failure_page(api.status, &api.message);
            (private, page).into_response()
        }
    }
}

fn logged_out(state: &AppState, jar: CookieJar) -> (CookieJar, StatusCode) {
    let jar = jar.remove(removal_cookie(
        &state.config.cookies,
        state.config.cookies.session_cookie_name(),
    ));
    (jar, StatusCode::NO_CONTENT)
}

pub async fn logout(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode), ApiError> {
    state.logout(&session, &ctx).await?;
    Ok(logged_out(&state, jar))
}

pub async fn logout_everywhere(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode), ApiError> {
    state.logout_everywhere(&session, &ctx).await?;
    Ok(logged_out(&state, jar))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Browsers drop a `__Host-` Set-Cookie without `Secure`, so a removal
    /// without it would leave the cookie in place.
    #[test]
    fn removals_of_secure_cookies_are_secure_too() {
        let settings = CookieSettings {
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
        };
        for name in [settings.session_cookie_name(), settings.oauth_cookie_name()] {
            let mut cookie = removal_cookie(&settings, name);
            cookie.make_removal();
            let header = cookie.to_string();
            assert!(header.starts_with("__Host-"), "{header}");
            assert!(header.contains("; Secure"), "{header}");
            assert!(header.contains("; Path=/"), "{header}");
        }
    }
}
