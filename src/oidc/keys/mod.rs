//! The token-signing keys: RS256 (default) and ES256.
//!
//! Each key is a row in `oidc_signing_keys`: its public JWK, `kid`, algorithm and timestamps,
//! so that every instance on one database agrees on which key signs, and its private half
//! sealed with a key derived from the pepper of `keys_dir` (ChaCha20-Poly1305, the same sealing
//! as the Higher Logic API key): the pepper file is the only secret an instance needs, and a key
//! rotated on one instance signs on the others after their next reload. Private keys an earlier
//! version kept as PEM files in `keys_dir` move into the database at start, once.
//!
//! Rotation follows the usual two rules: a new key is published in the JWKS for one JWKS
//! cache lifetime before it signs (`activates_at`), and the key it replaces stays published
//! until every token it signed has expired (`retire_at`).
//!
//! Here: the model (algorithms, key rows and their states); `key_ring` loads and signs,
//! `rotation` adds keys, `key_files` makes and parses the private halves, `stored` seals them
//! into the database (and moves the files of earlier versions there).

mod key_files;
mod key_ring;
mod rotation;
mod signer;
mod stored;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::db::{Store, StoreError};
use crate::secrets::sealing::SealError;
use crate::secrets::{PepperError, SecretFileError};

pub use key_files::{generate_pem, public_jwk};
pub use key_ring::KeyRing;
pub use rotation::{rotate, Rotation};
pub use stored::keys_not_in_database;

/// Errors of the key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error(transparent)]
    Pepper(#[from] PepperError),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A key that signs now or next has no private half in the database, nor (made by an
    /// earlier version) a file here to move there.
    #[error(
        "the {alg} signing key {kid} has no private key in the database and its private key \
         file {path} is missing: start once an instance whose keys folder (keys_dir) holds that \
         file (it moves it into the database), copy the file here, or restore from a backup"
    )]
    MissingPrivateKey {
        alg: Alg,
        kid: String,
        path: PathBuf,
    },
    /// The sealed private half does not open with this keys folder's pepper (or was tampered
    /// with).
    #[error(
        "the private key of the {alg} signing key {kid} in the database does not decrypt with \
         the pepper of this keys folder (keys_dir): every instance needs the same pepper file"
    )]
    Unsealable { alg: Alg, kid: String },
    #[error("the private key file {path} does not match the public key {kid} in the database")]
    Mismatch { kid: String, path: PathBuf },
    #[error("invalid key file {path}: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("no {0} signing key is active")]
    NoActiveKey(Alg),
    #[error("token signing failed: {0}")]
    Sign(String),
    /// The token is not one we signed and still publish (bad signature, unknown kid, wrong
    /// issuer, expired ...). The message never contains the token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

pub type KeyResult<T> = Result<T, KeyError>;

/// A JWS algorithm the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    /// Every algorithm offered; RS256 (the OIDC default) first.
    pub const ALL: [Alg; 2] = [Alg::RS256, Alg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    fn from_jwt(alg: jsonwebtoken::Algorithm) -> Option<Alg> {
        match alg {
            jsonwebtoken::Algorithm::RS256 => Some(Alg::RS256),
            jsonwebtoken::Algorithm::ES256 => Some(Alg::ES256),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Alg, String> {
        match s.to_ascii_uppercase().as_str() {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            _ => Err(format!("unsupported algorithm {s:?}: use RS256 or ES256")),
        }
    }
}

/// A key's place in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Pending,
    /// Signs new tokens.
    Active,
    /// Replaced; published until the tokens it signed have expired.
    Retiring,
    /// No longer published.
    Retired,
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        })
    }
}

/// A signing key's public record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// The public JWK (JSON).
    pub public_jwk: String,
    pub created_at: i64,
    /// From this time on the key signs (if no newer key has activated).
    pub activates_at: i64,
    /// From this time on the key is no longer published; NULL while it is the newest key.
    pub retire_at: Option<i64>,
}

impl KeyInfo {
    fn alg(&self) -> Option<Alg> {
        self.alg.parse().ok()
    }

