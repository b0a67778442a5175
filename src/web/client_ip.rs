//! The address a request comes from, for sign-in throttling and the sign-in log: the TCP peer,
//! or behind a reverse proxy the header that proxy sets (`oidc.client_address`), read by the
//! maintained `client-ip` crate. Only the value the proxy itself wrote counts: the rightmost
//! `X-Forwarded-For` entry (entries before it are whatever the client chose to send), or a
//! single-valued header such as `X-Real-IP`. A missing or malformed header is an error, logged
//! once, and the request counts under the peer's address: never under one the client chose.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::server::AppState;

/// Where the client address comes from (`oidc.client_address`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressSource {
    /// The TCP peer: no proxy in front.
    #[default]
    Peer,
    /// The last `X-Forwarded-For` entry, appended by the one proxy in front (nginx, HAProxy,
    /// most load balancers).
    RightmostXForwardedFor,
    /// `X-Real-IP`, set by the proxy in front (nginx).
    XRealIp,
    /// `CF-Connecting-IP` (Cloudflare).
    CfConnectingIp,
    /// `True-Client-IP` (Akamai, Cloudflare Enterprise).
    TrueClientIp,
}

#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The client address of a request with `headers` from `peer`, read from `source`.
pub fn client_address(
    source: AddressSource,
    headers: &HeaderMap,
    peer: IpAddr,
) -> Result<IpAddr, client_ip::Error> {
    match source {
        AddressSource::Peer => Ok(peer),
        AddressSource::RightmostXForwardedFor => client_ip::rightmost_x_forwarded_for(headers),
        AddressSource::XRealIp => client_ip::x_real_ip(headers),
        AddressSource::CfConnectingIp => client_ip::cf_connecting_ip(headers),
        AddressSource::TrueClientIp => client_ip::true_client_ip(headers),
    }
}

/// Whether the header error has been logged (once per process: a misconfigured proxy sends it
/// with every request).
static REPORTED: AtomicBool = AtomicBool::new(false);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let source = state.settings.oidc.address_source();
        match client_address(source, &parts.headers, peer) {
            Ok(ip) => Ok(ClientIp(ip)),
            Err(e) => {
                if !REPORTED.swap(true, Ordering::Relaxed) {
                    // The kind of error and the header's name only: its value is the client's.
                    let kind = match e {
                        client_ip::Error::AbsentHeader { .. } => "missing",
                        client_ip::Error::NonAsciiHeaderValue { .. } => "not ASCII",
                        client_ip::Error::MalformedHeaderValue { .. } => "malformed",
                        client_ip::Error::SingleHeaderRequired { .. } => "repeated",
                    };
                    tracing::error!(
                        ?source,
                        kind,
                        "the client address header set by the proxy is {kind}: requests count \
                         under the proxy's address; check oidc.client_address and the proxy \
                         (logged once)"
                    );
                }
                Ok(ClientIp(peer))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_what_the_proxy_wrote_counts() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let xff = AddressSource::RightmostXForwardedFor;
        let at = |source, pairs: &[(&'static str, &str)]| {
            client_address(source, &headers(pairs), peer).ok()
        };
        let proxy_wrote = Some("198.51.100.7".parse().unwrap());
        // The client's own entries come first; the proxy appends the peer it saw.
        let spoofed = [("x-forwarded-for", "203.0.113.1, 198.51.100.7")];
        assert_eq!(at(xff, &spoofed), proxy_wrote);
        // An unparseable last entry is an error, never the entry before it (the client's).
        assert_eq!(
            at(xff, &[("x-forwarded-for", "203.0.113.1, garbage")]),
            None
        );
        assert_eq!(at(xff, &[]), None, "a missing header is an error");
        // A second header: the last one, the proxy's.
        let two = [
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.7"),
        ];
        assert_eq!(at(xff, &two), proxy_wrote);
        assert_eq!(
            at(AddressSource::XRealIp, &[("x-real-ip", "198.51.100.7")]),
            proxy_wrote
        );
        // Without a proxy, headers are the client's words and are ignored.
        assert_eq!(at(AddressSource::Peer, &spoofed), Some(peer));
    }
}
