//! The token-signing key ring: RS256 (default) and ES256 keys.
//!
//! Private keys are PEM files in `keys_dir` (mode 0600, never in the database); their public
//! JWK, `kid`, algorithm and timestamps are rows in `oidc_signing_keys`, so that every instance
//! on one database agrees on which key signs. Instances share the keys folder (a mounted secret).
//!
//! Rotation follows the usual two rules: a new key is published in the JWKS for one JWKS
//! cache lifetime before it signs (`activates_at`), and the key it replaces stays published
//! until every token it signed has expired (`retire_at`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, KeyPair};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Settings, SigningSettings};
use crate::db::{is_unique_violation, now_ms, Store, StoreError};

/// Errors of the key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("keys folder {path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A key the database says this instance must sign with has no private file here.
    #[error(
        "the {alg} signing key {kid} is in the database but its private key file {path} is \
         missing: every instance must share the same keys folder (keys_dir); copy the file from \
         the instance that created it (or restore it from backup)"
    )]
    MissingPrivateKey {
        alg: Alg,
        kid: String,
        path: PathBuf,
    },
    #[error("the private key file {path} does not match the public key {kid} in the database")]
    Mismatch { kid: String, path: PathBuf },
    #[error("invalid key file {path}: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error(
        "the client-secret pepper in {path} is not the one the database was set up with: \
         instances must share the keys folder, or client secrets cannot be checked"
    )]
    PepperMismatch { path: PathBuf },
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

/// A loaded key: the public record plus, when this instance has the file, the private half.
struct Loaded {
    info: KeyInfo,
    alg: Alg,
    jwk: Value,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
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
    snapshot: RwLock<Arc<Snapshot>>,
}

