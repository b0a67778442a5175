//! Registered OpenID Connect clients (relying parties), such as Higher Logic.
//!
//! Redirect URIs are compared as exact strings (RFC 9700 2.1). Secrets come from 256 bits of
//! OS randomness, are shown once, and are stored as HMAC-SHA256 under the pepper in the keys
//! folder: a fast keyed hash, since a 256-bit random secret needs no password stretching and
//! the token endpoint must not pay an argon2 cost per request.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use crate::change_log::{self, Change};
use crate::db::{is_unique_violation, new_id, now_ms, Store, StoreError, StoreResult};
use crate::oidc::keys::{Alg, Pepper};

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

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    client_id: String,
    name: String,
    client_type: String,
    secret_hash: Option<String>,
    secret_set_at: Option<i64>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_scopes: String,
    token_endpoint_auth_methods: String,
    #[sqlx(try_from = "crate::db::IntFlag")]
    require_pkce: bool,
    id_token_signed_response_alg: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Client> {
        let list = |text: &str, column: &str| -> StoreResult<Vec<String>> {
            serde_json::from_str(text).map_err(|e| {
                StoreError::Invalid(format!("client {}: bad {column}: {e}", r.client_id))
            })
        };
        Ok(Client {
            redirect_uris: list(&r.redirect_uris, "redirect_uris")?,
            post_logout_redirect_uris: list(
                &r.post_logout_redirect_uris,
                "post_logout_redirect_uris",
            )?,
            allowed_scopes: list(&r.allowed_scopes, "allowed_scopes")?,
            token_endpoint_auth_methods: list(
                &r.token_endpoint_auth_methods,
                "token_endpoint_auth_methods",
            )?
            .iter()
            .filter_map(|m| AuthMethod::parse(m))
            .collect(),
            client_type: if r.client_type == "public" {
                ClientType::Public
            } else {
                ClientType::Confidential
            },
            id_token_signed_response_alg: r
                .id_token_signed_response_alg
                .parse()
                .unwrap_or(Alg::RS256),
            require_pkce: r.require_pkce,
            secret_hash: r.secret_hash,
            secret_set_at: r.secret_set_at,
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const CLIENT_SELECT: &str = "SELECT id, client_id, name, client_type, secret_hash, secret_set_at, \
    redirect_uris, post_logout_redirect_uris, allowed_scopes, token_endpoint_auth_methods, \
    require_pkce, id_token_signed_response_alg, created_at, updated_at FROM oidc_clients";

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

/// A 256-bit secret from the OS, base64url (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn generate_client_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
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

fn json_list<T: Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Registers a client. Returns it and, for a confidential client, its secret: the only
    /// time the secret is available.
    pub async fn add_client(
        &self,
        actor: &str,
        pepper: &Pepper,
        new: NewClient,
    ) -> StoreResult<(Client, Option<String>)> {
        validate(&new)?;
        let client_id = new.client_id.clone().unwrap_or_else(generate_client_id);
        let scopes = if new.allowed_scopes.is_empty() {
            DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
        } else {
            dedup(&new.allowed_scopes)
        };
        let methods: Vec<&str> = match (new.client_type, new.token_endpoint_auth_methods.is_empty())
        {
            (ClientType::Public, _) => vec!["none"],
            (ClientType::Confidential, true) => vec!["client_secret_basic", "client_secret_post"],
            (ClientType::Confidential, false) => {
                let mut m: Vec<&str> = Vec::new();
                for method in &new.token_endpoint_auth_methods {
                    if !m.contains(&method.as_str()) {
                        m.push(method.as_str());
                    }
                }
                m
            }
        };
        let secret = (new.client_type == ClientType::Confidential).then(generate_secret);
        let now = now_ms();
        let id = new_id();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO oidc_clients (id, client_id, name, client_type, secret_hash, \
             secret_set_at, redirect_uris, post_logout_redirect_uris, allowed_scopes, \
             token_endpoint_auth_methods, require_pkce, id_token_signed_response_alg, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(&id)
        .bind(&client_id)
        .bind(new.name.trim())
        .bind(new.client_type.as_str())
        .bind(secret.as_deref().map(|s| pepper.hash(s)))
        .bind(secret.as_ref().map(|_| now))
        .bind(json_list(&dedup(&new.redirect_uris)))
        .bind(json_list(&dedup(&new.post_logout_redirect_uris)))
        .bind(json_list(&scopes))
        .bind(json_list(&methods))
        .bind(i64::from(new.require_pkce))
        .bind(new.id_token_signed_response_alg.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("client id {client_id} is taken"))
            } else {
                e.into()
            }
        })?;
        change_log::record(
            &mut tx,
            Change {
                actor,
                entity: "oidc_client",
                entity_id: &id,
                action: "created",
                member_id: None,
                group_id: None,
                detail: json!({
                    "client_id": client_id,
                    "name": new.name.trim(),
                    "client_type": new.client_type.as_str(),
                    "redirect_uris": new.redirect_uris,
                    "post_logout_redirect_uris": new.post_logout_redirect_uris,
                    "allowed_scopes": scopes,
                    "require_pkce": new.require_pkce,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((self.client(&client_id).await?, secret))
    }

    /// The client with this id, if registered.
    pub async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("{CLIENT_SELECT} WHERE client_id = $1"))
                .bind(client_id)
                .fetch_optional(self.pool())
                .await?;
        row.map(Client::try_from).transpose()
    }

    pub async fn client(&self, client_id: &str) -> StoreResult<Client> {
        self.find_client(client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))
    }

    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows: Vec<ClientRow> =
            sqlx::query_as(&format!("{CLIENT_SELECT} ORDER BY name, client_id"))
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    /// Authenticates a client by id and secret. `None` for an unknown client, a public client
    /// or a wrong secret (the caller answers `invalid_client` to all three). An unknown client
    /// costs one HMAC like a known one.
    pub async fn authenticate_client(
        &self,
        pepper: &Pepper,
        client_id: &str,
        secret: &str,
    ) -> StoreResult<Option<Client>> {
        match self.find_client(client_id).await? {
            Some(c) if c.secret_matches(pepper, secret) => Ok(Some(c)),
            Some(_) => Ok(None),
            None => {
                let _ = pepper.verify(secret, "");
                Ok(None)
            }
        }
    }

    /// Replaces a confidential client's secret; returns the new one (shown once). The old
    /// secret stops working at once.
    pub async fn rotate_client_secret(
        &self,
        actor: &str,
        pepper: &Pepper,
        client_id: &str,
    ) -> StoreResult<String> {
        let client = self.client(client_id).await?;
        if client.is_public() {
            return Err(StoreError::invalid(format!(
                "client {client_id} is public: it has no secret"
            )));
        }
        let secret = generate_secret();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE oidc_clients SET secret_hash = $1, secret_set_at = $2, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(pepper.hash(&secret))
        .bind(now)
        .bind(&client.id)
        .execute(&mut *tx)
        .await?;
        change_log::record(
            &mut tx,
            Change {
                actor,
                entity: "oidc_client",
                entity_id: &client.id,
                action: "secret_rotated",
                member_id: None,
                group_id: None,
                detail: json!({ "client_id": client_id }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Removes a client; its codes and tokens stop working.
    pub async fn remove_client(&self, actor: &str, client_id: &str) -> StoreResult<()> {
        let client = self.client(client_id).await?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(&client.id)
            .execute(&mut *tx)
            .await?;
        change_log::record(
            &mut tx,
            Change {
                actor,
                entity: "oidc_client",
                entity_id: &client.id,
                action: "removed",
                member_id: None,
                group_id: None,
                detail: json!({ "client_id": client_id, "name": client.name }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
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
    fn secrets_have_256_bits() {
        let s = generate_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&s).unwrap().len(), 32);
        assert_ne!(s, generate_secret());
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