    fn published(&self, now: i64) -> bool {
        self.retire_at.is_none_or(|r| r > now)
    }
}

/// The state of each key at `now`: the newest activated key of each algorithm signs.
pub fn key_states(keys: &[KeyInfo], now: i64) -> Vec<KeyState> {
    keys.iter()
        .map(|k| {
            if !k.published(now) {
                KeyState::Retired
            } else if k.activates_at > now {
                KeyState::Pending
            } else if active_index(keys, k.alg().unwrap_or(Alg::RS256), now)
                .is_some_and(|i| keys[i].kid == k.kid)
            {
                KeyState::Active
            } else {
                KeyState::Retiring
            }
        })
        .collect()
}

/// Index of the key of `alg` that signs at `now`: the latest activated, still published one.
fn active_index(keys: &[KeyInfo], alg: Alg, now: i64) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.alg() == Some(alg) && k.activates_at <= now && k.published(now))
        .max_by(|(_, a), (_, b)| {
            (a.activates_at, &a.created_at, &a.kid).cmp(&(b.activates_at, &b.created_at, &b.kid))
        })
        .map(|(i, _)| i)
}

const KEY_SELECT: &str =
    "SELECT kid, alg, public_jwk, created_at, activates_at, retire_at FROM oidc_signing_keys";

/// Every key row, oldest first.
pub async fn list(store: &Store) -> KeyResult<Vec<KeyInfo>> {
    Ok(
        sqlx::query_as(&format!("{KEY_SELECT} ORDER BY created_at, kid"))
            .fetch_all(store.pool())
            .await
            .map_err(StoreError::from)?,
    )
}

/// The file holding a key's private half.
pub fn private_key_path(dir: &Path, alg: Alg, kid: &str) -> PathBuf {
    dir.join(format!("signing-{}-{kid}.pem", alg.as_str().to_lowercase()))
}

/// Timings of signing-key rotation, in seconds (`[signing]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// How long clients may cache the JWKS; a new key is published this long before it signs.
    pub jwks_max_age_secs: u64,
    /// How long a replaced key stays published after the new one starts signing: at least the
    /// longest lifetime of a token it signed (ID tokens live at most a day).
    pub retire_after_secs: u64,
    /// How often an instance re-reads the key list (to see keys rotated elsewhere); keep it
    /// well below `jwks_max_age_secs`.
    pub reload_secs: u64,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            jwks_max_age_secs: 3600,
            retire_after_secs: 24 * 3600,
            reload_secs: 60,
        }
    }
}

impl SigningSettings {
    /// The key and reason of the first invalid value.
    pub fn validate(&self) -> Result<(), (&'static str, String, String)> {
        if self.reload_secs == 0 || self.reload_secs >= self.jwks_max_age_secs {
            return Err((
                "signing.reload_secs",
                self.reload_secs.to_string(),
                "must be at least 1 and below signing.jwks_max_age_secs".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kid: &str, alg: Alg, activates_at: i64, retire_at: Option<i64>) -> KeyInfo {
        KeyInfo {
            kid: kid.into(),
            alg: alg.as_str().into(),
            public_jwk: "{}".into(),
            created_at: activates_at,
            activates_at,
            retire_at,
        }
    }

    #[test]
    fn newest_activated_key_signs() {
        let keys = vec![
            info("a", Alg::RS256, 0, Some(5_000)),
            info("b", Alg::RS256, 1_000, None),
            info("e", Alg::ES256, 0, None),
        ];
        use KeyState::*;
        assert_eq!(key_states(&keys, 500), vec![Active, Pending, Active]);
        assert_eq!(key_states(&keys, 1_000), vec![Retiring, Active, Active]);
        assert_eq!(key_states(&keys, 5_000), vec![Retired, Active, Active]);
        assert_eq!(active_index(&keys, Alg::RS256, 500), Some(0));
        assert_eq!(active_index(&keys, Alg::RS256, 2_000), Some(1));
        assert_eq!(active_index(&keys, Alg::ES256, 2_000), Some(2));
    }
}