/// The signing keys, shared by every handler. Cheap to clone.
///
/// Keys rotated by another instance (or `guildgate keys rotate`) are picked up by reloading
/// the rows every `reload_secs`; since a new key only signs after a JWKS cache lifetime, every
/// instance has it long before it is used.
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
    /// Loads the keys (creating an RS256 and an ES256 key on first start) and the pepper.
    /// Fails when a key that signs now, or will sign next, has no private file in the folder.
    pub async fn load_or_init(store: &Store, settings: &Settings) -> KeyResult<KeyRing> {
        let dir = settings.keys_dir.clone();
        ensure_dir(&dir)?;
        let pepper = Pepper::load_or_init(store, &dir).await?;
        for alg in Alg::ALL {
            init_first_key(store, &dir, alg).await?;
        }
        let snapshot = load_snapshot(store, &dir, now_ms(), true).await?;
        Ok(KeyRing {
            inner: Arc::new(Inner {
                store: store.clone(),
                dir,
                issuer: settings.issuer().to_string(),
                settings: settings.signing.clone(),
                pepper,
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

    /// Re-reads the key rows (new keys from a rotation elsewhere).
    pub async fn reload(&self) -> KeyResult<()> {
        let fresh = load_snapshot(&self.inner.store, &self.inner.dir, now_ms(), false).await?;
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
    let Some(encoding) = &key.encoding else {
        tracing::error!(kid = %key.info.kid, %alg, "the active signing key has no private file");
        return Err(KeyError::Sign(format!(
            "the private file of the active {alg} key {} is missing",
            key.info.kid
        )));
    };
    let mut header = Header::new(alg.jwt());
    header.typ = Some("JWT".into());
    header.kid = Some(key.info.kid.clone());
    jsonwebtoken::encode(&header, claims, encoding).map_err(|e| KeyError::Sign(e.to_string()))
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

async fn load_snapshot(store: &Store, dir: &Path, now: i64, at_start: bool) -> KeyResult<Snapshot> {
    let infos: Vec<KeyInfo> = list(store)
        .await?
        .into_iter()
        .filter(|i| i.alg().is_some())
        .collect();
    let states = key_states(&infos, now);
    let mut keys = Vec::with_capacity(infos.len());
    for (info, state) in infos.iter().zip(states) {
        let alg = info.alg().unwrap_or(Alg::RS256);
        let row = || PathBuf::from(format!("database row {}", info.kid));
        let jwk: Value = serde_json::from_str(&info.public_jwk).map_err(|e| KeyError::BadKey {
            path: row(),
            message: e.to_string(),
        })?;
        let decoding = decoding_key(alg, &jwk).map_err(|message| KeyError::BadKey {
            path: row(),
            message,
        })?;
        let path = private_key_path(dir, alg, &info.kid);
        let encoding = match state {
            KeyState::Retired => None,
            _ => match read_private(&path)? {
                Some(pem) => {
                    let (public, encoding) = parse_private(alg, &pem, &path)?;
                    if public.get("kid") != jwk.get("kid") {
                        return Err(KeyError::Mismatch {
                            kid: info.kid.clone(),
                            path,
                        });
                    }
                    Some(encoding)
                }
                None => None,
            },
        };
        // Keys that sign now or will sign next must be here; a retiring key only verifies.
        if matches!(state, KeyState::Active | KeyState::Pending) && encoding.is_none() {
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
            encoding,
        });
    }
    Ok(Snapshot {
        keys,
        infos,
        loaded: Instant::now(),
    })
}

/// Creates the first key of `alg` when the database has none.
async fn init_first_key(store: &Store, dir: &Path, alg: Alg) -> KeyResult<()> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oidc_signing_keys WHERE alg = $1")
        .bind(alg.as_str())
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::from)?;
    if count > 0 {
        return Ok(());
    }
    let now = now_ms();
    let (kid, path) = create_key_file(dir, alg).await?;
    let jwk = public_jwk_of_file(alg, &path)?;
    let mut tx = store.begin().await?;
    // Another instance starting at the same moment may have won; one first key is enough.
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oidc_signing_keys WHERE alg = $1")
        .bind(alg.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    if count > 0 {
        drop(tx);
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    insert_key(&mut tx, &kid, alg, &jwk, now, now).await?;
    crate::change_log::record(
        &mut tx,
        crate::change_log::Change {
            actor: "system",
            entity: "signing_key",
            entity_id: &kid,
            action: "created",
            member_id: None,
            group_id: None,
            detail: json!({ "alg": alg.as_str() }),
        },
    )
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
    now: i64,
    activates_at: i64,
) -> KeyResult<()> {
    sqlx::query(
        "INSERT INTO oidc_signing_keys (kid, alg, public_jwk, created_at, activates_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kid)
    .bind(alg.as_str())
    .bind(jwk.to_string())
    .bind(now)
    .bind(activates_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("signing key {kid} exists already"))
        } else {
            StoreError::from(e)
        }
    })?;
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
    /// Private files of retired keys, deleted (no token they signed is still valid).
    pub removed_files: Vec<PathBuf>,
}

/// Adds a new key of `alg`: published now, signing after the JWKS cache lifetime; the key it
/// replaces is retired once every token it may have signed has expired.
pub async fn rotate(
    store: &Store,
    settings: &Settings,
    actor: &str,
    alg: Alg,
    now: i64,
) -> KeyResult<Rotation> {
    let dir = &settings.keys_dir;
    ensure_dir(dir)?;
    let (kid, path) = create_key_file(dir, alg).await?;
    let jwk = public_jwk_of_file(alg, &path)?;
    // Publication is the insert below, after a key generation that can take a while: count
    // the publish-before-sign delay from then.
    let now = now.max(now_ms());
    let activates_at = now + (settings.signing.jwks_max_age_secs as i64) * 1000;
    let retire_at = activates_at + (settings.signing.retire_after_secs as i64) * 1000;
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
    insert_key(&mut tx, &kid, alg, &jwk, now, activates_at).await?;
    crate::change_log::record(
        &mut tx,
        crate::change_log::Change {
            actor,
            entity: "signing_key",
            entity_id: &kid,
            action: "rotated",
            member_id: None,
            group_id: None,
            detail: json!({
                "alg": alg.as_str(),
                "activates_at": activates_at,
                "replaces": previous.as_ref().map(|p| p.0.clone()),
                "replaced_retire_at": retire_at,
            }),
        },
    )
    .await?;
    if let Err(e) = tx.commit().await {
        let _ = std::fs::remove_file(&path);
        return Err(StoreError::from(e).into());
    }
    let mut removed_files = Vec::new();
    for info in list(store).await? {
        if info.alg() == Some(alg) && !info.published(now) {
            let old = private_key_path(dir, alg, &info.kid);
            if std::fs::remove_file(&old).is_ok() {
                removed_files.push(old);
            }
        }
    }
    Ok(Rotation {
        alg,
        new_kid: kid,
        activates_at,
        replaced: previous.map(|(k,)| (k, retire_at)),
        removed_files,
    })
}

fn io_err(path: &Path, e: impl fmt::Display) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn ensure_dir(dir: &Path) -> KeyResult<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err(dir, e))?;
        }
    }
    Ok(())
}

