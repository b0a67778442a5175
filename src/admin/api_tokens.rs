//! Admin API tokens: created and revoked by an administrator, stored as a SHA-256 hash,
//! scoped read or write. Creating and revoking one is recorded in the change log (the audit log).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::change_log::{Change, Event};
use crate::db::{new_id, now_ms, Store, StoreError, StoreResult};
use crate::secrets;

/// Every token starts with this, so that secret scanners and people recognise it.
pub const TOKEN_PREFIX: &str = "gga_";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads only.
    Read,
    /// Reads and changes.
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// Whether a token of this scope may do what `needed` asks.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Write || needed == Scope::Read
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub token_prefix: String,
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    pub fn scope(&self) -> Scope {
        if self.scope == "write" {
            Scope::Write
        } else {
            Scope::Read
        }
    }
}

/// A token just created: the only time its secret value exists outside the caller.
pub struct NewApiToken {
    pub token: ApiToken,
    pub secret: String,
}

const TOKEN_COLUMNS: &str =
    "id, name, token_prefix, scope, created_by, created_at, last_used_at, revoked_at";

impl Store {
    pub async fn create_api_token(
        &self,
        actor: &str,
        name: &str,
        scope: Scope,
    ) -> StoreResult<NewApiToken> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid(
                "an API token needs a name of 1 to 100 characters",
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", secrets::random_token());
        let id = new_id();
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO admin_api_tokens (id, name, token_hash, token_prefix, scope, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(secrets::stored_hash(&secret))
        .bind(&prefix)
        .bind(scope.as_str())
        .bind(actor)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Change::new(actor, Event::ApiTokenCreated, &id)
            .detail(json!({ "name": name, "scope": scope.as_str() }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(NewApiToken {
            token: self.api_token(&id).await?,
            secret,
        })
    }

    pub async fn api_token(&self, id: &str) -> StoreResult<ApiToken> {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("API token {id}")))
    }

    pub async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes a token at once; revoking a revoked token changes nothing.
    pub async fn revoke_api_token(&self, actor: &str, id: &str) -> StoreResult<ApiToken> {
        let token = self.api_token(id).await?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE admin_api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Change::new(actor, Event::ApiTokenRevoked, id)
            .detail(json!({ "name": token.name }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.api_token(id).await
    }

    /// The live token whose secret is `secret`, if any. The lookup is by hash, so the time it
    /// takes says nothing about how much of a guess was right.
    pub async fn authenticate_api_token(&self, secret: &str) -> StoreResult<Option<ApiToken>> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let token: Option<ApiToken> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(secrets::stored_hash(secret))
        .fetch_optional(self.pool())
        .await?;
        if let Some(t) = &token {
            // Recorded at most once a minute per token, so reads do not turn into writes.
            let now = now_ms();
            if t.last_used_at.is_none_or(|at| now - at > 60_000) {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE admin_api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&t.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scope_covers_read_but_not_the_reverse() {
        assert!(Scope::Write.allows(Scope::Read));
        assert!(Scope::Write.allows(Scope::Write));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
    }
}
