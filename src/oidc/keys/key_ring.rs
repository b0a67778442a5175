//! The key ring every handler signs and verifies with: a snapshot of the key rows and their
//! private halves (opened with the pepper), reloaded now and then to see rotations made
//! elsewhere.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, Validation};
use ring::aead::LessSafeKey;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::key_files::{decoding_key, parse_private};
use super::rotation::init_first_key;
use super::signer::Signer;
use super::stored::{move_key_files_in, open_private, sealed_private_keys};
use super::{
    active_index, key_states, list, private_key_path, Alg, KeyError, KeyInfo, KeyResult, KeyState,
    SigningSettings,
};
use crate::db::{now_ms, Store};
use crate::secrets::{ensure_private_dir, read_private_file, Pepper};

/// A loaded key: the public record plus, unless retired, the private half.
struct Loaded {
    info: KeyInfo,
    alg: Alg,
    jwk: Value,
    decoding: DecodingKey,
    signer: Option<Signer>,
}

struct Snapshot {
    keys: Vec<Loaded>,
    infos: Vec<KeyInfo>,
    loaded: Instant,
}

struct Inner {
    store: Store,
    dir: PathBuf,
    issuer: String,
    settings: SigningSettings,
    pepper: Pepper,
    /// Opens the private halves sealed in the database.
    at_rest: LessSafeKey,
    snapshot: RwLock<Arc<Snapshot>>,
}