/// Writes `contents` to `path` with mode 0600, only if `path` does not exist yet, atomically
/// (a temporary file hard-linked into place), so that instances starting together on a shared
/// folder never read a half-written file. Returns false when the file existed.
fn write_secret_file(path: &Path, contents: &[u8]) -> KeyResult<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp).map_err(|e| io_err(&tmp, e))?;
        file.write_all(contents).map_err(|e| io_err(&tmp, e))?;
        file.sync_all().map_err(|e| io_err(&tmp, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_err(path, e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The file's contents, or `None` when it does not exist. Warns when others may read it.
fn read_private(path: &Path) -> KeyResult<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(path) {
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), "private key file is readable by others; chmod 600 it");
                    }
                }
            }
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Generates a key pair into a new file; returns its kid and path.
async fn create_key_file(dir: &Path, alg: Alg) -> KeyResult<(String, PathBuf)> {
    let pem = tokio::task::spawn_blocking(move || generate_pem(alg))
        .await
        .map_err(|e| KeyError::Sign(e.to_string()))??;
    let (jwk, _) = parse_private(alg, &pem, Path::new("(new key)"))?;
    let kid = jwk["kid"].as_str().unwrap_or_default().to_string();
    let path = private_key_path(dir, alg, &kid);
    write_secret_file(&path, pem.as_bytes())?;
    Ok((kid, path))
}

/// A new private key as PKCS#8 PEM.
pub fn generate_pem(alg: Alg) -> KeyResult<String> {
    let bad = |e: &dyn fmt::Display| KeyError::BadKey {
        path: PathBuf::from("(new key)"),
        message: e.to_string(),
    };
    match alg {
        Alg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| bad(&e))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| bad(&e))?;
            Ok(pem.to_string())
        }
        Alg::ES256 => {
            let rng = SystemRandom::new();
            let doc = ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|e| bad(&e))?;
            Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
        }
    }
}

fn public_jwk_of_file(alg: Alg, path: &Path) -> KeyResult<Value> {
    let pem = read_private(path)?.ok_or_else(|| io_err(path, "vanished"))?;
    Ok(parse_private(alg, &pem, path)?.0)
}

/// Parses a private key file: its public JWK (with RFC 7638 thumbprint as kid) and the
/// signing key.
fn parse_private(alg: Alg, pem_text: &str, path: &Path) -> KeyResult<(Value, EncodingKey)> {
    let bad = |message: String| KeyError::BadKey {
        path: path.to_path_buf(),
        message,
    };
    let parsed = pem::parse(pem_text).map_err(|e| bad(e.to_string()))?;
    if parsed.tag() != "PRIVATE KEY" {
        return Err(bad(format!(
            "expected a PKCS#8 \"PRIVATE KEY\", found {:?}",
            parsed.tag()
        )));
    }
    let der = parsed.contents();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Alg::RS256 => {
            let pair = ring_sig::RsaKeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
            let parts = ring_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let (n, e) = (b64(&parts.n), b64(&parts.e));
            // RFC 7638: members in lexicographic order, no whitespace.
            let thumb = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
            let kid = b64(&Sha256::digest(thumb.as_bytes()));
            let jwk =
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
            let encoding =
                EncodingKey::from_rsa_pem(pem_text.as_bytes()).map_err(|e| bad(e.to_string()))?;
            Ok((jwk, encoding))
        }
        Alg::ES256 => {
            let pair = ring_sig::EcdsaKeyPair::from_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &SystemRandom::new(),
            )
            .map_err(|e| bad(e.to_string()))?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(bad("unexpected P-256 public key encoding".into()));
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
            let thumb = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            let kid = b64(&Sha256::digest(thumb.as_bytes()));
            let jwk = json!({"kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": kid, "x": x, "y": y});
            let encoding =
                EncodingKey::from_ec_pem(pem_text.as_bytes()).map_err(|e| bad(e.to_string()))?;
            Ok((jwk, encoding))
        }
    }
}

