//! Secrets: the pepper kept in the keys folder, random tokens, the stored form of a secret, the
//! sealed form of a secret kept in the database, and the owner-only files that hold secrets. One place for each, so that every token the provider
//! and the console hand out is made and stored the same way.

mod files;
mod pepper;
pub mod sealing;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use files::{ensure_private_dir, read_private_file, write_secret_file, SecretFileError};
pub use pepper::{Pepper, PepperError, PEPPER_FILE};

/// `N` bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A fresh random secret: 256 bits, base64url (43 characters). Codes, tokens, links, client
/// secrets, CSRF tokens and API tokens are all made here.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The stored form of a random token: SHA-256, lowercase hex. A token has 256 bits of entropy,
/// so an unsalted hash is enough; the database never holds the token itself.
pub fn stored_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The base64url SHA-256 form that links mailed by earlier versions were stored under; looked
/// up beside [`stored_hash`] until those links have expired.
pub fn legacy_stored_hash_b64(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn stored_hash_is_hex_sha256() {
        assert_eq!(
            stored_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(stored_hash("abc"), legacy_stored_hash_b64("abc"));
    }
}
