//! The security headers every page and endpoint of the provider and the console carries: a
//! content security policy, anti-framing, no referrer, no content sniffing.

use axum::http::{header, HeaderValue};
use tower::layer::util::{Identity, Stack};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

/// The provider's pages: no scripts, no framing, no third-party anything; inline style only for
/// the built-in pages. (`form-action` is left out on purpose: browsers apply it to the redirect
/// that follows the login form, which goes to the client's site.)
pub const PROVIDER_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The console's pages may also load their own scripts (the worksheet's copy buttons, the group
/// preview) and post their forms to themselves only.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

type SetHeader = SetResponseHeaderLayer<HeaderValue>;

/// The layer that sets them, replacing any a handler set.
pub type SecurityHeaders = ServiceBuilder<
    Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Identity>>>>,
>;

/// The security headers with `csp` as the content security policy.
pub fn security_headers(csp: &'static str) -> SecurityHeaders {
    let set =
        |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    ServiceBuilder::new()
        .layer(set(header::CONTENT_SECURITY_POLICY, csp))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}
