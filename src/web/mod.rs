//! What the provider's browser pages and the admin console share: CSRF tokens, the client's
//! address, the browser session, the security headers and page rendering. Knows no feature:
//! `oidc` and `admin` build their pages on it.

pub mod client_ip;
pub mod csrf;
pub mod headers;
pub mod look;
pub mod pages;
pub mod qr;
pub mod sessions;

/// The value of the cookie `name` among a request's `Cookie` headers, if it has one.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value)
}
