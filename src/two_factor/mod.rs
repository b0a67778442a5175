//! Two-factor sign-in: a TOTP secret per account (RFC 6238, [`totp`]), sealed in the database
//! like the Higher Logic API key, the last time step used (a code is taken once), and ten
//! single-use recovery codes kept as keyed hashes. Enabling it, replacing it, turning it off,
//! an operator's reset and the use of a recovery code are written to the change log; replacing,
//! turning off and resetting are credential changes ([`Event::ends_credentials`]): what the
//! account's sessions and tokens were issued under ends with them.
//!
//! The pages (the code step after the password, enrolment, the account page's forms) are the
//! provider's and the console's; this module is the store's part.

pub mod totp;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::Account;
use crate::change_log::{Change, Event};
use crate::db::{now_ms, Store, StoreError, StoreResult, Transaction};
use crate::secrets::{self, sealing};
use totp::{CodeCheck, TotpSecret};

/// Settings of `[two_factor]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoFactorSettings {
    /// Administrators must sign in with a second factor: one without it is sent to enrolment
    /// after the password, at the console and at the provider.
    pub required_for_administrators: bool,
}

impl Default for TwoFactorSettings {
    fn default() -> Self {
        TwoFactorSettings {
            required_for_administrators: true,
        }
    }
}

/// How many recovery codes an enrolment (or a renewal) gives.
pub const RECOVERY_CODES: usize = 10;

/// Associated data of the sealed columns (see [`sealing::seal`]).
const SECRET_AAD: &[u8] = b"account_two_factor.secret";

/// An account's second factor, as the pages need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorStatus {
    /// A confirmed secret: the account signs in with a code.
    pub enabled: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

/// A recovery code as shown once: ten lowercase base32 characters in two groups (50 bits).
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = secrets::random_bytes::<10>();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed: lowercase, without spaces or dashes.
fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn unix_secs() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or_default()
}

impl Store {
    async fn recovery_code_hash(&self, code: &str) -> StoreResult<String> {
        Ok(self
            .pepper()
            .await?
            .keyed_hash("recovery-code", &normalise_recovery_code(code)))
    }

    async fn open_secret(&self, sealed: &str) -> StoreResult<TotpSecret> {
        let key = self.sealing_key().await?;
        sealing::open(key, SECRET_AAD, sealed)
            .map(TotpSecret::from_bytes)
            .ok_or_else(|| {
                StoreError::Sealing(
                    "a two-factor secret does not decrypt with this keys folder".into(),
                )
            })
    }

