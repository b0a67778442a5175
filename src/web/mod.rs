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

/// Whether form-encoded text (a body or a query string) holds a NUL in a name or a value:
/// PostgreSQL cannot store one and SQLite would, so forms and queries holding one are refused
/// alike on both engines.
pub fn form_holds_nul(encoded: &[u8]) -> bool {
    form_urlencoded::parse(encoded).any(|(name, value)| name.contains('\0') || value.contains('\0'))
}

#[cfg(test)]
mod tests {
    use super::form_holds_nul;

    #[test]
    fn a_nul_anywhere_in_a_form_is_found() {
        assert!(!form_holds_nul(b"name=Ada&csrf_token=x%20y"));
        assert!(form_holds_nul(b"name=A%00da"));
        assert!(form_holds_nul(b"na%00me=Ada"));
        assert!(form_holds_nul(b"name=A\0da"));
    }
}
