//! Browser sessions: a tower-sessions store kept in our database, so that every instance
//! behind a load balancer sees the same sessions. Session ids are stored as SHA-256 hashes;
//! the signed-in account is copied into its own column so that deactivation can end all of an
//! account's sessions in one statement.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{self, Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::accounts::Account;
use crate::db::{is_unique_violation, now_ms, Store, StoreError, StoreResult, Transaction};
use crate::secrets::stored_hash;
use crate::settings::Settings;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "guildgate_session";
/// Session key of the signed-in member.
const LOGIN_KEY: &str = "login";

/// Who is signed in on this browser, and since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub account_id: String,
    /// When the member last entered a password, in seconds since the epoch (OIDC `auth_time`).
    pub auth_time: i64,
    /// The sign-in rules the login went through ([`SIGN_IN_RULES`]); 0 in a session written
    /// before the field existed.
    #[serde(default)]
    pub rules: u32,
}

/// The version of the sign-in rules: 2 since two-factor sign-in. A session signed in under
/// older rules (no code asked, whatever the account's factors now) counts as signed out, so
/// that an administrator's session from before cannot skip the second factor.
pub const SIGN_IN_RULES: u32 = 2;

impl Login {
    /// A sign-in of `account_id` now, under the current rules.
    pub fn new(account_id: &str, auth_time: i64) -> Login {
        Login {
            account_id: account_id.to_string(),
            auth_time,
            rules: SIGN_IN_RULES,
        }
    }
}

/// The signed-in member of this session, if any. A login under older rules is ended here.
pub async fn current_login(session: &Session) -> Result<Option<Login>, session::Error> {
    match session.get::<Login>(LOGIN_KEY).await? {
        Some(login) if login.rules >= SIGN_IN_RULES => Ok(Some(login)),
        Some(_) => {
            session.remove::<Login>(LOGIN_KEY).await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// The active account signed in on this browser, if any. A session of an account deactivated
/// or removed since is ended here, for the provider's pages and the console alike.
pub async fn active_account<E>(session: &Session, store: &Store) -> Result<Option<Account>, E>
where
    E: From<session::Error> + From<StoreError>,
{
    let Some(login) = current_login(session).await? else {
        return Ok(None);
    };
    match store.account_by_id(&login.account_id).await? {
        Some(account) if account.is_active() => Ok(Some(account)),
        _ => {
            sign_out(session).await?;
            Ok(None)
        }
    }
}

/// Session key of a sign-in that just succeeded: the account id, taken by the layer that gives
/// the browser its known-device cookie (`oidc::known_device`).
const SIGNED_IN_MARK: &str = "signed_in_now";

/// Records a successful sign-in. The session id changes (no session fixation).
pub async fn sign_in(session: &Session, login: &Login) -> Result<(), session::Error> {
    session.cycle_id().await?;
    session.insert(LOGIN_KEY, login).await?;
    session.insert(SIGNED_IN_MARK, &login.account_id).await?;
    Ok(())
}

/// The account of a sign-in that just succeeded in this session, once.
pub async fn take_signed_in_mark(session: &Session) -> Result<Option<String>, session::Error> {
    // Removing marks the session changed (and so written back) even when the mark is not
    // there: look first, so that a request that changes nothing writes nothing (the console's
    // import progress page must answer while an SQLite import holds the one writer).
    if session.get::<String>(SIGNED_IN_MARK).await?.is_none() {
        return Ok(None);
    }
    session.remove::<String>(SIGNED_IN_MARK).await
}

/// Ends the session: its record is deleted and the cookie cleared.
pub async fn sign_out(session: &Session) -> Result<(), session::Error> {
    session.flush().await?;
    Ok(())
}

/// The session layer for the provider's browser routes and the console.
pub fn layer(store: &Store, settings: &Settings) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(DbSessionStore {
        store: store.clone(),
    })
    .with_name(COOKIE_NAME)
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_secure(!settings.insecure_loopback())
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
        settings.oidc.session_lifetime_secs,
    )))
}

/// Ends every session of an account (called when the account is deactivated, inside the
/// deactivating transaction).
pub async fn end_sessions_of(tx: &mut Transaction, account_id: &str) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM oidc_sessions WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Removes the sessions expired at `now`; returns how many.
pub async fn delete_expired(tx: &mut Transaction, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM oidc_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// A browser signed in as an account (the account page lists them).
#[derive(Debug, Clone)]
pub struct SignedInBrowser {
    /// When it was last used (ms since the epoch): sessions end after `lifetime` of inactivity.
    pub last_used_at: i64,
    /// The browser asking.
    pub current: bool,
}

/// The browsers signed in as `account_id`, the most recently used first; `current` is the
/// asking browser's session.
pub async fn browsers_of(
    store: &Store,
    account_id: &str,
    current: Option<Id>,
    lifetime_secs: i64,
) -> StoreResult<Vec<SignedInBrowser>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id_hash, expires_at FROM oidc_sessions WHERE account_id = $1 AND expires_at > $2 \
         ORDER BY expires_at DESC",
    )
    .bind(account_id)
    .bind(now_ms())
    .fetch_all(store.pool())
    .await?;
    let current = current.map(|id| stored_hash(&id.to_string()));
    Ok(rows
        .into_iter()
        .map(|(id_hash, expires_at)| SignedInBrowser {
            last_used_at: expires_at - lifetime_secs.saturating_mul(1000),
            current: current.as_deref() == Some(id_hash.as_str()),
        })
        .collect())
}

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

struct Row {
    id_hash: String,
    account_id: Option<String>,
    data: String,
    expires_at: i64,
}

fn row(record: &Record) -> session_store::Result<Row> {
    let account_id = record
        .data
        .get(LOGIN_KEY)
        .and_then(|v| v.get("account_id"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(Row {
        id_hash: stored_hash(&record.id.to_string()),
        account_id,
        data: serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires_at: (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64,
    })
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id; on the (astronomically unlikely) collision, draw again.
        loop {
            let r = row(record)?;
            let inserted = sqlx::query(
                "INSERT INTO oidc_sessions (id_hash, account_id, data, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&r.id_hash)
            .bind(&r.account_id)
            .bind(&r.data)
            .bind(r.expires_at)
            .execute(self.store.pool())
            .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let r = row(record)?;
        sqlx::query(
            "INSERT INTO oidc_sessions (id_hash, account_id, data, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO UPDATE SET \
             account_id = excluded.account_id, data = excluded.data, \
             expires_at = excluded.expires_at",
        )
        .bind(&r.id_hash)
        .bind(&r.account_id)
        .bind(&r.data)
        .bind(r.expires_at)
        .execute(self.store.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let found: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM oidc_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(stored_hash(&id.to_string()))
        .bind(now_ms())
        .fetch_optional(self.store.pool())
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = found else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM oidc_sessions WHERE id_hash = $1")
            .bind(stored_hash(&id.to_string()))
            .execute(self.store.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
