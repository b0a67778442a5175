//! The private halves in the database: sealed with the pepper's at-rest key
//! ([`crate::secrets::sealing`]), each bound to its kid, in `oidc_signing_keys.private_key`.
//! Also the one-time move of the PEM files an earlier version kept in `keys_dir`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ring::aead::LessSafeKey;

use super::key_files::parse_private;
use super::{key_states, list, private_key_path, Alg, KeyError, KeyResult, KeyState};
use crate::db::{now_ms, Store, StoreError};
use crate::secrets::{read_private_file, sealing};

/// Binds a sealed private key to its row: moved to another kid, it does not open.
fn aad(kid: &str) -> Vec<u8> {
    format!("oidc_signing_keys.private_key:{kid}").into_bytes()
}

/// A private key (PKCS#8 PEM) sealed for the row of `kid`.
pub(super) fn seal_private(at_rest: &LessSafeKey, kid: &str, pem: &str) -> KeyResult<String> {
    Ok(sealing::seal(at_rest, &aad(kid), pem.as_bytes())?)
}

/// The PEM sealed in the row of `kid`; an error when it does not open with this pepper.
pub(super) fn open_private(
    at_rest: &LessSafeKey,
    alg: Alg,
    kid: &str,
    sealed: &str,
) -> KeyResult<String> {
    sealing::open(at_rest, &aad(kid), sealed)
        .and_then(|plain| String::from_utf8(plain).ok())
        .ok_or_else(|| KeyError::Unsealable {
            alg,
            kid: kid.to_string(),
        })
}

/// The sealed private halves, by kid (keys without one are absent).
pub(super) async fn sealed_private_keys(store: &Store) -> KeyResult<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kid, private_key FROM oidc_signing_keys WHERE private_key IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::from)?;
    Ok(rows.into_iter().collect())
}

/// The kids of the keys still in use (not retired) whose private half is not in the database
/// yet: made by an earlier version, still a file in some keys folder.
pub async fn keys_not_in_database(store: &Store) -> KeyResult<Vec<String>> {
    let sealed = sealed_private_keys(store).await?;
    let infos = list(store).await?;
    let states = key_states(&infos, now_ms());
    Ok(infos
        .into_iter()
        .zip(states)
        .filter(|(i, s)| *s != KeyState::Retired && !sealed.contains_key(&i.kid))
        .map(|(i, _)| i.kid)
        .collect())
}

/// Moves the private key files of `dir` into the database, once: each key still in use whose
/// row has no private half yet and whose file is here (and matches the row's public key) is
/// sealed into its row. Returns the files moved; they are no longer read, and are left in
/// place (an instance of an earlier version may still need them during an upgrade).
pub(super) async fn move_key_files_in(
    store: &Store,
    dir: &Path,
    at_rest: &LessSafeKey,
) -> KeyResult<Vec<PathBuf>> {
    let missing = keys_not_in_database(store).await?;
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let infos = list(store).await?;
    let mut moved = Vec::new();
    for info in infos.iter().filter(|i| missing.contains(&i.kid)) {
        let Some(alg) = info.alg() else { continue };
        let path = private_key_path(dir, alg, &info.kid);
        let Some(pem) = read_private_file(&path)? else {
            continue;
        };
        let (public, _) = parse_private(alg, &pem, &path)?;
        if public.get("kid").and_then(|k| k.as_str()) != Some(info.kid.as_str()) {
            return Err(KeyError::Mismatch {
                kid: info.kid.clone(),
                path,
            });
        }
        let sealed = seal_private(at_rest, &info.kid, &pem)?;
        // Only a row still without one: another instance moving the same file at the same
        // moment wrote the same key.
        let done = sqlx::query(
            "UPDATE oidc_signing_keys SET private_key = $1 WHERE kid = $2 AND private_key IS NULL",
        )
        .bind(&sealed)
        .bind(&info.kid)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?;
        if done.rows_affected() == 1 {
            tracing::info!(
                kid = %info.kid,
                %alg,
                file = %path.display(),
                "moved the private signing key from its file into the database (sealed with \
                 the pepper); the file is no longer read and may be deleted once every \
                 instance runs this version"
            );
            moved.push(path);
        }
    }
    Ok(moved)
}

/// Erases the private halves of retired keys (no token they signed is still valid), in the
/// database and as files left in `dir` by an earlier version. Returns the kids erased and the
/// files deleted.
pub(super) async fn erase_retired(
    store: &Store,
    dir: &Path,
    alg: Alg,
    now: i64,
) -> KeyResult<(Vec<String>, Vec<PathBuf>)> {
    let mut erased = Vec::new();
    let mut removed_files = Vec::new();
    for info in list(store).await? {
        if info.alg() != Some(alg) || info.published(now) {
            continue;
        }
        let done = sqlx::query(
            "UPDATE oidc_signing_keys SET private_key = NULL \
             WHERE kid = $1 AND private_key IS NOT NULL",
        )
        .bind(&info.kid)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?;
        if done.rows_affected() == 1 {
            erased.push(info.kid.clone());
        }
        let old = private_key_path(dir, alg, &info.kid);
        if std::fs::remove_file(&old).is_ok() {
            removed_files.push(old);
        }
    }
    Ok((erased, removed_files))
}
