//! Registered OpenID Connect clients (relying parties), such as Higher Logic.
//!
//! Redirect URIs are compared as exact strings (RFC 9700 2.1). Secrets come from 256 bits of
//! OS randomness, are shown once, and are stored as HMAC-SHA256 under the pepper in the keys
//! folder: a fast keyed hash, since a 256-bit random secret needs no password stretching and
//! the token endpoint must not pay an argon2 cost per request.
//!
//! Here: what a client is and how a registration is checked; `registry` stores them.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use crate::db::{StoreError, StoreResult};
use crate::oidc::keys::Alg;
use crate::secrets::{self, Pepper};

mod registry;

/// Confidential clients hold a secret; public ones (apps in a browser or on a device) cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with client_id and secret.
    #[value(name = "client_secret_basic")]
    ClientSecretBasic,
    /// client_id and client_secret in the form body.
    #[value(name = "client_secret_post")]
    ClientSecretPost,
    /// Public clients: no secret (PKCE binds the code instead).
    #[value(name = "none")]
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered client.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    #[serde(skip)]
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    /// Exact strings; a request's `redirect_uri` must equal one of them.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub token_endpoint_auth_methods: Vec<AuthMethod>,
    /// Whether `/authorize` demands a PKCE S256 challenge. Always true for public clients.
    pub require_pkce: bool,
    pub id_token_signed_response_alg: Alg,
    #[serde(skip)]
    secret_hash: Option<String>,
    pub secret_set_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.client_type == ClientType::Public
    }

    /// Exact string comparison (RFC 9700 2.1): no normalisation, no prefix or pattern match.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.allowed_scopes.iter().any(|s| s == scope)
    }

    pub fn allows_auth_method(&self, method: AuthMethod) -> bool {
        self.token_endpoint_auth_methods.contains(&method)
    }

    /// Whether `secret` is this client's secret (constant-time; false for public clients).
    pub fn secret_matches(&self, pepper: &Pepper, secret: &str) -> bool {
        match &self.secret_hash {
            Some(stored) => pepper.verify(secret, stored),
            None => false,
        }
    }
}

/// Scopes a client gets when none are given.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email"];

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Generated when absent.
    pub client_id: Option<String>,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// [`DEFAULT_SCOPES`] when empty.
    pub allowed_scopes: Vec<String>,
    /// Both secret methods for confidential clients, `none` for public ones, when empty.
    pub token_endpoint_auth_methods: Vec<AuthMethod>,
    pub require_pkce: bool,
    pub id_token_signed_response_alg: Alg,
}

impl NewClient {
    pub fn new(name: &str, client_type: ClientType, redirect_uris: &[&str]) -> NewClient {
        NewClient {
            client_id: None,
            name: name.into(),
            client_type,
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: Vec::new(),
            allowed_scopes: Vec::new(),
            token_endpoint_auth_methods: Vec::new(),
            require_pkce: true,
            id_token_signed_response_alg: Alg::RS256,
        }
    }
}

/// A new client id: 128 random bits, base64url.
fn generate_client_id() -> String {
    URL_SAFE_NO_PAD.encode(secrets::random_bytes::<16>())
}

/// Checks a client id: 1-100 printable ASCII characters without spaces or `:` (which would
/// break HTTP Basic authentication).
fn check_client_id(id: &str) -> StoreResult<()> {
    if id.is_empty() || id.len() > 100 {
        return Err(StoreError::invalid("a client id has 1 to 100 characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(StoreError::invalid(format!(
            "client id {id:?}: only printable ASCII without spaces or ':'"
        )));
    }
    Ok(())
}