/// The signing keys, shared by every handler. Cheap to clone.
///
/// Keys rotated by another instance (or `guildgate keys rotate`) are picked up by reloading
/// the rows, private halves included, every `reload_secs`; since a new key only signs after a
/// JWKS cache lifetime, every instance has it long before it is used.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the keys (creating an RS256 and an ES256 key on first start) and the pepper, after
    /// moving into the database the private key files an earlier version left in the folder.
    /// Fails when a key that signs now, or will sign next, has no usable private half.
    pub async fn load_or_init(
        store: &Store,
        dir: &Path,
        issuer: &str,
        signing: &SigningSettings,
    ) -> KeyResult<KeyRing> {
        ensure_private_dir(dir)?;
        let pepper = Pepper::load_or_init(store, dir).await?;
        let at_rest = pepper.at_rest_key();
        for alg in Alg::ALL {
            init_first_key(store, &at_rest, alg).await?;
        }
        move_key_files_in(store, dir, &at_rest).await?;
        KeyRing::build(store, dir, issuer, signing, pepper).await
    }

    /// Loads the keys as they are, creating no key and moving no file (for `guildgate doctor`
    /// and `restore`, with a pepper file already in `dir`); a private half not moved into the
    /// database yet is read from its file.
    pub async fn load_existing(
        store: &Store,
        dir: &Path,
        issuer: &str,
        signing: &SigningSettings,
    ) -> KeyResult<KeyRing> {
        let pepper = Pepper::load_or_init(store, dir).await?;
        KeyRing::build(store, dir, issuer, signing, pepper).await
    }

    async fn build(
        store: &Store,
        dir: &Path,
        issuer: &str,
        signing: &SigningSettings,
        pepper: Pepper,
    ) -> KeyResult<KeyRing> {
        let at_rest = pepper.at_rest_key();
        let snapshot = load_snapshot(store, dir, &at_rest, None, now_ms(), true).await?;
        Ok(KeyRing {
            inner: Arc::new(Inner {
                store: store.clone(),
                dir: dir.to_path_buf(),
                issuer: issuer.to_string(),
                settings: signing.clone(),
                pepper,
                at_rest,
                snapshot: RwLock::new(Arc::new(snapshot)),
            }),
        })
    }

    /// The keyed hash for client secrets.
    pub fn pepper(&self) -> &Pepper {
        &self.inner.pepper
    }

    /// How long clients may cache the JWKS (its `Cache-Control: max-age`).
    pub fn jwks_max_age(&self) -> Duration {
        Duration::from_secs(self.inner.settings.jwks_max_age_secs)
    }

    /// The algorithms ID tokens can be signed with (for discovery).
    pub fn algorithms(&self) -> &'static [Alg] {
        &Alg::ALL
    }

    async fn snapshot(&self) -> Arc<Snapshot> {
        let current = self.current();
        if current.loaded.elapsed() < Duration::from_secs(self.inner.settings.reload_secs) {
            return current;
        }
        if let Err(e) = self.reload().await {
            // Keep signing with what we have; the keys cannot change meaning.
            tracing::error!(error = %e, "reloading the signing keys failed");
        }
        self.current()
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.inner.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the key rows (new keys from a rotation elsewhere, with their private halves).
    pub async fn reload(&self) -> KeyResult<()> {
        let previous = self.current();
        let fresh = load_snapshot(
            &self.inner.store,
            &self.inner.dir,
            &self.inner.at_rest,
            Some(&previous),
            now_ms(),
            false,
        )
        .await?;
        match self.inner.snapshot.write() {
            Ok(mut s) => *s = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
        Ok(())
    }

    /// Signs `claims` as a JWT with the active key of `alg` (header `typ: JWT`, `kid`).
    pub async fn sign<T: Serialize>(&self, alg: Alg, claims: &T) -> KeyResult<String> {
        let snapshot = self.snapshot().await;
        sign_with(&snapshot, alg, claims, now_ms())
    }

    /// The published keys as a JWK Set (pending, active and retiring keys).
    pub async fn jwks(&self) -> Value {
        let snapshot = self.snapshot().await;
        let now = now_ms();
        let keys: Vec<&Value> = snapshot
            .keys
            .iter()
            .filter(|k| k.info.published(now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// Checks a token we signed (e.g. an `id_token_hint`): signature by a published key,
    /// algorithm matching that key, and `iss`. With `check_exp` false an expired token passes
    /// (RP-initiated logout accepts expired ID tokens as hints). The audience is the caller's
    /// to check. Returns the claims.
    pub async fn verify<T: DeserializeOwned>(&self, token: &str, check_exp: bool) -> KeyResult<T> {
        let snapshot = self.snapshot().await;
        verify_with(&snapshot, &self.inner.issuer, token, check_exp, now_ms())
    }

    /// The key rows as last loaded.
    pub fn key_infos(&self) -> Vec<KeyInfo> {
        self.current().infos.clone()
    }
}

fn sign_with<T: Serialize>(
    snapshot: &Snapshot,
    alg: Alg,
    claims: &T,
    now: i64,
) -> KeyResult<String> {
    let index = active_index(&snapshot.infos, alg, now).ok_or(KeyError::NoActiveKey(alg))?;
    let key = &snapshot.keys[index];
    let Some(signer) = &key.signer else {
        tracing::error!(kid = %key.info.kid, %alg, "the active signing key has no private key");
        return Err(KeyError::Sign(format!(
            "the private key of the active {alg} key {} is missing",
            key.info.kid
        )));
    };
    signer
        .sign_jwt(&key.info.kid, claims)
        .map_err(KeyError::Sign)
}

fn verify_with<T: DeserializeOwned>(
    snapshot: &Snapshot,
    issuer: &str,
    token: &str,
    check_exp: bool,
    now: i64,
) -> KeyResult<T> {
    let invalid = |m: &str| KeyError::InvalidToken(m.to_string());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
    let alg = Alg::from_jwt(header.alg).ok_or_else(|| invalid("unsupported algorithm"))?;
    let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
    let key = snapshot
        .keys
        .iter()
        .find(|k| k.info.kid == kid && k.info.published(now))
        .ok_or_else(|| invalid("unknown or retired key"))?;
    if key.alg != alg {
        return Err(invalid("algorithm does not match the key"));
    }
    let mut validation = Validation::new(alg.jwt());
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.validate_exp = check_exp;
    validation.set_required_spec_claims(if check_exp {
        &["iss", "exp"][..]
    } else {
        &["iss"][..]
    });
    jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
        .map(|d| d.claims)
        .map_err(|e| KeyError::InvalidToken(e.kind_description()))
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for jsonwebtoken::errors::Error {
    /// The error kind without any token material.
    fn kind_description(&self) -> String {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::InvalidSignature => "bad signature".into(),
            ErrorKind::ExpiredSignature => "expired".into(),
            ErrorKind::InvalidIssuer => "wrong issuer".into(),
            ErrorKind::ImmatureSignature => "not yet valid".into(),
            ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
            _ => "malformed token".into(),
        }
    }
}

/// The key rows and their private halves: sealed in the row (opened with `at_rest`), or for a
/// key an earlier version made and not moved yet, its file in `dir`. A key already loaded in
/// `previous` is taken from there (keys never change under their kid).
async fn load_snapshot(
    store: &Store,
    dir: &Path,
    at_rest: &LessSafeKey,
    previous: Option<&Snapshot>,
    now: i64,
    at_start: bool,
) -> KeyResult<Snapshot> {
    let infos: Vec<KeyInfo> = list(store)
        .await?
        .into_iter()
        .filter(|i| i.alg().is_some())
        .collect();
    let sealed = sealed_private_keys(store).await?;
    let states = key_states(&infos, now);
    let mut keys = Vec::with_capacity(infos.len());
    for (info, state) in infos.iter().zip(states) {
        let alg = info.alg().unwrap_or(Alg::RS256);
        let known = previous.and_then(|p| {
            p.keys
                .iter()
                .find(|k| k.info.kid == info.kid && k.alg == alg)
        });
        let row = || PathBuf::from(format!("database row {}", info.kid));
        let (jwk, decoding) = match known {
            Some(k) => (k.jwk.clone(), k.decoding.clone()),
            None => {
                let jwk: Value =
                    serde_json::from_str(&info.public_jwk).map_err(|e| KeyError::BadKey {
                        path: row(),
                        message: e.to_string(),
                    })?;
                let decoding = decoding_key(alg, &jwk).map_err(|message| KeyError::BadKey {
                    path: row(),
                    message,
                })?;
                (jwk, decoding)
            }
        };
        let path = private_key_path(dir, alg, &info.kid);
        let signer = match (state, known.and_then(|k| k.signer.clone())) {
            (KeyState::Retired, _) => None,
            (_, Some(signer)) => Some(signer),
            _ => {
                let pem = match sealed.get(&info.kid) {
                    Some(stored) => Some((open_private(at_rest, alg, &info.kid, stored)?, row())),
                    None => read_private_file(&path)?.map(|pem| (pem, path.clone())),
                };
                match pem {
                    Some((pem, source)) => {
                        let (public, signer) = parse_private(alg, &pem, &source)?;
                        if public.get("kid") != jwk.get("kid") {
                            return Err(KeyError::Mismatch {
                                kid: info.kid.clone(),
                                path: source,
                            });
                        }
                        Some(signer)
                    }
                    None => None,
                }
            }
        };
        // Keys that sign now or will sign next must be usable; a retiring key only verifies.
        if matches!(state, KeyState::Active | KeyState::Pending) && signer.is_none() {
            let err = KeyError::MissingPrivateKey {
                alg,
                kid: info.kid.clone(),
                path,
            };
            if at_start {
                return Err(err);
            }
            tracing::error!(error = %err, "signing key unusable");
        }
        keys.push(Loaded {
            info: info.clone(),
            alg,
            jwk,
            decoding,
            signer,
        });
    }
    Ok(Snapshot {
        keys,
        infos,
        loaded: Instant::now(),
    })
}
