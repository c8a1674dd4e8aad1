//! The small HTML answers of the login flow (the full pages live in `web`).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub next_href: &'a str,
    pub next_label: &'a str,
    /// A same-origin path to move on to at once (after a login with
    /// SameSite=Strict cookies, which a cross-site redirect would not carry).
    pub refresh_to: Option<&'a str>,
}

impl MessagePage<'_> {
    pub fn respond(&self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => {
                tracing::error!(%error, "template failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
