//! Rendering the HTML pages (askama templates in `templates/`) of the provider and the console:
//! never cached, and an error page both share.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tower_sessions::Session;

use crate::web::{csrf, look};

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Renders a template as an uncacheable HTML page.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Renders a page holding a form, handing it this session's CSRF token (see [`csrf`]).
pub async fn render_form<T: Template>(
    session: &Session,
    status: StatusCode,
    page: impl FnOnce(String) -> T,
) -> Result<Response, tower_sessions::session::Error> {
    let csrf_token = csrf::token(session).await?;
    Ok(render(status, &page(csrf_token)))
}

/// `response` with a `Retry-After` of `secs` seconds: a throttled form's page.
pub fn with_retry_after(mut response: Response, secs: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { title, message })
}

/// The page of a request that failed on our side (the cause is logged, never shown).
pub fn failure_page() -> Response {
    let look = look::current();
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        &look.t("error-title"),
        &look.t("error-failed"),
    )
}
