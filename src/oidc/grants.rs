//! Authorization codes, access tokens and refresh tokens in the database. Each is a random
//! 256-bit value shown once to its holder and stored only as its SHA-256 (these values are
//! high-entropy, so a fast hash is enough and the token endpoint pays no KDF cost).
//!
//! Every token issued from one code shares the code's `grant_id` (the refresh family): a code
//! used twice, or a rotated refresh token replayed, revokes the whole family.

use crate::change_log::{Change, ChangeListener, CHANGE_LISTENERS};
use crate::db::{new_id, now_ms, Store, StoreResult, Transaction};
use crate::oidc::claims::{Subject, SUBJECT_COLUMNS, SUBJECT_COMPANY_JOIN};
use crate::secrets;

/// What a code is issued for.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub client_id: &'a str,
    pub account_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    /// Seconds since the epoch.
    pub auth_time: i64,
    /// The `claims` request parameter's names (`RequestedClaims`, stored form).
    pub claims: Option<&'a str>,
}

/// A code as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRecord {
    pub grant_id: String,
    pub client_id: String,
    pub account_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub claims: Option<String>,
}

/// What spending a single-use credential (a code, a refresh token) found.
#[derive(Debug)]
pub enum Spent<T> {
    /// First use; it is now spent (a refresh token: issue its successor).
    First(Box<T>),
    /// Spent or revoked before: every token of its grant has just been revoked, in the
    /// transaction that must be committed for that to hold.
    Replayed,
    Unknown,
}

/// Issues a code valid for `lifetime_secs`; returns the code to send to the client.
pub async fn issue_code(
    store: &Store,
    new: &NewCode<'_>,
    lifetime_secs: i64,
) -> StoreResult<String> {
    let code = secrets::random_token();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO oidc_codes (code_hash, grant_id, client_id, account_id, redirect_uri, scope, \
         nonce, code_challenge, auth_time, created_at, expires_at, claims) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(secrets::stored_hash(&code))
    .bind(new_id())
    .bind(new.client_id)
    .bind(new.account_id)
    .bind(new.redirect_uri)
    .bind(new.scope)
    .bind(new.nonce)
    .bind(new.code_challenge)
    .bind(new.auth_time)
    .bind(now)
    .bind(now + lifetime_secs * 1000)
    .bind(new.claims)
    .execute(store.pool())
    .await?;
    Ok(code)
}

