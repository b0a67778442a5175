//! Passwords: the policy, generated passwords, and argon2id hashing with OWASP's minimum
//! parameters (19 MiB, 2 passes, 1 lane), always in the store's bounded hashing pool (`pool`),
//! never on the async runtime.

mod phc;
mod pool;

use crate::db::{Store, StoreError, StoreResult};

pub use pool::{Busy, HashPool, PasswordSettings};

/// The shortest password a member may choose.
pub const MIN_LENGTH: usize = 12;

/// Checks a new password against the policy.
pub fn check_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("a password needs at least {MIN_LENGTH} characters"));
    }
    if password.len() > 1024 {
        return Err("a password may have at most 1024 bytes".into());
    }
    Ok(())
}

impl Store {
    /// The store's hashing pool (started with the default settings on first use unless
    /// [`Store::with_password_settings`] named others).
    pub fn hash_pool(&self) -> &HashPool {
        let (settings, pool) = self.hash_pool_parts();
        pool.get_or_init(|| HashPool::new(settings.get().unwrap_or(&PasswordSettings::default())))
    }

    /// Sets the hashing pool's size and queue (once, before the first hash).
    pub fn with_password_settings(self, settings: PasswordSettings) -> Store {
        let (chosen, pool) = self.hash_pool_parts();
        // Settings that arrive after something hashed cannot resize the pool: say so rather
        // than run silently with the defaults.
        if chosen.set(settings).is_ok() && pool.get().is_some() {
            tracing::warn!(
                "the password-hashing pool started before its [passwords] settings were given; \
                 it keeps the defaults"
            );
        }
        self
    }

    /// A new argon2id hash of `password`, made in the pool.
    pub async fn hash_password(&self, password: String) -> StoreResult<String> {
        match self.hash_pool().hash(password).await {
            Ok(hashed) => hashed.map_err(StoreError::Hashing),
            Err(Busy) => Err(StoreError::Overloaded(Busy.to_string())),
        }
    }

    /// Whether `password` matches `hash` (a dummy when `None`, taking as long), checked in the
    /// pool. A full pool is [`StoreError::Overloaded`].
    pub async fn verify_password(
        &self,
        password: String,
        hash: Option<String>,
    ) -> StoreResult<bool> {
        self.hash_pool()
            .verify(password, hash)
            .await
            .map_err(|Busy| StoreError::Overloaded(Busy.to_string()))
    }
}

/// A random password of `len` characters from an unambiguous alphabet.
pub fn generate(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_and_generation() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough password").is_ok());
        let p = generate(20);
        assert_eq!(p.len(), 20);
        assert_ne!(p, generate(20));
    }
}
