//! The provider's HTML pages (askama templates in `templates/`) and the security headers every
//! page and endpoint of the provider carries.

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// No scripts, no framing, no third-party anything; inline style only for the built-in pages.
/// (`form-action` is left out on purpose: browsers apply it to the redirect that follows the
/// login form, which goes to the client's site.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Adds CSP, anti-framing, referrer and content-type headers to every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub error: Option<&'a str>,
    pub email: &'a str,
    pub csrf_token: &'a str,
    /// The authorization request, carried through the form.
    pub params: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub action: &'a str,
    pub issuer: &'a str,
    pub csrf_token: &'a str,
    pub params: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

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

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { title, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let page = LoginPage {
            action: "/login",
            client_name: "<script>x</script>",
            error: Some("bad \"quote\""),
            email: "a@b.c\"><script>",
            csrf_token: "t",
            params: vec![("state".into(), "\"><img src=x>".into())],
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("\"><img"), "{html}");
        assert!(html.contains("name=\"csrf_token\" value=\"t\""));
    }
}
