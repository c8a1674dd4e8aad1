//! Page handlers. Forms post here and call the same domain methods as the
//! JSON API; success redirects (303, post/redirect/get), failure shows the
//! page again with a message that says what to do next.

use std::convert::Infallible;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::form::{self, DeployForm, KeyForm};
use super::notice::Notice;
use super::views::{
    Account, DashboardPage, DeploymentPage, FormView, HistoryRow, LandingPage, PlanView,
    ServiceRow, login_href,
};
use crate::account::Presented;
use crate::app::AppState;
use crate::context::RequestContext;
use crate::domain::names::RepoSlug;
use crate::error::{AppError, AuthFailure};
use crate::http::auth::{removal_cookie, session_cookie};
use crate::http::deploy::{deploy_request, plan_request};
use crate::http::extract::{context, presented};
use crate::session::ActiveSession;

/// Deployments listed on the dashboard.
const HISTORY_ROWS: u32 = 50;

/// Renders a page; pages are per-user, so nothing may cache them.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // Under the global `no-referrer`, browsers send `Origin: null`
            // on form posts, which the CSRF guard rightly refuses; the
            // referrer still never leaves this origin.
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The caller as pages see them: by session cookie only, so a page never
/// acts on an `Authorization` header.
pub struct Visitor {
    ctx: RequestContext,
    session: Result<ActiveSession, AppError>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let ctx = context(parts, state);
        let session = match presented(parts, state) {
            cookie @ Presented::Cookie(_) => state.authenticate(cookie, &ctx).await,
            _ => Err(AppError::Unauthenticated(AuthFailure::Missing)),
        };
        Ok(Visitor { ctx, session })
    }
}

/// A logged-in visitor with a cookie session (and so a CSRF token).
pub struct Member {
    ctx: RequestContext,
    session: ActiveSession,
    account: Account,
}

impl FromRequestParts<AppState> for Member {
    /// The landing page, asking to log in and come back here (or to the
    /// dashboard after a form post).
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        Member::from_visitor(state, visitor).map_err(|error| {
            let back = match parts.uri.path_and_query() {
                Some(p) if parts.method == Method::GET => p.as_str(),
                _ => "/dashboard",
            };
            login_page(error, back, None)
        })
    }
}

impl Member {
    fn from_visitor(state: &AppState, visitor: Visitor) -> Result<Self, AppError> {
        let session = visitor.session?;
        let csrf = session
            .session_token()
            .map(|t| state.sessions.vault().csrf_token(t.secret()))
            .ok_or(AppError::Unauthenticated(AuthFailure::Missing))?;
        Ok(Member {
            account: Account {
                login: session.user().login,
                csrf,
            },
            ctx: visitor.ctx,
            session,
        })
    }
}

fn expired() -> Notice {
    Notice::info(
        "Your session expired",
        "Sessions end after a while without use, and the Render key in it ended too.",
        "Log in with GitHub again to continue.",
    )
}

/// The landing page asking to log in, coming back to `return_to`.
fn login_page(error: AppError, return_to: &str, repo: Option<String>) -> Response {
    let notice = match error {
        AppError::Unauthenticated(AuthFailure::Expired) => Some(expired()),
        AppError::Unauthenticated(_) => repo.is_none().then(|| {
            Notice::info(
                "Please log in",
                "This page is for logged-in users.",
                "Log in with GitHub to continue.",
            )
        }),
        other => Some(Notice::from_error(other).1),
    };
    page(
        StatusCode::OK,
        &LandingPage {
            notice,
            login_href: login_href(return_to),
            repo,
        },
    )
}

#[derive(Deserialize)]
pub struct LandingQuery {
    notice: Option<String>,
}

pub async fn landing(visitor: Visitor, Query(query): Query<LandingQuery>) -> Response {
    if visitor.session.is_ok() {
        return see_other("/dashboard");
    }
    let notice = match query.notice.as_deref() {
        Some("logged_out") => Some(Notice::info(
            "Logged out",
            "Your session and the Render key it held are gone.",
            "Log in again whenever you want to deploy.",
        )),
        Some("logged_out_everywhere") => Some(Notice::info(
            "Logged out everywhere",
            "Every session of your GitHub account has ended, on every device.",
            "Log in again whenever you want to deploy.",
        )),
        _ => match visitor.session {
            Err(AppError::Unauthenticated(AuthFailure::Expired)) => Some(expired()),
            _ => None,
        },
    };
    page(
        StatusCode::OK,
        &LandingPage {
            notice,
            login_href: login_href("/dashboard"),
            repo: None,
        },
    )
}

/// What a dashboard shows besides the defaults.
#[derive(Default)]
struct Extras {
    notice: Option<Notice>,
    form: FormView,
    plan: Option<PlanView>,
    pending_repo: Option<String>,
}