/// Spends a code. A second use revokes everything issued from the first.
pub async fn redeem_code(tx: &mut Transaction, code: &str) -> StoreResult<Spent<CodeRecord>> {
    let hash = secrets::stored_hash(code);
    let now = now_ms();
    // Spending and reading in one statement: the first use gets the record back.
    let first: Option<CodeRecord> = sqlx::query_as(
        "UPDATE oidc_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL \
         RETURNING grant_id, client_id, account_id, redirect_uri, scope, nonce, code_challenge, \
         auth_time, expires_at, claims",
    )
    .bind(now)
    .bind(&hash)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(record) = first {
        return Ok(Spent::First(Box::new(record)));
    }
    let record: Option<CodeRecord> = sqlx::query_as(
        "SELECT grant_id, client_id, account_id, redirect_uri, scope, nonce, code_challenge, \
         auth_time, expires_at, claims FROM oidc_codes WHERE code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut **tx)
    .await?;
    match record {
        None => Ok(Spent::Unknown),
        Some(record) => {
            revoke_replayed_grant(
                tx,
                &record.grant_id,
                &record.client_id,
                "authorization code used twice: every token issued from it is revoked",
            )
            .await?;
            Ok(Spent::Replayed)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// The grant a new token belongs to.
#[derive(Debug, Clone)]
pub struct GrantInfo<'a> {
    pub grant_id: &'a str,
    pub client_id: &'a str,
    pub account_id: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    /// The `claims` request parameter's names, carried from the code (stored form).
    pub claims: Option<&'a str>,
}

/// A new access token and refresh token of one grant, stored in one statement.
pub struct NewTokens {
    pub access: String,
    pub refresh: String,
}

/// Stores a new access and refresh token for `grant`; returns them.
pub async fn issue_tokens(
    tx: &mut Transaction,
    grant: &GrantInfo<'_>,
    access_lifetime_secs: i64,
    refresh_lifetime_secs: i64,
) -> StoreResult<NewTokens> {
    let tokens = NewTokens {
        access: secrets::random_token(),
        refresh: secrets::random_token(),
    };
    let now = now_ms();
    let mut q = sqlx::query(
        "INSERT INTO oidc_tokens (token_hash, kind, grant_id, client_id, account_id, scope, \
         auth_time, created_at, expires_at, claims) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10), \
         ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    );
    for (token, kind, lifetime) in [
        (&tokens.access, TokenKind::Access, access_lifetime_secs),
        (&tokens.refresh, TokenKind::Refresh, refresh_lifetime_secs),
    ] {
        q = q
            .bind(secrets::stored_hash(token))
            .bind(kind.as_str())
            .bind(grant.grant_id)
            .bind(grant.client_id)
            .bind(grant.account_id)
            .bind(grant.scope)
            .bind(grant.auth_time)
            .bind(now)
            .bind(now + lifetime * 1000)
            .bind(grant.claims);
    }
    q.execute(&mut **tx).await?;
    Ok(tokens)
}

/// A stored token, with its account's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    pub kind: String,
    pub grant_id: String,
    pub client_id: String,
    pub account_id: String,
    pub member_key: String,
    pub account_state: String,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub claims: Option<String>,
}

impl TokenRecord {
    pub fn kind(&self) -> TokenKind {
        if self.kind == "refresh" {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        }
    }

    /// Neither revoked, expired, rotated away, nor its account deactivated.
    pub fn is_usable(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.used_at.is_none()
            && self.expires_at > now
            && self.account_state == "active"
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        scopes_of(&self.scope)
    }
}

/// The scopes of a stored, space-separated scope string.
fn scopes_of(scope: &str) -> impl Iterator<Item = &str> {
    scope.split(' ').filter(|s| !s.is_empty())
}

/// A token's own columns; with `m.member_key` and `a.state AS account_state` (or
/// [`SUBJECT_COLUMNS`], which has them) they make a [`TokenRecord`].
const TOKEN_COLUMNS: &str = "t.kind, t.grant_id, t.client_id, t.account_id, t.scope, \
    t.auth_time, t.created_at, t.expires_at, t.used_at, t.revoked_at, t.claims";

/// Tokens of a removed client are not found: removing a client ends its tokens at once.
const TOKEN_FROM: &str = "FROM oidc_tokens t JOIN accounts a ON a.id = t.account_id \
    JOIN members m ON m.id = a.member_id JOIN oidc_clients c ON c.client_id = t.client_id";

/// Looks a token up by its value (any state).
pub async fn find_token(store: &Store, token: &str) -> StoreResult<Option<TokenRecord>> {
    by_value(
        store,
        &format!("SELECT {TOKEN_COLUMNS}, m.member_key, a.state AS account_state {TOKEN_FROM}"),
        token,
    )
    .await
}

/// The row `select` gives for the token whose value is `token` (found by its stored hash).
async fn by_value<T>(store: &Store, select: &str, token: &str) -> StoreResult<Option<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    Ok(sqlx::query_as(&format!("{select} WHERE t.token_hash = $1"))
        .bind(secrets::stored_hash(token))
        .fetch_optional(store.pool())
        .await?)
}

/// A token and the member it is about, as [`find_token_with_subject`] reads them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenWithSubject {
    #[sqlx(flatten)]
    pub token: TokenRecord,
    #[sqlx(flatten)]
    pub subject: Subject,
}

/// Looks a token up by its value (any state) with the claims of its member, in one statement:
/// `/userinfo` needs both for every request.
pub async fn find_token_with_subject(
    store: &Store,
    token: &str,
) -> StoreResult<Option<TokenWithSubject>> {
    by_value(
        store,
        &format!("SELECT {TOKEN_COLUMNS}, {SUBJECT_COLUMNS} {TOKEN_FROM} {SUBJECT_COMPANY_JOIN}"),
        token,
    )
    .await
}

/// A refresh token as spent by [`rotate_refresh`]: what its successor carries on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpentRefresh {
    pub grant_id: String,
    pub account_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub claims: Option<String>,
}

impl SpentRefresh {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        scopes_of(&self.scope)
    }
}

