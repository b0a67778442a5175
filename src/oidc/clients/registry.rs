//! The client registry in the database: registering, reading, rotating secrets, removing.

use serde::Serialize;
use serde_json::json;

use super::{
    dedup, generate_client_id, validate, AuthMethod, Client, ClientType, NewClient, DEFAULT_SCOPES,
};
use crate::change_log::{Change, Event};
use crate::db::{conflict_on_unique, new_id, now_ms, Store, StoreError, StoreResult};
use crate::oidc::keys::Alg;
use crate::secrets::{self, Pepper};

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
        let secret = (new.client_type == ClientType::Confidential).then(secrets::random_token);
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
        .map_err(conflict_on_unique(|| {
            format!("client id {client_id} is taken")
        }))?;
        Change::new(actor, Event::OidcClientCreated, &id)
            .detail(json!({
                "client_id": client_id,
                "name": new.name.trim(),
                "client_type": new.client_type.as_str(),
                "redirect_uris": new.redirect_uris,
                "post_logout_redirect_uris": new.post_logout_redirect_uris,
                "allowed_scopes": scopes,
                "require_pkce": new.require_pkce,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok((self.client(&client_id).await?, secret))
    }

    /// The client with this id, if registered.
    pub async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        // No client id holds a NUL (ids are checked when registered), and PostgreSQL refuses
        // one in a bound text: an unknown client on both engines.
        if client_id.contains('\0') {
            return Ok(None);
        }
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
        let secret = secrets::random_token();
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
        Change::new(actor, Event::OidcClientSecretRotated, &client.id)
            .detail(json!({ "client_id": client_id }))
            .record(&mut tx)
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
        Change::new(actor, Event::OidcClientRemoved, &client.id)
            .detail(json!({ "client_id": client_id, "name": client.name }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