async fn dashboard_page(
    state: &AppState,
    member: Member,
    status: StatusCode,
    extras: Extras,
) -> Response {
    let Member {
        ctx,
        session,
        account,
    } = member;
    let view = match state.render_status(session.clone(), &ctx).await {
        Ok(view) => view,
        Err(error) => return login_page(error, "/dashboard", None),
    };
    let (services, services_note) = if !view.render.verified {
        (None, "Set a Render API key to see your services.")
    } else {
        match state.list_services(&session).await {
            Ok(list) => (Some(list.into_iter().map(ServiceRow::from).collect()), ""),
            Err(error) => {
                tracing::warn!(%error, request_id = %ctx.request_id, "could not list services");
                (
                    None,
                    "Render did not answer with your services just now; reload the page to try again.",
                )
            }
        }
    };
    let history = match state
        .history
        .list_for_user(session.user_id(), HISTORY_ROWS)
        .await
    {
        Ok(rows) => rows.into_iter().map(HistoryRow::from).collect(),
        Err(error) => {
            tracing::warn!(%error, request_id = %ctx.request_id, "could not read deployment history");
            Vec::new()
        }
    };
    page(
        status,
        &DashboardPage {
            account,
            notice: extras.notice,
            status: view,
            pending_repo: extras.pending_repo,
            form: extras.form,
            plan: extras.plan,
            services,
            services_note,
            history,
        },
    )
}

/// The dashboard again, with the failure explained.
async fn dashboard_failure(
    state: &AppState,
    member: Member,
    error: AppError,
    form: FormView,
) -> Response {
    if matches!(error, AppError::Unauthenticated(_)) {
        return login_page(error, "/dashboard", None);
    }
    let (status, notice) = Notice::from_error(error);
    let extras = Extras {
        notice: Some(notice),
        form,
        ..Extras::default()
    };
    dashboard_page(state, member, status, extras).await
}

#[derive(Deserialize)]
pub struct DashboardQuery {
    done: Option<String>,
}

pub async fn dashboard(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<DashboardQuery>,
) -> Response {
    let notice = match query.done.as_deref() {
        Some("key_saved") => Some(Notice::info(
            "Render API key saved",
            "Render accepted the key. It is sealed in this session and leaves with it.",
            "Pick a repository below and preview the deploy.",
        )),
        Some("cleared") => Some(Notice::info(
            "Credentials cleared",
            "The Render key is gone from this session.",
            "Paste a key again when you want to deploy.",
        )),
        _ => None,
    };
    let extras = Extras {
        notice,
        ..Extras::default()
    };
    dashboard_page(&state, member, StatusCode::OK, extras).await
}

/// `/deploy?repo=…` for this repository (the path is built from a valid slug).
fn one_click_path(repo: &RepoSlug) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(repo.as_ref().as_bytes()).collect();
    format!("/deploy?repo={encoded}")
}

pub async fn set_key(
    State(state): State<AppState>,
    member: Member,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let form: KeyForm = match form::parse(&body) {
        Ok(form) => form,
        Err(error) => return dashboard_failure(&state, member, error, FormView::default()).await,
    };
    let back_to = form.repo.as_deref().and_then(|r| RepoSlug::parse(r).ok());
    let result = state
        .setup_render_key(member.session.clone(), form.api_key, None, &member.ctx)
        .await;
    match result {
        // Setup gave the session a new token: the browser must get it.
        Ok((session, _)) => {
            let jar = match session.session_token() {
                Some(token) => jar.add(session_cookie(&state.config.cookies, token)),
                None => jar,
            };
            let to = back_to
                .as_ref()
                .map_or_else(|| "/dashboard?done=key_saved".to_owned(), one_click_path);
            (jar, see_other(&to)).into_response()
        }
        Err(error) => {
            let form = back_to
                .as_ref()
                .map(|r| FormView::for_repo(r.as_ref()))
                .unwrap_or_default();
            if matches!(error, AppError::Unauthenticated(_)) {
                return login_page(error, "/dashboard", None);
            }
            let (status, notice) = Notice::from_error(error);
            let extras = Extras {
                notice: Some(notice),
                pending_repo: back_to.map(|r| r.to_string()),
                form,
                plan: None,
            };
            dashboard_page(&state, member, status, extras).await
        }
    }
}

pub async fn clear(State(state): State<AppState>, member: Member) -> Response {
    match state
        .clear_render_key(member.session.clone(), &member.ctx)
        .await
    {
        Ok(_) => see_other("/dashboard?done=cleared"),
        Err(error) => dashboard_failure(&state, member, error, FormView::default()).await,
    }
}

/// Plans a repository for the dashboard: the key must be set, as for the API.
async fn preview_plan(
    state: &AppState,
    member: &Member,
    form: &DeployForm,
) -> Result<PlanView, AppError> {
    let request = plan_request(form.plan_body())?;
    AppState::require_render_key(&member.session)?;
    let plan = state.plan(&member.session, request).await?;
    Ok(PlanView::from(&plan))
}