fn decoding_key(alg: Alg, jwk: &Value) -> Result<DecodingKey, String> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("JWK without {name}"))
    };
    match alg {
        Alg::RS256 => DecodingKey::from_rsa_components(field("n")?, field("e")?),
        Alg::ES256 => DecodingKey::from_ec_components(field("x")?, field("y")?),
    }
    .map_err(|e| e.to_string())
}

/// The secret key of the keyed hash that client secrets are stored under (HMAC-SHA256). It
/// lives in the keys folder, never in the database, so a copy of the database alone cannot be
/// used to test guesses; the database keeps a fingerprint so that an instance with another
/// pepper refuses to start.
#[derive(Clone)]
pub struct Pepper(Arc<[u8; 32]>);

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(..)")
    }
}

pub const PEPPER_FILE: &str = "client-secret-pepper";

impl Pepper {
    /// Reads `keys_dir/client-secret-pepper`, creating it (and its fingerprint row) on first use.
    pub async fn load_or_init(store: &Store, dir: &Path) -> KeyResult<Pepper> {
        ensure_dir(dir)?;
        let path = dir.join(PEPPER_FILE);
        let (existing,): (Option<String>,) = sqlx::query_as(
            "SELECT MAX(fingerprint) FROM oidc_key_material WHERE name = 'client-secret-pepper'",
        )
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::from)?;
        if read_private(&path)?.is_none() {
            if existing.is_some() {
                return Err(KeyError::PepperMismatch { path });
            }
            let mut bytes = [0u8; 32];
            ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes)
                .map_err(|_| io_err(&path, "no randomness"))?;
            write_secret_file(&path, format!("{}\n", STANDARD.encode(bytes)).as_bytes())?;
        }
        let text = read_private(&path)?.ok_or_else(|| io_err(&path, "vanished"))?;
        let raw = STANDARD.decode(text.trim()).map_err(|e| KeyError::BadKey {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| KeyError::BadKey {
            path: path.clone(),
            message: "expected 32 bytes in base64".into(),
        })?;
        let pepper = Pepper(Arc::new(bytes));
        let fingerprint = pepper.fingerprint();
        match existing {
            Some(f) if f == fingerprint => {}
            Some(_) => return Err(KeyError::PepperMismatch { path }),
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO oidc_key_material (name, fingerprint, created_at) \
                     VALUES ('client-secret-pepper', $1, $2)",
                )
                .bind(&fingerprint)
                .bind(now_ms())
                .execute(store.pool())
                .await;
                match inserted {
                    Ok(_) => {}
                    // Another instance recorded it first: it must be the same file.
                    Err(e) if is_unique_violation(&e) => {
                        let (f,): (String,) = sqlx::query_as(
                            "SELECT fingerprint FROM oidc_key_material \
                             WHERE name = 'client-secret-pepper'",
                        )
                        .fetch_one(store.pool())
                        .await
                        .map_err(StoreError::from)?;
                        if f != fingerprint {
                            return Err(KeyError::PepperMismatch { path });
                        }
                    }
                    Err(e) => return Err(StoreError::from(e).into()),
                }
            }
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

    /// Names the pepper without revealing it.
    fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"guildgate pepper fingerprint");
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The stored form of a client secret: base64url HMAC-SHA256.
    pub fn hash(&self, secret: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"client-secret:");
        mac.update(secret.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let candidate = self.hash(secret);
        candidate.as_bytes().ct_eq(stored.as_bytes()).into()
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

    #[test]
    fn generated_keys_parse_with_thumbprint_kids() {
        for alg in Alg::ALL {
            let pem = generate_pem(alg).unwrap();
            let (jwk, _) = parse_private(alg, &pem, Path::new("x")).unwrap();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
            assert!(jwk.get("d").is_none(), "no private parts in the JWK");
            decoding_key(alg, &jwk).unwrap();
        }
    }

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

    #[test]
    fn secret_files_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(write_secret_file(&path, b"one").unwrap());
        assert!(!write_secret_file(&path, b"two").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
