//! The security headers every response carries: a content security policy, anti-framing, no
//! referrer, no content sniffing. The provider's and the console's pages set their own policy;
//! every other answer (the admin API, the probes, metrics, errors of unknown paths) gets the
//! baseline one, so no route can be left without them.

use axum::http::{header, HeaderName, HeaderValue};
use tower::layer::util::{Identity, Stack};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

/// The provider's pages: no scripts, no framing, no third-party anything but the association's
/// logo (an `https:` image, see `branding`); inline style only for the built-in pages.
/// (`form-action` is left out on purpose: browsers apply it to the redirect that follows the
/// login form, which goes to the client's site.)
pub const PROVIDER_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' https:; base-uri 'none'; frame-ancestors 'none'";

/// The console's pages may also load their own scripts (the worksheet's copy buttons, the group
/// preview, the sign-in page's preview with the association's `https:` logo) and post their
/// forms to themselves only.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'unsafe-inline'; img-src 'self' https:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Answers that are never rendered as a page (JSON, plain text): nothing may load or frame them.
pub const BASELINE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

type SetHeader = SetResponseHeaderLayer<HeaderValue>;

/// The layer that sets them, replacing any a handler set.
pub type SecurityHeaders = ServiceBuilder<
    Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Identity>>>>,
>;

/// The security headers with `csp` as the content security policy, for a router's pages.
pub fn security_headers(csp: &'static str) -> SecurityHeaders {
    headers(csp, SetResponseHeaderLayer::overriding)
}

/// The headers of [`BASELINE_CSP`] on every response that has none yet: the outermost layer of
/// the whole application.
pub fn baseline_headers() -> SecurityHeaders {
    headers(BASELINE_CSP, SetResponseHeaderLayer::if_not_present)
}

/// `Cache-Control: no-store`, for answers about one caller (the admin API, including its
/// refusals).
pub fn no_store() -> SetHeader {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn headers(csp: &'static str, layer: fn(HeaderName, HeaderValue) -> SetHeader) -> SecurityHeaders {
    let set = |name, value| layer(name, HeaderValue::from_static(value));
    ServiceBuilder::new()
        .layer(set(header::CONTENT_SECURITY_POLICY, csp))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}
