//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, six digits, 30-second steps), computed
//! by the `totp-rs` crate. This file adds what the crate leaves to its user: which step a code
//! matched (so that the store can refuse a step already used), the clock-skew window, and the
//! `otpauth://` address an authenticator app reads from the enrolment page's QR code.

use std::fmt;

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one time step.
pub const STEP_SECS: u64 = 30;
/// Steps accepted on either side of the current one (a phone's clock a little off, or a code
/// typed just as it changed).
pub const SKEW_STEPS: u64 = 1;
/// Bytes of a new secret: 160 bits, the HMAC-SHA1 block RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A TOTP secret. Its `Debug` hides it: it must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// The time step of `unix_secs`.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> TotpSecret {
        TotpSecret(crate::secrets::random_bytes::<SECRET_BYTES>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 (RFC 4648, no padding), as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        Secret::Raw(self.0.clone()).to_encoded().to_string()
    }

    /// The secret as shown to a person: base32 in groups of four.
    pub fn base32_grouped(&self) -> String {
        let text = self.base32();
        let chars: Vec<char> = text.chars().collect();
        chars
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn totp(&self) -> TOTP {
        // Unchecked: the length is ours (160 bits), and the RFC's test secrets are too.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            SKEW_STEPS as u8,
            STEP_SECS,
            self.0.clone(),
        )
    }

    /// The code of the step that holds `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp().generate(unix_secs)
    }

    /// The step whose code `code` is, among the current step at `unix_secs` and
    /// [`SKEW_STEPS`] on either side; `None` when it is none of them. Spaces in `code` are
    /// ignored; every candidate is compared in constant time.
    pub fn matching_step(&self, code: &str, unix_secs: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp();
        let now = step_of(unix_secs);
        let mut found = None;
        for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
            let expected = totp.generate(step * STEP_SECS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://totp/...` address (Google Authenticator's key-URI format) that the QR
    /// code carries: the secret, the issuer and the account's login.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| -> String {
            // Path and query alike: everything but unreserved characters percent-encoded.
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            enc(issuer),
            enc(account),
            self.base32(),
            enc(issuer),
        )
    }
}

/// What a code is worth against the last step an account used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// A code of a step later than any used before: take it, and record the step.
    Accepted(u64),
    /// The right code, but of a step already used (or older): a replay.
    Replayed,
    /// Not a code of this secret now.
    Wrong,
}

/// Judges `matched` (from [`TotpSecret::matching_step`]) against `last_step`, the last step
/// the account used: each step's code is taken once, and never an earlier one.
pub fn judge(matched: Option<u64>, last_step: u64) -> CodeCheck {
    match matched {
        None => CodeCheck::Wrong,
        Some(step) if step > last_step => CodeCheck::Accepted(step),
        Some(_) => CodeCheck::Replayed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: the secret is the ASCII string "12345678901234567890"
    /// and the codes have eight digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 8, 0, 30, b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time), code, "T = {time}");
        }
    }

    /// The six-digit codes are the same HOTP values truncated (RFC 4226 5.3: mod 10^6).
    #[test]
    fn six_digit_codes_and_the_skew_window() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
        let now = 1_111_111_109;
        let step = step_of(now);
        // The current step, one before and one after are taken; two away is not.
        assert_eq!(secret.matching_step("081804", now), Some(step));
        assert_eq!(secret.matching_step("081 804", now), Some(step));
        let before = secret.code_at(now - STEP_SECS);
        let after = secret.code_at(now + STEP_SECS);
        let far = secret.code_at(now + 2 * STEP_SECS);
        assert_eq!(secret.matching_step(&before, now), Some(step - 1));
        assert_eq!(secret.matching_step(&after, now), Some(step + 1));
        assert_eq!(secret.matching_step(&far, now), None);
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
        assert_eq!(secret.matching_step("", now), None);
    }

    #[test]
    fn a_step_is_taken_once_and_never_an_earlier_one() {
        assert_eq!(judge(Some(10), 9), CodeCheck::Accepted(10));
        assert_eq!(judge(Some(10), 10), CodeCheck::Replayed);
        assert_eq!(judge(Some(9), 10), CodeCheck::Replayed);
        assert_eq!(judge(None, 0), CodeCheck::Wrong);
        // The same code twice within its step: the second is a replay.
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let code = secret.code_at(now);
        let first = judge(secret.matching_step(&code, now), 0);
        let CodeCheck::Accepted(step) = first else {
            panic!("{first:?}")
        };
        assert_eq!(
            judge(secret.matching_step(&code, now + 5), step),
            CodeCheck::Replayed
        );
        // The next step's code is taken.
        let next = secret.code_at(now + STEP_SECS);
        assert_eq!(
            judge(secret.matching_step(&next, now + STEP_SECS), step),
            CodeCheck::Accepted(step + 1)
        );
    }

    #[test]
    fn secrets_encode_and_hide() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.base32_grouped(),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(..)");
        let uri = secret.otpauth_uri("Ex Assoc", "ada@example.org");
        assert_eq!(
            uri,
            "otpauth://totp/Ex%20Assoc:ada%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Ex%20Assoc&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(TotpSecret::generate().as_bytes().len(), SECRET_BYTES);
    }
}
