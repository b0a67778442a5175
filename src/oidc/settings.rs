//! Settings of the provider's flow (`[oidc]`): lifetimes of what it hands out, and where the
//! client address comes from.

use serde::{Deserialize, Serialize};

use crate::web::client_ip::AddressSource;

/// Lifetimes of what the provider hands out, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// Authorization codes (at most 60, RFC 9700).
    pub code_lifetime_secs: i64,
    pub access_token_lifetime_secs: i64,
    pub id_token_lifetime_secs: i64,
    /// Refresh tokens; each rotation starts a new lifetime.
    pub refresh_token_lifetime_secs: i64,
    /// A browser session ends after this long without use.
    pub session_lifetime_secs: i64,
    /// Where the client address (for sign-in throttling and the sign-in log) comes from: the
    /// TCP peer, or behind a reverse proxy the header it sets. Only when every request comes
    /// through that proxy.
    pub client_address: AddressSource,
    /// The earlier name of `client_address = "rightmost-x-forwarded-for"`.
    pub trust_forwarded_for: bool,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            code_lifetime_secs: 60,
            access_token_lifetime_secs: 3600,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            session_lifetime_secs: 8 * 3600,
            client_address: AddressSource::Peer,
            trust_forwarded_for: false,
        }
    }
}

impl OidcSettings {
    /// `client_address`, with the earlier `trust_forwarded_for` honoured.
    pub fn address_source(&self) -> AddressSource {
        match self.client_address {
            AddressSource::Peer if self.trust_forwarded_for => {
                AddressSource::RightmostXForwardedFor
            }
            source => source,
        }
    }

    /// The key, value and reason of the first value out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String, String)> {
        for (key, value, max) in [
            ("oidc.code_lifetime_secs", self.code_lifetime_secs, 60),
            (
                "oidc.access_token_lifetime_secs",
                self.access_token_lifetime_secs,
                24 * 3600,
            ),
            (
                "oidc.id_token_lifetime_secs",
                self.id_token_lifetime_secs,
                24 * 3600,
            ),
            (
                "oidc.refresh_token_lifetime_secs",
                self.refresh_token_lifetime_secs,
                365 * 24 * 3600,
            ),
            (
                "oidc.session_lifetime_secs",
                self.session_lifetime_secs,
                30 * 24 * 3600,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err((
                    key,
                    value.to_string(),
                    format!("must be between 1 and {max} seconds"),
                ));
            }
        }
        Ok(())
    }
}
