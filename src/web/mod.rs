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
