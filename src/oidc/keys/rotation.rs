//! Adding signing keys: the first of each algorithm at first start, and rotations. A new key's
//! private half goes into its row, sealed ([`super::stored`]): no file is written, so any
//! instance that holds the pepper signs with it.

use std::path::{Path, PathBuf};

use ring::aead::LessSafeKey;
use serde::Serialize;
use serde_json::{json, Value};

use super::key_files::new_key_pair;
use super::stored::{erase_retired, seal_private};
use super::{Alg, KeyResult, SigningSettings};
use crate::change_log::{Change, Event};
use crate::db::{conflict_on_unique, now_ms, Store, StoreError};
use crate::secrets::Pepper;

/// Creates the first key of `alg` when the database has none.
pub(super) async fn init_first_key(
    store: &Store,
    at_rest: &LessSafeKey,
    alg: Alg,
) -> KeyResult<()> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oidc_signing_keys WHERE alg = $1")
        .bind(alg.as_str())
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::from)?;
    if count > 0 {
        return Ok(());
    }
    let now = now_ms();
    let (kid, jwk, pem) = new_key_pair(alg).await?;
    let sealed = seal_private(at_rest, &kid, &pem)?;
    let mut tx = store.begin().await?;
    // Another instance starting at the same moment may have won; one first key is enough.
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oidc_signing_keys WHERE alg = $1")
        .bind(alg.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    if count > 0 {
        return Ok(());
    }
    insert_key(&mut tx, &kid, alg, &jwk, &sealed, now, now).await?;
    Change::new("system", Event::SigningKeyCreated, &kid)
        .detail(json!({ "alg": alg.as_str() }))
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(%kid, %alg, "created the first signing key");
    Ok(())
}

async fn insert_key(
    tx: &mut crate::db::Transaction,
    kid: &str,
    alg: Alg,
    jwk: &Value,
    sealed_private: &str,
    now: i64,
    activates_at: i64,
) -> KeyResult<()> {
    sqlx::query(
        "INSERT INTO oidc_signing_keys \
         (kid, alg, public_jwk, private_key, created_at, activates_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(kid)
    .bind(alg.as_str())
    .bind(jwk.to_string())
    .bind(sealed_private)
    .bind(now)
    .bind(activates_at)
    .execute(&mut **tx)
    .await
    .map_err(conflict_on_unique(|| {
        format!("signing key {kid} exists already")
    }))?;
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub alg: Alg,
    pub new_kid: String,
    /// When the new key starts signing.
    pub activates_at: i64,
    /// The key it replaces, and when that one leaves the JWKS.
    pub replaced: Option<(String, i64)>,
    /// Retired keys whose private half was erased from the database (no token they signed
    /// is still valid).
    pub erased: Vec<String>,
    /// Private key files of retired keys left in the keys folder by an earlier version, deleted.
    pub removed_files: Vec<PathBuf>,
}

/// Adds a new key of `alg`: published now, signing after the JWKS cache lifetime; the key it
/// replaces is retired once every token it may have signed has expired. The private half is
/// sealed with the pepper of `dir` into the database: the other instances sign with it after
/// their next reload (`signing.reload_secs`), long before it activates.
pub async fn rotate(
    store: &Store,
    dir: &Path,
    signing: &SigningSettings,
    actor: &str,
    alg: Alg,
    now: i64,
) -> KeyResult<Rotation> {
    let at_rest = Pepper::load_or_init(store, dir).await?.at_rest_key();
    let (kid, jwk, pem) = new_key_pair(alg).await?;
    let sealed = seal_private(&at_rest, &kid, &pem)?;
    // Publication is the insert below, after a key generation that can take a while: count
    // the publish-before-sign delay from then.
    let now = now.max(now_ms());
    let activates_at = now + (signing.jwks_max_age_secs as i64) * 1000;
    let retire_at = activates_at + (signing.retire_after_secs as i64) * 1000;
    let mut tx = store.begin().await?;
    // The newest key so far (the only one with retire_at unset) is the one replaced.
    let previous: Option<(String,)> = sqlx::query_as(
        "SELECT kid FROM oidc_signing_keys WHERE alg = $1 AND retire_at IS NULL \
         ORDER BY activates_at DESC, created_at DESC LIMIT 1",
    )
    .bind(alg.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    sqlx::query("UPDATE oidc_signing_keys SET retire_at = $1 WHERE alg = $2 AND retire_at IS NULL")
        .bind(retire_at)
        .bind(alg.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    insert_key(&mut tx, &kid, alg, &jwk, &sealed, now, activates_at).await?;
    Change::new(actor, Event::SigningKeyRotated, &kid)
        .detail(json!({
            "alg": alg.as_str(),
            "activates_at": activates_at,
            "replaces": previous.as_ref().map(|p| p.0.clone()),
            "replaced_retire_at": retire_at,
        }))
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let (erased, removed_files) = erase_retired(store, dir, alg, now).await?;
    Ok(Rotation {
        alg,
        new_kid: kid,
        activates_at,
        replaced: previous.map(|(k,)| (k, retire_at)),
        erased,
        removed_files,
    })
}
