//! The pepper: 32 random bytes in the keys folder that key every HMAC the provider stores
//! (client secrets) and every key that seals secrets at rest.
//!
//! It lives in the keys folder, never in the database, so a copy of the database alone cannot be
//! used to test guesses; the database keeps a fingerprint so that an instance with another
//! pepper refuses to start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::files::{ensure_private_dir, read_private_file, write_secret_file, SecretFileError};
use crate::db::{is_unique_violation, now_ms, Store, StoreError, StoreResult};

pub const PEPPER_FILE: &str = "client-secret-pepper";

/// Why the pepper could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error("invalid pepper file {path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error(
        "the client-secret pepper in {path} is not the one the database was set up with: \
         instances must share the keys folder, or client secrets cannot be checked"
    )]
    Mismatch { path: PathBuf },
}

#[derive(Clone)]
pub struct Pepper(Arc<[u8; 32]>);

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(..)")
    }
}

impl Pepper {
    /// Reads `keys_dir/client-secret-pepper`, creating it (and its fingerprint row) on first use.
    pub async fn load_or_init(store: &Store, dir: &Path) -> Result<Pepper, PepperError> {
        ensure_private_dir(dir)?;
        let path = dir.join(PEPPER_FILE);
        let existing = recorded_fingerprint(store).await?;
        if read_private_file(&path)?.is_none() {
            if existing.is_some() {
                return Err(PepperError::Mismatch { path });
            }
            let bytes = super::random_bytes::<32>();
            write_secret_file(&path, format!("{}\n", STANDARD.encode(bytes)).as_bytes())?;
        }
        let text =
            read_private_file(&path)?.ok_or_else(|| SecretFileError::new(&path, "vanished"))?;
        let bad = |message: String| PepperError::BadFile {
            path: path.clone(),
            message,
        };
        let raw = STANDARD
            .decode(text.trim())
            .map_err(|e| bad(e.to_string()))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("expected 32 bytes in base64".into()))?;
        let pepper = Pepper(Arc::new(bytes));
        let fingerprint = pepper.fingerprint();
        let recorded = match existing {
            Some(f) => f,
            None => record_fingerprint(store, &fingerprint).await?,
        };
        if recorded != fingerprint {
            return Err(PepperError::Mismatch { path });
        }
        Ok(pepper)
    }

    /// A pepper from bytes (tests and benchmarks).
    pub fn from_bytes(bytes: [u8; 32]) -> Pepper {
        Pepper(Arc::new(bytes))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// A key for secrets kept encrypted in the database, derived from the pepper with
    /// HKDF-SHA256 for `purpose`: the folder that checks client secrets also opens them.
    pub fn sealing_key(&self, purpose: &[u8]) -> ring::aead::LessSafeKey {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"guildgate pepper")
            .extract(self.0.as_slice());
        let info = [purpose];
        let okm = prk
            .expand(&info, &ring::aead::CHACHA20_POLY1305)
            // Fails only for outputs longer than 255 hashes; a 32-byte key never is.
            .unwrap_or_else(|_| unreachable!("HKDF expands to 32 bytes"));
        ring::aead::LessSafeKey::new(ring::aead::UnboundKey::from(okm))
    }

    /// The key of every secret kept sealed in the database ([`super::sealing`]).
    pub fn at_rest_key(&self) -> ring::aead::LessSafeKey {
        self.sealing_key(b"guildgate secrets at rest v1")
    }

    /// Names the pepper without revealing it.
    fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"guildgate pepper fingerprint");
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The stored form of a client secret: base64url HMAC-SHA256.
    pub fn hash(&self, secret: &str) -> String {
        self.keyed_hash("client-secret", secret)
    }

    /// `value` as base64url HMAC-SHA256 under `purpose`: what may be kept or logged of
    /// something that must not be recoverable from it (a login typed at a sign-in form, which
    /// may be a password typed in the wrong field) by anyone without the keys folder.
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let candidate = self.hash(secret);
        candidate.as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

async fn recorded_fingerprint(store: &Store) -> StoreResult<Option<String>> {
    let (existing,): (Option<String>,) = sqlx::query_as(
        "SELECT MAX(fingerprint) FROM oidc_key_material WHERE name = 'client-secret-pepper'",
    )
    .fetch_one(store.pool())
    .await?;
    Ok(existing)
}

/// Records the first instance's fingerprint; when another instance recorded one first, that
/// one is returned (and must be the same).
async fn record_fingerprint(store: &Store, fingerprint: &str) -> StoreResult<String> {
    let inserted = sqlx::query(
        "INSERT INTO oidc_key_material (name, fingerprint, created_at) \
         VALUES ('client-secret-pepper', $1, $2)",
    )
    .bind(fingerprint)
    .bind(now_ms())
    .execute(store.pool())
    .await;
    match inserted {
        Ok(_) => Ok(fingerprint.to_string()),
        Err(e) if is_unique_violation(&e) => {
            Ok(recorded_fingerprint(store).await?.unwrap_or_default())
        }
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// The pepper of the keys folder given to [`Store::with_keys_dir`] (loaded, or created, on
    /// first use): it keys the hashes the store keeps of secrets it must recognise but never
    /// show again (recovery codes).
    pub(crate) async fn pepper(&self) -> StoreResult<&Pepper> {
        let (dir, pepper, _) = self.sealing_parts();
        pepper
            .get_or_try_init(|| async {
                let dir = dir.get().ok_or_else(|| {
                    StoreError::Sealing("no keys folder was given to the store".into())
                })?;
                Pepper::load_or_init(self, dir)
                    .await
                    .map_err(|e| StoreError::Sealing(e.to_string()))
            })
            .await
    }

    /// The key that encrypts secrets at rest, derived from [`Store::pepper`].
    pub(crate) async fn sealing_key(&self) -> StoreResult<&ring::aead::LessSafeKey> {
        let (_, _, key) = self.sealing_parts();
        key.get_or_try_init(|| async { Ok(self.pepper().await?.at_rest_key()) })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pepper_hash_is_keyed_and_verifies() {
        let p = Pepper::from_bytes([7; 32]);
        let q = Pepper::from_bytes([8; 32]);
        let h = p.hash("s3cret");
        assert!(p.verify("s3cret", &h));
        assert!(!p.verify("s3creT", &h));
        assert!(!q.verify("s3cret", &h));
        assert_ne!(p.fingerprint(), q.fingerprint());
    }
}