    /// Whether `account_id` signs in with a code, and how many recovery codes it has left.
    pub async fn two_factor_status(&self, account_id: &str) -> StoreResult<TwoFactorStatus> {
        let (enabled,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM account_two_factor WHERE account_id = $1 AND secret IS NOT NULL",
        )
        .bind(account_id)
        .fetch_one(self.pool())
        .await?;
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM account_recovery_codes WHERE account_id = $1 AND used_at IS NULL",
        )
        .bind(account_id)
        .fetch_one(self.pool())
        .await?;
        Ok(TwoFactorStatus {
            enabled: enabled > 0,
            recovery_codes_left: left,
        })
    }

    /// Starts (or restarts) an enrolment: a new secret waits, sealed, for its first valid
    /// code ([`Store::confirm_two_factor`]). A confirmed secret stays in force meanwhile.
    pub async fn begin_two_factor_enrolment(&self, account_id: &str) -> StoreResult<TotpSecret> {
        let secret = TotpSecret::generate();
        let sealed = sealing::seal(self.sealing_key().await?, SECRET_AAD, secret.as_bytes())
            .map_err(|e| StoreError::Sealing(e.to_string()))?;
        sqlx::query(
            "INSERT INTO account_two_factor (account_id, pending_secret, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE SET \
             pending_secret = excluded.pending_secret, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(&sealed)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(secret)
    }

    /// The secret of the enrolment under way, if any (to show the page again).
    pub async fn pending_two_factor_secret(
        &self,
        account_id: &str,
    ) -> StoreResult<Option<TotpSecret>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT pending_secret FROM account_two_factor WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(self.pool())
                .await?;
        match row.and_then(|(s,)| s) {
            Some(sealed) => Ok(Some(self.open_secret(&sealed).await?)),
            None => Ok(None),
        }
    }

    /// The secret of the enrolment under way, or of a new one when none is (what an
    /// enrolment page shows).
    pub async fn two_factor_secret_to_enrol(&self, account_id: &str) -> StoreResult<TotpSecret> {
        match self.pending_two_factor_secret(account_id).await? {
            Some(secret) => Ok(secret),
            None => self.begin_two_factor_enrolment(account_id).await,
        }
    }

    /// Confirms the enrolment under way with its first code: the secret is in force from now
    /// on, and the ten recovery codes are returned (to be shown once; only their keyed hashes
    /// are kept). `None` when the code is not right (or no enrolment is under way).
    pub async fn confirm_two_factor(
        &self,
        actor: &str,
        account: &Account,
        code: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let Some(secret) = self.pending_two_factor_secret(&account.id).await? else {
            return Ok(None);
        };
        let Some(step) = secret.matching_step(code, unix_secs()) else {
            return Ok(None);
        };
        let sealed = sealing::seal(self.sealing_key().await?, SECRET_AAD, secret.as_bytes())
            .map_err(|e| StoreError::Sealing(e.to_string()))?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let mut hashes = Vec::with_capacity(codes.len());
        for code in &codes {
            hashes.push(self.recovery_code_hash(code).await?);
        }
        let mut tx = self.begin().await?;
        let (had,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM account_two_factor WHERE account_id = $1 AND secret IS NOT NULL",
        )
        .bind(&account.id)
        .fetch_one(&mut *tx)
        .await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE account_two_factor SET secret = $1, pending_secret = NULL, last_step = $2, \
             enabled_at = $3, updated_at = $3 WHERE account_id = $4",
        )
        .bind(&sealed)
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .bind(now)
        .bind(&account.id)
        .execute(&mut *tx)
        .await?;
        replace_recovery_codes(&mut tx, &account.id, &hashes, now).await?;
        // A first secret adds a factor; a replaced one is a credential change.
        let event = if had > 0 {
            Event::AccountTwoFactorReplaced
        } else {
            Event::AccountTwoFactorEnabled
        };
        Change::new(actor, event, &account.id)
            .detail(json!({ "member_key": account.member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(codes))
    }

    /// Checks a code of `account_id`'s confirmed secret: accepted once per time step (the
    /// step is recorded in the same statement that checks it is new, so two instances cannot
    /// both take it).
    pub async fn check_two_factor_code(
        &self,
        account_id: &str,
        code: &str,
    ) -> StoreResult<CodeCheck> {
        let row: Option<(Option<String>, i64)> = sqlx::query_as(
            "SELECT secret, last_step FROM account_two_factor WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(self.pool())
        .await?;
        let Some((Some(sealed), last_step)) = row else {
            return Ok(CodeCheck::Wrong);
        };
        let secret = self.open_secret(&sealed).await?;
        let last = u64::try_from(last_step).unwrap_or_default();
        let check = totp::judge(secret.matching_step(code, unix_secs()), last);
        let CodeCheck::Accepted(step) = check else {
            return Ok(check);
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let mut tx = self.begin().await?;
        let taken = sqlx::query(
            "UPDATE account_two_factor SET last_step = $1 WHERE account_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if taken.rows_affected() == 1 {
            check
        } else {
            CodeCheck::Replayed
        })
    }

    /// Spends one of the account's recovery codes: `true` when `code` is one not used yet
    /// (it is then used up, and the use written to the change log).
    pub async fn use_recovery_code(&self, account: &Account, code: &str) -> StoreResult<bool> {
        if normalise_recovery_code(code).len() != 10 {
            return Ok(false);
        }
        let hash = self.recovery_code_hash(code).await?;
        let mut tx = self.begin().await?;
        let spent = sqlx::query(
            "UPDATE account_recovery_codes SET used_at = $1 \
             WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now_ms())
        .bind(&account.id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        Change::new("self-service", Event::AccountRecoveryCodeUsed, &account.id)
            .detail(json!({ "member_key": account.member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ten new recovery codes replace the old ones (used or not).
    pub async fn renew_recovery_codes(
        &self,
        actor: &str,
        account: &Account,
    ) -> StoreResult<Vec<String>> {
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let mut hashes = Vec::with_capacity(codes.len());
        for code in &codes {
            hashes.push(self.recovery_code_hash(code).await?);
        }
        let mut tx = self.begin().await?;
        replace_recovery_codes(&mut tx, &account.id, &hashes, now_ms()).await?;
        Change::new(actor, Event::AccountRecoveryCodesRenewed, &account.id)
            .detail(json!({ "member_key": account.member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns the second factor off (the account page, with the password and a code): the
    /// secret and the recovery codes are deleted, and what the account's sessions and tokens
    /// were issued under ends (a credential change).
    pub async fn disable_two_factor(&self, actor: &str, account: &Account) -> StoreResult<()> {
        self.remove_two_factor(actor, account, Event::AccountTwoFactorDisabled)
            .await
    }

    /// The operator's escape hatch (`guildgate member reset-2fa LOGIN`): the second factor of
    /// the account with this login is removed, as [`Store::disable_two_factor`] does. An administrator
    /// who must use one enrols again at the next sign-in.
    pub async fn reset_two_factor(&self, actor: &str, login: &str) -> StoreResult<Account> {
        let account = self
            .account_by_login(login)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account with the login {login}")))?;
        self.remove_two_factor(actor, &account, Event::AccountTwoFactorReset)
            .await?;
        Ok(account)
    }

    async fn remove_two_factor(
        &self,
        actor: &str,
        account: &Account,
        event: Event,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM account_two_factor WHERE account_id = $1")
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM account_recovery_codes WHERE account_id = $1")
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        Change::new(actor, event, &account.id)
            .detail(json!({ "member_key": account.member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn replace_recovery_codes(
    tx: &mut Transaction,
    account_id: &str,
    hashes: &[String],
    now: i64,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM account_recovery_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO account_recovery_codes (account_id, code_hash, created_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(account_id)
        .bind(hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_fifty_bits_and_typed_loosely() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(&code[5..6], "-");
        assert_ne!(code, new_recovery_code());
        assert_eq!(normalise_recovery_code(" ABCDE-fghij "), "abcdefghij");
        assert_eq!(normalise_recovery_code("abcde fghij"), "abcdefghij");
    }
}