/// Spends a refresh token of `client_id`. A replayed one revokes its whole family. A token of
/// another client is `Unknown` (and left alone).
pub async fn rotate_refresh(
    tx: &mut Transaction,
    token: &str,
    client_id: &str,
) -> StoreResult<Spent<SpentRefresh>> {
    let hash = secrets::stored_hash(token);
    // Spending and reading in one statement, as for codes: the usual case is one round trip.
    let first: Option<SpentRefresh> = sqlx::query_as(
        "UPDATE oidc_tokens SET used_at = $1 WHERE token_hash = $2 AND kind = 'refresh' \
         AND client_id = $3 AND used_at IS NULL AND revoked_at IS NULL \
         RETURNING grant_id, account_id, scope, auth_time, expires_at, claims",
    )
    .bind(now_ms())
    .bind(&hash)
    .bind(client_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(record) = first {
        return Ok(Spent::First(Box::new(record)));
    }
    let grant_id: Option<String> = sqlx::query_scalar(
        "SELECT grant_id FROM oidc_tokens WHERE token_hash = $1 AND kind = 'refresh' \
         AND client_id = $2",
    )
    .bind(&hash)
    .bind(client_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(grant_id) = grant_id else {
        return Ok(Spent::Unknown);
    };
    // Spent or revoked before: someone holds a copy. Revoke the family.
    revoke_replayed_grant(
        tx,
        &grant_id,
        client_id,
        "refresh token replayed: its whole family is revoked",
    )
    .await?;
    Ok(Spent::Replayed)
}

/// A spent credential came back: someone holds a copy, so every token of its grant (the code's
/// tokens, the refresh token's family) is revoked (RFC 9700 2.2.2, 4.14.2).
async fn revoke_replayed_grant(
    tx: &mut Transaction,
    grant_id: &str,
    client_id: &str,
    what_happened: &str,
) -> StoreResult<()> {
    revoke_grant(tx, grant_id).await?;
    tracing::warn!(grant_id = %grant_id, client_id = %client_id, "{what_happened}");
    Ok(())
}

/// Revokes every token of a grant.
pub async fn revoke_grant(tx: &mut Transaction, grant_id: &str) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(grant_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// RFC 7009 revocation by `client_id`: a refresh token takes its family with it, an access
/// token goes alone. Unknown tokens and other clients' tokens are ignored (the caller answers
/// 200 either way).
pub async fn revoke(store: &Store, token: &str, client_id: &str) -> StoreResult<bool> {
    let Some(record) = find_token(store, token).await? else {
        return Ok(false);
    };
    if record.client_id != client_id {
        return Ok(false);
    }
    let mut tx = store.begin().await?;
    match record.kind() {
        TokenKind::Refresh => {
            revoke_grant(&mut tx, &record.grant_id).await?;
        }
        TokenKind::Access => {
            sqlx::query(
                "UPDATE oidc_tokens SET revoked_at = $1 WHERE token_hash = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(secrets::stored_hash(token))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Ends everything an account holds: its codes are deleted, its tokens revoked and its browser
/// sessions ended. Runs inside the transaction that deactivates the account or changes its
/// password.
pub async fn revoke_all_of_account(tx: &mut Transaction, account_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM oidc_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(account_id)
    .execute(&mut **tx)
    .await?;
    crate::web::sessions::end_sessions_of(tx, account_id).await?;
    Ok(())
}

/// The provider's listener on the change log: whatever an account's old credential issued ends
/// with it. A deactivated account, an account whose password is set by any route (reset link,
/// account page, console, command line) and one whose member chose "Sign out everywhere" is
/// signed out everywhere, its codes and tokens revoked and its
/// unused links expired, in the transaction of the change. Reactivation revives none of it; a
/// handler that changed the password for the member in front of it keeps that browser signed
/// in by giving its session a new id.
struct RevokeOnCredentialChange;

#[linkme::distributed_slice(CHANGE_LISTENERS)]
static REVOKE_ON_CREDENTIAL_CHANGE: &'static dyn ChangeListener = &RevokeOnCredentialChange;

#[async_trait::async_trait]
impl ChangeListener for RevokeOnCredentialChange {
    async fn on_change(&self, tx: &mut Transaction, change: &Change<'_>) -> StoreResult<()> {
        if change.event.ends_credentials() {
            revoke_all_of_account(tx, change.entity_id).await?;
            crate::oidc::invitations::discard_links(tx, change.entity_id).await?;
        }
        Ok(())
    }
}

/// An application holding live tokens of an account (the account page lists them).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationAccess {
    pub client_id: String,
    pub name: String,
    /// When it was last given a token (ms since the epoch).
    pub last_issued_at: i64,
}

/// The applications holding usable tokens of `account_id`, the most recent first.
pub async fn applications_of(
    store: &Store,
    account_id: &str,
) -> StoreResult<Vec<ApplicationAccess>> {
    Ok(sqlx::query_as(
        "SELECT t.client_id, COALESCE(MAX(c.name), t.client_id) AS name, \
         MAX(t.created_at) AS last_issued_at \
         FROM oidc_tokens t LEFT JOIN oidc_clients c ON c.client_id = t.client_id \
         WHERE t.account_id = $1 AND t.revoked_at IS NULL AND t.used_at IS NULL \
         AND t.expires_at > $2 GROUP BY t.client_id ORDER BY last_issued_at DESC",
    )
    .bind(account_id)
    .bind(now_ms())
    .fetch_all(store.pool())
    .await?)
}
