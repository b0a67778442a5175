//! The provider as the flow sees it: its issuer, its key ring, and the registered clients,
//! reduced to what the protocol needs. This is the one place that adapts the key ring and the
//! client registry (`keys.rs`, `clients.rs`) to the endpoints.

use std::path::Path;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::activity::Activity;
use crate::db::Store;
use crate::oidc::clients::{AuthMethod, Client};
use crate::oidc::error::{OidcError, OidcResult};
use crate::oidc::keys::{KeyRing, SigningSettings};
use crate::oidc::params::Params;
use crate::oidc::throttle::{Throttle, ThrottleSettings};

/// Scopes this provider understands.
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email"];

pub struct Provider {
    /// The issuer without a trailing slash.
    pub issuer: String,
    pub keys: KeyRing,
    /// Sign-in throttling, shared by instances through the database.
    pub throttle: Throttle,
    /// Sign-ins and tokens counted by the hour, for the console's Overview.
    pub activity: Arc<Activity>,
}

impl Provider {
    /// Loads (or on first start creates) the signing keys of `keys_dir`.
    pub async fn start(
        store: &Store,
        issuer: &str,
        keys_dir: &Path,
        signing: &SigningSettings,
        throttle: ThrottleSettings,
    ) -> anyhow::Result<Arc<Provider>> {
        let keys = KeyRing::load_or_init(store, keys_dir, issuer, signing).await?;
        let throttle = Throttle::new(store.clone(), throttle, keys.pepper().clone());
        Ok(Arc::new(Provider {
            issuer: issuer.to_string(),
            keys,
            throttle,
            activity: Arc::default(),
        }))
    }

    /// The registered client `client_id`, if any.
    pub async fn client(&self, store: &Store, client_id: &str) -> OidcResult<Option<Client>> {
        Ok(store.find_client(client_id).await?)
    }

    /// Authenticates the client of a back-channel request (RFC 6749 2.3.1): HTTP Basic
    /// (`client_secret_basic`), form fields (`client_secret_post`), or for a public client its
    /// `client_id` alone. Exactly one method may be used.
    pub async fn authenticate_client(
        &self,
        store: &Store,
        headers: &HeaderMap,
        params: &Params,
    ) -> OidcResult<(Client, AuthMethod)> {
        let basic = match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().map_err(|_| {
                    OidcError::invalid_client("malformed Authorization header", true)
                })?;
                match value.split_once(' ') {
                    Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                        Some(parse_basic(credentials.trim()).ok_or_else(|| {
                            OidcError::invalid_client("malformed Basic credentials", true)
                        })?)
                    }
                    _ => {
                        return Err(OidcError::invalid_client(
                            "only Basic client authentication is supported in the \
                             Authorization header",
                            true,
                        ))
                    }
                }
            }
            None => None,
        };
        if params.is_duplicated("client_id") || params.is_duplicated("client_secret") {
            return Err(OidcError::invalid_request(
                "client_id or client_secret is repeated",
            ));
        }
        let (client_id, secret, method) = match (basic, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OidcError::invalid_request(
                    "use one client authentication method, not Basic and client_secret both",
                ))
            }
            (Some((id, secret)), None) => {
                if params.get("client_id").is_some_and(|form_id| form_id != id) {
                    return Err(OidcError::invalid_request(
                        "client_id differs from the authenticated client",
                    ));
                }
                (id, Some(secret), AuthMethod::ClientSecretBasic)
            }
            (None, Some(secret)) => {
                let id = params.get("client_id").ok_or_else(|| {
                    OidcError::invalid_client("client_secret without client_id", false)
                })?;
                (
                    id.to_string(),
                    Some(secret.to_string()),
                    AuthMethod::ClientSecretPost,
                )
            }
            (None, None) => {
                let id = params.get("client_id").ok_or_else(|| {
                    OidcError::invalid_client("client authentication is required", true)
                })?;
                (id.to_string(), None, AuthMethod::None)
            }
        };
        let basic_used = method == AuthMethod::ClientSecretBasic;
        let unknown = || OidcError::invalid_client("client authentication failed", basic_used);
        let Some(registered) = store.find_client(&client_id).await? else {
            // Same answer and the same HMAC work as a wrong secret.
            if let Some(secret) = &secret {
                let _ = self.keys.pepper().verify(secret, "");
            }
            return Err(unknown());
        };
        match &secret {
            Some(secret) => {
                if registered.is_public() {
                    return Err(OidcError::invalid_client(
                        "this client is public and has no secret",
                        basic_used,
                    ));
                }
                if !registered.secret_matches(self.keys.pepper(), secret) {
                    tracing::info!(client_id = %client_id, "client authentication failed");
                    return Err(unknown());
                }
            }
            None => {
                if !registered.is_public() {
                    return Err(OidcError::invalid_client(
                        "this client must authenticate with its secret",
                        true,
                    ));
                }
            }
        }
        if !registered.allows_auth_method(method) {
            return Err(OidcError::invalid_client(
                "this client is not registered for this authentication method",
                basic_used,
            ));
        }
        Ok((registered, method))
    }
}

/// What a verified `id_token_hint` says.
#[derive(Debug, Clone)]
pub struct IdTokenHint {
    pub client_id: String,
    pub sub: String,
}

/// An `id_token_hint` that is not an ID token this provider issued.
#[derive(Debug)]
pub struct NotIssuedHere;

impl Provider {
    /// The request's `id_token_hint`, if any, verified: an ID token this provider signed
    /// (expired ones are accepted, as OIDC Core 3.1.2.1 and RP-Initiated Logout allow; its
    /// audience may be another client).
    pub async fn id_token_hint(
        &self,
        params: &Params,
    ) -> Result<Option<IdTokenHint>, NotIssuedHere> {
        match params.get("id_token_hint") {
            None => Ok(None),
            Some(token) => self
                .verify_id_token_hint(token)
                .await
                .map(Some)
                .ok_or(NotIssuedHere),
        }
    }

    async fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let claims: serde_json::Map<String, serde_json::Value> =
            self.keys.verify(token, false).await.ok()?;
        if claims.get("iss").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return None;
        }
        let client_id = match claims.get("aud")? {
            serde_json::Value::String(aud) => aud.clone(),
            serde_json::Value::Array(auds) => auds.first()?.as_str()?.to_string(),
            _ => return None,
        };
        let sub = claims.get("sub")?.as_str()?.to_string();
        Some(IdTokenHint { client_id, sub })
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`.
fn parse_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(credentials).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = decode(id)?;
    let secret = decode(secret)?;
    if id.is_empty() {
        return None;
    }
    Some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let c = STANDARD.encode("my%20client:s%3Acret+x");
        assert_eq!(
            parse_basic(&c),
            Some(("my client".into(), "s:cret x".into()))
        );
        assert_eq!(parse_basic("!!!"), None);
        assert_eq!(parse_basic(&STANDARD.encode("nocolon")), None);
    }
}
