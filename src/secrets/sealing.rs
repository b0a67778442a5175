//! Secrets kept in the database encrypted: ChaCha20-Poly1305 under a key derived from the
//! pepper ([`super::Pepper::at_rest_key`]), each value bound to where it belongs (its
//! "associated data", e.g. the column, or the column and the row's key), so that a sealed value
//! copied to another place does not open. One format for every such secret (the Higher Logic
//! API key, the private signing keys):
//! `sealed:v1:` + `base64url(nonce || ciphertext || tag)`, a random 96-bit nonce per seal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Marks a sealed value (and its format version) in a column.
pub const SEALED_PREFIX: &str = "sealed:v1:";

/// Sealing failed (no randomness for a nonce, which the operating system always has).
#[derive(Debug, thiserror::Error)]
#[error("sealing a secret failed: {0}")]
pub struct SealError(&'static str);

/// `plain` sealed under `key`, bound to `aad`.
pub fn seal(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError("no randomness for a nonce"))?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut data,
    )
    .map_err(|_| SealError("encryption failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Whether `stored` is a sealed value (rather than one kept in clear by an earlier version).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The plaintext, or `None` for a value this key did not seal for `aad` (tampered with, moved
/// from another place, or sealed with another keys folder's pepper).
pub fn open(key: &LessSafeKey, aad: &[u8], stored: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD
        .decode(stored.strip_prefix(SEALED_PREFIX)?)
        .ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = sealed.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut data).ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Pepper;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let key = Pepper::from_bytes([1; 32]).at_rest_key();
        let other = Pepper::from_bytes([2; 32]).at_rest_key();
        let sealed = seal(&key, b"here", b"secret").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("secret"));
        assert_ne!(
            sealed,
            seal(&key, b"here", b"secret").unwrap(),
            "fresh nonce"
        );
        assert_eq!(open(&key, b"here", &sealed).unwrap(), b"secret");
        assert!(open(&key, b"there", &sealed).is_none());
        assert!(open(&other, b"here", &sealed).is_none());
        assert!(open(&key, b"here", "secret").is_none());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(open(&key, b"here", &tampered).is_none());
    }
}