/// Checks a redirect URI (RFC 9700 2.1, RFC 8252 for native apps): absolute, no fragment;
/// https, or http only on a loopback host, or (public clients) a private-use scheme
/// containing a dot (reverse domain name).
pub fn check_redirect_uri(uri: &str, client_type: ClientType, what: &str) -> StoreResult<()> {
    let bad = |why: &str| StoreError::Invalid(format!("{what} {uri:?}: {why}"));
    if uri.len() > 2000 {
        return Err(bad("too long"));
    }
    let parsed = url::Url::parse(uri).map_err(|e| bad(&format!("not an absolute URL ({e})")))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(bad("must not contain a fragment (#)"));
    }
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(bad("must not contain user information"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Err(bad(
                    "must use https (plain http only on loopback: 127.0.0.1, [::1], localhost)",
                ));
            }
        }
        scheme if client_type == ClientType::Public && scheme.contains('.') => {}
        _ => {
            return Err(bad(
                "must use https (public native apps may use a reverse-domain scheme such as com.example.app:/cb)",
            ))
        }
    }
    Ok(())
}

/// Checks a scope token (RFC 6749 3.3).
fn check_scope(scope: &str) -> StoreResult<()> {
    if scope.is_empty()
        || scope.len() > 100
        || !scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        return Err(StoreError::Invalid(format!("invalid scope {scope:?}")));
    }
    Ok(())
}

fn validate(c: &NewClient) -> StoreResult<()> {
    if c.name.trim().is_empty() || c.name.len() > 200 {
        return Err(StoreError::invalid(
            "a client needs a name (at most 200 characters)",
        ));
    }
    if let Some(id) = &c.client_id {
        check_client_id(id)?;
    }
    if c.redirect_uris.is_empty() {
        return Err(StoreError::invalid(
            "a client needs at least one redirect URI (--redirect-uri)",
        ));
    }
    for uri in &c.redirect_uris {
        check_redirect_uri(uri, c.client_type, "redirect URI")?;
    }
    for uri in &c.post_logout_redirect_uris {
        check_redirect_uri(uri, c.client_type, "post-logout redirect URI")?;
    }
    for scope in &c.allowed_scopes {
        check_scope(scope)?;
    }
    match c.client_type {
        ClientType::Public => {
            if !c.require_pkce {
                return Err(StoreError::invalid(
                    "PKCE can be switched off only for confidential clients: a public client \
                     has no secret, so PKCE is what protects its authorization codes (RFC 9700)",
                ));
            }
            if c.token_endpoint_auth_methods
                .iter()
                .any(|m| *m != AuthMethod::None)
            {
                return Err(StoreError::invalid(
                    "a public client has no secret: its token endpoint auth method is none",
                ));
            }
        }
        ClientType::Confidential => {
            if c.token_endpoint_auth_methods.contains(&AuthMethod::None) {
                return Err(StoreError::invalid(
                    "a confidential client authenticates with client_secret_basic or \
                     client_secret_post, not none",
                ));
            }
        }
    }
    Ok(())
}

fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_checked() {
        use ClientType::*;
        let ok = |u: &str, t| check_redirect_uri(u, t, "redirect URI").is_ok();
        assert!(ok(
            "https://hl.example.org/HigherLogic/Security/OAuth/Authentication.aspx",
            Confidential
        ));
        assert!(ok("http://127.0.0.1:8000/cb", Confidential));
        assert!(ok("http://localhost/cb", Public));
        assert!(ok("http://[::1]:9/cb", Public));
        assert!(ok("com.example.app:/cb", Public));
        assert!(!ok("com.example.app:/cb", Confidential));
        assert!(!ok("http://example.org/cb", Confidential));
        assert!(!ok("https://example.org/cb#x", Confidential));
        assert!(!ok("https://u:p@example.org/cb", Confidential));
        assert!(!ok("/relative", Confidential));
        assert!(!ok("javascript:alert(1)", Public));
    }

    #[test]
    fn scopes_and_ids_are_checked() {
        assert!(check_scope("openid").is_ok());
        assert!(check_scope("a b").is_err());
        assert!(check_scope("a\"b").is_err());
        assert!(check_client_id("higher-logic").is_ok());
        assert!(check_client_id("a:b").is_err());
        assert!(check_client_id("").is_err());
    }
}
