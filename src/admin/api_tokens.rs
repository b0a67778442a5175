//! Admin API tokens: created and revoked by an administrator, stored as a SHA-256 hash,
//! scoped read or write, valid for a lifetime chosen at creation. A token belongs to the
//! administrator who made it: it stops working as soon as that account is deactivated or is
//! no longer an administrator, and is revoked when that account's credentials change (in the
//! same transaction). Tokens made on the server's command line belong to its operator.
//! Creating and revoking one is recorded in the change log (the audit log).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::Account;
use crate::change_log::{Change, ChangeListener, Event, CHANGE_LISTENERS};
use crate::db::{new_id, now_ms, Store, StoreError, StoreResult, Transaction};
use crate::secrets;

/// A new token's lifetime when none is chosen.
pub const DEFAULT_LIFETIME_DAYS: u32 = 90;
/// The longest lifetime a token may be given.
pub const MAX_LIFETIME_DAYS: u32 = 365;
const DAY_MS: i64 = 24 * 3600 * 1000;

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
    /// The administrator's login e-mail; none for a token of the server's operator.
    pub owner: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    /// "active", "expired" or "revoked", at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }

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

/// The columns of [`ApiToken`], from `admin_api_tokens t` joined to its owner's account `o`.
const TOKEN_COLUMNS: &str = "t.id, t.name, t.token_prefix, t.scope, t.created_by, \
     o.login_email AS owner, t.created_at, t.expires_at, t.last_used_at, t.revoked_at \
     FROM admin_api_tokens t LEFT JOIN accounts o ON o.id = t.owner_account_id";

/// Who a new token belongs to, and for how long.
pub struct TokenGrant<'a> {
    /// The administrator creating it; `None` for the server's operator (command line).
    pub owner: Option<&'a Account>,
    pub name: &'a str,
    pub scope: Scope,
    /// 1 to [`MAX_LIFETIME_DAYS`].
    pub lifetime_days: u32,
}

impl Store {
    pub async fn create_api_token(
        &self,
        actor: &str,
        grant: TokenGrant<'_>,
    ) -> StoreResult<NewApiToken> {
        let TokenGrant {
            owner,
            name,
            scope,
            lifetime_days,
        } = grant;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid(
                "an API token needs a name of 1 to 100 characters",
            ));
        }
        if !(1..=MAX_LIFETIME_DAYS).contains(&lifetime_days) {
            return Err(StoreError::invalid(format!(
                "an API token lives 1 to {MAX_LIFETIME_DAYS} days"
            )));
        }
        if owner.is_some_and(|o| !o.is_active() || !o.is_admin()) {
            return Err(StoreError::invalid(
                "only an active administrator may create an API token",
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", secrets::random_token());
        let id = new_id();
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let mut tx = self.begin().await?;
        let now = now_ms();
        let expires_at = now + i64::from(lifetime_days) * DAY_MS;
        sqlx::query(
            "INSERT INTO admin_api_tokens (id, name, token_hash, token_prefix, scope, created_by, \
             created_at, owner_account_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(name)
        .bind(secrets::stored_hash(&secret))
        .bind(&prefix)
        .bind(scope.as_str())
        .bind(actor)
        .bind(now)
        .bind(owner.map(|o| o.id.as_str()))
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        Change::new(actor, Event::ApiTokenCreated, &id)
            .detail(json!({ "name": name, "scope": scope.as_str(), "expires_at": expires_at }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(NewApiToken {
            token: self.api_token(&id).await?,
            secret,
        })
    }

    pub async fn api_token(&self, id: &str) -> StoreResult<ApiToken> {
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("API token {id}")))
    }

    pub async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} ORDER BY t.created_at, t.id"
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

    /// The live token whose secret is `secret`, if any: not revoked, not expired, and its
    /// administrator (if it has one) still an active administrator. The lookup is by hash, so
    /// the time it takes says nothing about how much of a guess was right.
    pub async fn authenticate_api_token(&self, secret: &str) -> StoreResult<Option<ApiToken>> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let token: Option<ApiToken> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND (t.owner_account_id IS NULL \
             OR (o.state = 'active' AND o.role = 'admin'))"
        ))
        .bind(secrets::stored_hash(secret))
        .bind(now_ms())
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

/// An administrator's credential change (password set or reset, signed out everywhere),
/// deactivation or loss of administrator rights revokes the API tokens they made, in the
/// transaction of the change.
struct RevokeTokensOfChangedAccount;

#[linkme::distributed_slice(CHANGE_LISTENERS)]
static REVOKE_TOKENS_OF_CHANGED_ACCOUNT: &'static dyn ChangeListener =
    &RevokeTokensOfChangedAccount;

#[async_trait::async_trait]
impl ChangeListener for RevokeTokensOfChangedAccount {
    async fn on_change(&self, tx: &mut Transaction, change: &Change<'_>) -> StoreResult<()> {
        if change.event.ends_admin_rights() {
            sqlx::query(
                "UPDATE admin_api_tokens SET revoked_at = $1 \
                 WHERE owner_account_id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(change.entity_id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
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
