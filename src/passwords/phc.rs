//! argon2id in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), computed in a
//! memory the caller keeps, so a hashing thread allocates its 19 MiB once, not per password.

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
pub fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// `memory` resized to what `params` needs (growing it only when needed).
fn blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
}

/// A new hash of `password` with a random salt.
pub fn hash_with(password: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let params = params();
    let salt_bytes = crate::secrets::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt_bytes,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(|e| e.to_string())?;
    let output = Output::new(&out).map_err(|e| e.to_string())?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    ))
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant and parameters it
/// names), compared in constant time.
pub fn verify_with(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
        None => Version::default(),
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            blocks(memory, &params),
        )
        .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn our_hashes_are_standard_argon2id_both_ways() {
        let mut memory = Vec::new();
        let h = hash_with("correct horse battery", &mut memory).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // The argon2 crate's own verifier accepts ours ...
        let parsed = PasswordHash::new(&h).unwrap();
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        assert!(standard
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        // ... and ours accepts the crate's (hashes stored by earlier versions).
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = standard
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with("correct horse battery", &theirs, &mut memory));
        assert!(!verify_with("wrong horse battery", &theirs, &mut memory));
        assert!(!verify_with(
            "correct horse battery",
            "not a hash",
            &mut memory
        ));
        assert!(!verify_with("correct horse battery", "", &mut memory));
    }
}