pub async fn preview(State(state): State<AppState>, member: Member, body: Bytes) -> Response {
    let form = match DeployForm::parse(&body) {
        Ok(form) => form,
        Err(error) => return dashboard_failure(&state, member, error, FormView::default()).await,
    };
    match preview_plan(&state, &member, &form).await {
        Ok(plan) => {
            let extras = Extras {
                notice: None,
                form: form.view(),
                plan: Some(plan),
                pending_repo: None,
            };
            dashboard_page(&state, member, StatusCode::OK, extras).await
        }
        Err(error) => dashboard_failure(&state, member, error, form.view()).await,
    }
}

pub async fn deploy(State(state): State<AppState>, member: Member, body: Bytes) -> Response {
    let form = match DeployForm::parse(&body) {
        Ok(form) => form,
        Err(error) => return dashboard_failure(&state, member, error, FormView::default()).await,
    };
    let shown = form.view();
    let result = match deploy_request(form.deploy_body()) {
        Ok(request) => state.deploy(&member.session, request, &member.ctx).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(view) => see_other(&format!("/deployments/{}", view.record.id)),
        Err(error) => dashboard_failure(&state, member, error, shown).await,
    }
}

#[derive(Deserialize)]
pub struct OneClickQuery {
    repo: Option<String>,
}

/// `/deploy?repo=owner/name`: login (coming back here), key setup (coming
/// back here), then the preview with the deploy form filled in.
pub async fn one_click(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<OneClickQuery>,
) -> Response {
    let repo = query.repo.as_deref().map(|r| RepoSlug::parse(r.trim()));
    let member = match Member::from_visitor(&state, visitor) {
        Ok(member) => member,
        Err(error) => {
            return match repo {
                Some(Ok(repo)) => login_page(error, &one_click_path(&repo), Some(repo.to_string())),
                _ => login_page(error, "/dashboard", None),
            };
        }
    };
    let repo = match repo {
        Some(Ok(repo)) => repo,
        Some(Err(e)) => {
            let error = AppError::invalid("repo", e);
            return dashboard_failure(&state, member, error, FormView::default()).await;
        }
        None => return see_other("/dashboard"),
    };
    let form = FormView::for_repo(repo.as_ref());
    if AppState::require_render_key(&member.session).is_err() {
        let extras = Extras {
            notice: Some(Notice::info(
                &format!("Deploy {repo}"),
                "One step before the preview: this session has no working Render API key yet.",
                "Paste your Render API key below; you will come back to this deploy.",
            )),
            pending_repo: Some(repo.to_string()),
            form,
            plan: None,
        };
        return dashboard_page(&state, member, StatusCode::OK, extras).await;
    }
    match preview_plan(&state, &member, &DeployForm::for_repo(repo.as_ref())).await {
        Ok(plan) => {
            let extras = Extras {
                notice: None,
                form,
                plan: Some(plan),
                pending_repo: None,
            };
            dashboard_page(&state, member, StatusCode::OK, extras).await
        }
        Err(error) => dashboard_failure(&state, member, error, form).await,
    }
}

pub async fn deployment(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
) -> Response {
    let found = match Uuid::parse_str(&id) {
        Ok(id) => state.deployment_view(&member.session, id).await,
        Err(_) => Err(AppError::NotFound),
    };
    match found {
        Ok(view) => page(StatusCode::OK, &DeploymentPage::new(member.account, view)),
        Err(error) => dashboard_failure(&state, member, error, FormView::default()).await,
    }
}

fn logged_out(state: &AppState, jar: CookieJar, notice: &str) -> Response {
    let jar = jar.remove(removal_cookie(
        &state.config.cookies,
        state.config.cookies.session_cookie_name(),
    ));
    (jar, see_other(&format!("/?notice={notice}"))).into_response()
}

/// Logging out with an already ended session still clears the cookie.
pub async fn logout(State(state): State<AppState>, visitor: Visitor, jar: CookieJar) -> Response {
    if let Ok(session) = &visitor.session
        && let Err(error) = state.logout(session, &visitor.ctx).await
    {
        let (status, notice) = Notice::from_error(error);
        return page(
            status,
            &LandingPage {
                notice: Some(notice),
                login_href: login_href("/dashboard"),
                repo: None,
            },
        );
    }
    logged_out(&state, jar, "logged_out")
}

pub async fn logout_everywhere(
    State(state): State<AppState>,
    member: Member,
    jar: CookieJar,
) -> Response {
    match state.logout_everywhere(&member.session, &member.ctx).await {
        Ok(_) => logged_out(&state, jar, "logged_out_everywhere"),
        Err(error) => dashboard_failure(&state, member, error, FormView::default()).await,
    }
}
