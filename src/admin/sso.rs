//! Single sign-on for Higher Logic: the registered Higher Logic client, and the technical
//! worksheet Higher Logic asks an association to fill in. Every value is computed from the
//! running configuration and the registered client (never typed in), so the worksheet and
//! the discovery document cannot disagree.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Store, StoreError, StoreResult};
use crate::oidc::clients::{AuthMethod, Client, ClientType, NewClient};
use crate::oidc::discovery;
use crate::secrets::Pepper;

/// The client id under which the console registers Higher Logic.
pub const HIGHER_LOGIC_CLIENT_ID: &str = "higher-logic";

/// Where Higher Logic's OAuth code flow returns members, on the community's own site.
pub const HIGHER_LOGIC_CALLBACK_PATH: &str = "/HigherLogic/Security/OAuth/Authentication.aspx";

/// The scopes Higher Logic is registered for; it usually requests only `profile`.
const HIGHER_LOGIC_SCOPES: &[&str] = &["openid", "profile", "email"];

/// One line of the worksheet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorksheetItem {
    /// A stable name for scripts.
    pub key: &'static str,
    /// The worksheet's wording.
    pub label: &'static str,
    pub value: String,
    /// What the value means, for the person filling the worksheet.
    pub note: Option<String>,
}

/// Higher Logic's OAuth code-flow worksheet, in the worksheet's order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Worksheet {
    /// Whether the Higher Logic client is registered; without it the client lines are empty.
    pub client_registered: bool,
    pub items: Vec<WorksheetItem>,
}

impl Worksheet {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|i| i.key == key)
            .map(|i| i.value.as_str())
    }
}

fn item(
    key: &'static str,
    label: &'static str,
    value: impl Into<String>,
    note: Option<&str>,
) -> WorksheetItem {
    WorksheetItem {
        key,
        label,
        value: value.into(),
        note: note.map(str::to_string),
    }
}

fn text(doc: &serde_json::Value, name: &str) -> String {
    doc[name].as_str().unwrap_or_default().to_string()
}

/// The registered Higher Logic client, if any.
pub async fn higher_logic_client(store: &Store) -> StoreResult<Option<Client>> {
    store.find_client(HIGHER_LOGIC_CLIENT_ID).await
}

/// The worksheet as the provider at `issuer` answers it (needs no running server, so the CLI
/// can print it too).
pub async fn worksheet(store: &Store, issuer: &str) -> StoreResult<Worksheet> {
    let doc = discovery::document(issuer);
    let client = higher_logic_client(store).await?;
    let (client_id, auth, scopes, alg, pkce, redirect) = match &client {
        Some(c) => (
            c.client_id.clone(),
            c.token_endpoint_auth_methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            c.allowed_scopes.join(" "),
            c.id_token_signed_response_alg.as_str().to_string(),
            if c.require_pkce {
                "required (S256)".to_string()
            } else {
                "not required for this client (Higher Logic sends none); S256 accepted".to_string()
            },
            c.redirect_uris.join(" "),
        ),
        None => Default::default(),
    };
    let items = vec![
        item("issuer", "Issuer", text(&doc, "issuer"), None),
        item(
            "discovery_url",
            "Discovery document (OpenID configuration)",
            format!("{}/.well-known/openid-configuration", text(&doc, "issuer")),
            Some("Everything below can also be read from here."),
        ),
        item("authorization_endpoint", "Authorization endpoint", text(&doc, "authorization_endpoint"), None),
        item("token_endpoint", "Token endpoint", text(&doc, "token_endpoint"), None),
        item("userinfo_endpoint", "User info endpoint", text(&doc, "userinfo_endpoint"), None),
        item("jwks_uri", "JWKS (signing keys) endpoint", text(&doc, "jwks_uri"), None),
        item(
            "end_session_endpoint",
            "Logout URL",
            text(&doc, "end_session_endpoint"),
            Some("RP-initiated logout; post-logout redirects only to registered addresses."),
        ),
        item("client_id", "Client ID", client_id, None),
        item(
            "client_secret",
            "Client secret",
            if client.is_some() { "shown once when the client is registered or its secret rotated" } else { "" },
            Some("Send it to Higher Logic through a secure channel; it is stored only as a keyed hash."),
        ),
        item("token_endpoint_auth_method", "How the client authenticates at the token endpoint", auth, None),
        item(
            "scope",
            "Scope to request",
            if client.is_some() { "profile" } else { "" },
            Some(&format!("Allowed for this client: {scopes}. `profile` alone gives the member key, names and e-mail.")),
        ),
        item("response_type", "Response type", "code", Some("Authorization code flow.")),
        item("id_token_signing_alg", "ID token signing algorithm", alg, None),
        item("pkce", "PKCE", pkce, None),
        item(
            "unique_id_claim",
            "Claim holding the unique identifier (Legacy Contact Key)",
            "sub",
            Some("The member key: the same value the Higher Logic sync sends as LegacyContactKey. Also sent as `member_key`."),
        ),
        item("email_claim", "E-mail claim", "email", None),
        item("first_name_claim", "First name claim", "given_name", None),
        item("last_name_claim", "Last name claim", "family_name", None),
        item("company_claim", "Company claim", "company", None),
        item(
            "redirect_uri",
            "Redirect URI Higher Logic must use",
            redirect,
            Some("Matched exactly, character for character."),
        ),
    ];
    Ok(Worksheet {
        client_registered: client.is_some(),
        items,
    })
}

/// The site address an admin typed, checked: `https://host[:port]`, nothing after the host.
pub fn community_site(input: &str) -> Result<String, String> {
    let site = input.trim().trim_end_matches('/');
    let url = url::Url::parse(site)
        .map_err(|_| format!("{site:?} is not an address like https://community.example.org"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err("the community's address must start with https://".into());
    }
    if url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "{site:?}: give only the community's address, like https://community.example.org"
        ));
    }
    Ok(site.to_string())
}

/// Registers Higher Logic as a confidential client for the community at `site`; returns the
/// client and its secret (shown once).
pub async fn register_higher_logic(
    store: &Store,
    pepper: &Pepper,
    actor: &str,
    site: &str,
) -> StoreResult<(Client, String)> {
    let site = community_site(site).map_err(StoreError::Invalid)?;
    let mut new = NewClient::new(
        "Higher Logic",
        ClientType::Confidential,
        &[&format!("{site}{HIGHER_LOGIC_CALLBACK_PATH}")],
    );
    new.client_id = Some(HIGHER_LOGIC_CLIENT_ID.into());
    new.post_logout_redirect_uris = vec![format!("{site}/")];
    new.allowed_scopes = HIGHER_LOGIC_SCOPES.iter().map(|s| s.to_string()).collect();
    new.token_endpoint_auth_methods =
        vec![AuthMethod::ClientSecretPost, AuthMethod::ClientSecretBasic];
    // Higher Logic's documented request carries no PKCE: the one client allowed without it.
    new.require_pkce = false;
    let (client, secret) = store.add_client(actor, pepper, new).await?;
    let secret = secret.ok_or_else(|| StoreError::invalid("a confidential client has a secret"))?;
    Ok((client, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_site_takes_only_an_origin() {
        assert_eq!(
            community_site(" https://c.example.org/ ").unwrap(),
            "https://c.example.org"
        );
        for (site, taken) in [
            ("http://c.example.org", false),
            ("http://127.0.0.1:9000", true),
            ("https://c.example.org/path", false),
            ("https://c.example.org?x=1", false),
            ("c.example.org", false),
            ("https://user@c.example.org", false),
        ] {
            assert_eq!(community_site(site).is_ok(), taken, "{site}");
        }
    }
}
