//! The integration settings an administrator enters (tenant code, API key, base URL, and which
//! optional properties Higher Logic activated), stored in the database so every instance and
//! the admin pages share them. The API key leaves this module in full only for the push
//! client ([`IntegrationSettings::api_key`]); everything else sees [`MaskedSettings`]. In the
//! database it is encrypted (ChaCha20-Poly1305, keyed from the keys folder; see
//! [`Store::with_keys_dir`]).

use ring::aead::LessSafeKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::change_log::{Change, Event};
use crate::db::{now_ms, Engine, Store, StoreError, StoreResult};
use crate::secrets::sealing;

pub const DEFAULT_BASE_URL: &str = "https://data.higherlogic.com/push/v1/members";

/// The stored settings. Deliberately not `Serialize` and with a redacting `Debug`: the key
/// must not end up in a log line or a JSON answer.
#[derive(Clone, sqlx::FromRow)]
pub struct IntegrationSettings {
    pub tenant_code: String,
    api_key: String,
    pub base_url: String,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub integrate_bio: bool,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub integrate_profile_image: bool,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub integrate_social: bool,
    pub updated_at: i64,
}

impl std::fmt::Debug for IntegrationSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationSettings")
            .field("tenant_code", &self.tenant_code)
            .field("api_key", &mask(&self.api_key))
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Default for IntegrationSettings {
    fn default() -> Self {
        IntegrationSettings {
            tenant_code: String::new(),
            api_key: String::new(),
            base_url: DEFAULT_BASE_URL.into(),
            integrate_bio: false,
            integrate_profile_image: false,
            integrate_social: false,
            updated_at: 0,
        }
    }
}

impl IntegrationSettings {
    /// The key in full: for the push client's `x-api-key` header only.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Whether pushing can start: a tenant code and a key are set.
    pub fn is_configured(&self) -> bool {
        !self.tenant_code.is_empty() && !self.api_key.is_empty()
    }

    pub fn masked(&self) -> MaskedSettings {
        MaskedSettings {
            tenant_code: self.tenant_code.clone(),
            api_key: mask(&self.api_key),
            api_key_set: !self.api_key.is_empty(),
            base_url: self.base_url.clone(),
            integrate_bio: self.integrate_bio,
            integrate_profile_image: self.integrate_profile_image,
            integrate_social: self.integrate_social,
            configured: self.is_configured(),
            updated_at: self.updated_at,
        }
    }
}

/// What the admin pages, the admin API and the CLI show: the key masked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct MaskedSettings {
    pub tenant_code: String,
    /// The API key masked: the last four characters at most, e.g. `••••3f9a` (none of a key
    /// shorter than 12 characters); empty when unset. The key itself is never returned.
    pub api_key: String,
    /// Whether an API key is saved.
    pub api_key_set: bool,
    /// The Push API address.
    pub base_url: String,
    /// Higher Logic activated `MembershipIntegrateBio`: profile bios are sent.
    pub integrate_bio: bool,
    /// Higher Logic activated `IntegrateProfileImage`: profile image URLs are sent.
    pub integrate_profile_image: bool,
    /// Higher Logic activated `IntegrateSocialMediaSites`: social media URLs are sent.
    pub integrate_social: bool,
    /// A tenant code and an API key are set: the sync can push.
    pub configured: bool,
    /// When the settings were last saved (ms since the epoch; 0 when never).
    pub updated_at: i64,
}

/// Changes to the settings; `None` keeps a value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsUpdate {
    pub tenant_code: Option<String>,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub integrate_bio: Option<bool>,
    pub integrate_profile_image: Option<bool>,
    pub integrate_social: Option<bool>,
}

impl SettingsUpdate {
    /// What an administrator entered, in the console's form or through the admin API: every
    /// value set, except that a blank API key or base URL keeps the saved one (the key is
    /// write-only, so a form shown again never holds it).
    pub fn entered(
        tenant_code: &str,
        api_key: Option<&str>,
        base_url: Option<&str>,
        integrate_bio: bool,
        integrate_profile_image: bool,
        integrate_social: bool,
    ) -> SettingsUpdate {
        let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        SettingsUpdate {
            tenant_code: Some(tenant_code.trim().to_string()),
            api_key: given(api_key),
            base_url: given(base_url),
            integrate_bio: Some(integrate_bio),
            integrate_profile_image: Some(integrate_profile_image),
            integrate_social: Some(integrate_social),
        }
    }
}

/// Shows at most the last four characters, and none of a short key.
pub fn mask(key: &str) -> String {
    let n = key.chars().count();
    if n == 0 {
        String::new()
    } else if n < 12 {
        "••••".into()
    } else {
        let tail: String = key.chars().skip(n - 4).collect();
        format!("••••{tail}")
    }
}

/// Binds the ciphertext to its column: a sealed value moved elsewhere does not open.
const API_KEY_AAD: &[u8] = b"hl_settings.api_key";

/// The key sealed for its column ([`crate::secrets::sealing`]).
fn seal(key: &LessSafeKey, plain: &str) -> StoreResult<String> {
    sealing::seal(key, API_KEY_AAD, plain.as_bytes())
        .map_err(|e| StoreError::Sealing(e.to_string()))
}

/// The stored settings row (defaults when none was saved), the key still sealed.
async fn settings_row<'e, E>(executor: E, lock: &str) -> StoreResult<IntegrationSettings>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(sqlx::query_as(&format!(
        "SELECT tenant_code, api_key, base_url, integrate_bio, integrate_profile_image, \
         integrate_social, updated_at FROM hl_settings WHERE id = 1{lock}"
    ))
    .fetch_optional(executor)
    .await?
    .unwrap_or_default())
}

/// The settings with the key opened. A key saved before keys were sealed (no prefix) is used
/// as it is and sealed at the next save; one that does not open reads as no key, and the
/// administrator enters it again (nothing is pushed until then).
fn unsealed(key: &LessSafeKey, mut settings: IntegrationSettings) -> IntegrationSettings {
    if settings.api_key.is_empty() {
        return settings;
    }
    if !sealing::is_sealed(&settings.api_key) {
        return settings;
    }
    settings.api_key = sealing::open(key, API_KEY_AAD, &settings.api_key)
        .and_then(|plain| String::from_utf8(plain).ok())
        .unwrap_or_else(|| {
            tracing::warn!(
                "the saved Higher Logic API key does not decrypt with this keys folder; \
                 enter it again"
            );
            String::new()
        });
    settings
}

fn check_base_url(url: &str) -> StoreResult<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| StoreError::invalid(format!("base URL {url:?} is not a URL: {e}")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        // Plain http only to a local test double: the key must not cross a network in clear.
        "http" if loopback => Ok(()),
        _ => Err(StoreError::invalid(format!(
            "base URL {url:?} must use https (http only on loopback)"
        ))),
    }
}

impl Store {
    /// The integration settings; defaults when none were saved.
    pub async fn hl_settings(&self) -> StoreResult<IntegrationSettings> {
        let settings = settings_row(self.pool(), "").await?;
        if settings.api_key.is_empty() {
            return Ok(settings);
        }
        Ok(unsealed(self.sealing_key().await?, settings))
    }

    /// Saves the settings (logged without the key) and returns them masked.
    pub async fn save_hl_settings(
        &self,
        actor: &str,
        update: SettingsUpdate,
    ) -> StoreResult<MaskedSettings> {
        // The key first: loading it may write (on first use), which must not wait on the
        // transaction below.
        let key = self.sealing_key().await?;
        let mut tx = self.begin().await?;
        // Read inside the transaction (locked on PostgreSQL): two saves at once cannot lose
        // one's change or miss a tenant change.
        let lock = if self.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let mut s = unsealed(key, settings_row(&mut *tx, lock).await?);
        let before = (s.tenant_code.clone(), s.api_key.clone(), s.base_url.clone());
        if let Some(code) = update.tenant_code {
            let code = code.trim();
            if code.len() > 100 || code.chars().any(|c| c.is_control()) {
                return Err(StoreError::invalid(
                    "tenant code must be at most 100 characters",
                ));
            }
            s.tenant_code = code.to_string();
        }
        let key_changed = update.api_key.is_some();
        if let Some(key) = update.api_key {
            let key = key.trim();
            if key.len() > 500 || key.chars().any(|c| c.is_control() || c == ' ') {
                return Err(StoreError::invalid(
                    "API key must be one word of at most 500 characters",
                ));
            }
            // The masked form shown back (e.g. a settings page or answer sent back as is).
            if key.contains('•') {
                return Err(StoreError::invalid(
                    "the API key given is the masked one: send the key itself, or leave it out \
                     to keep the saved key",
                ));
            }
            s.api_key = key.to_string();
        }
        if let Some(url) = update.base_url {
            let url = url.trim();
            check_base_url(url)?;
            s.base_url = url.to_string();
        }
        let flags_before = (
            s.integrate_bio,
            s.integrate_profile_image,
            s.integrate_social,
        );
        s.integrate_bio = update.integrate_bio.unwrap_or(s.integrate_bio);
        s.integrate_profile_image = update
            .integrate_profile_image
            .unwrap_or(s.integrate_profile_image);
        s.integrate_social = update.integrate_social.unwrap_or(s.integrate_social);
        let flags_changed = flags_before
            != (
                s.integrate_bio,
                s.integrate_profile_image,
                s.integrate_social,
            );
        // Another tenant is another Higher Logic site: it has none of our contacts or groups.
        let tenant_changed = !before.0.is_empty() && before.0 != s.tenant_code;
        let credentials_changed =
            before != (s.tenant_code.clone(), s.api_key.clone(), s.base_url.clone());
        let sealed_key = if s.api_key.is_empty() {
            String::new()
        } else {
            seal(key, &s.api_key)?
        };
        let now = now_ms();
        if credentials_changed {
            // New credentials or address: the pause and the backoff earned with the old ones
            // (a refused key, an unreachable address) no longer apply; try again now.
            sqlx::query("UPDATE hl_engine_state SET paused_until = 0 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE hl_queue SET next_attempt_at = 0 WHERE parked = 0")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO hl_settings (id, tenant_code, api_key, base_url, integrate_bio, \
             integrate_profile_image, integrate_social, updated_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
             tenant_code = excluded.tenant_code, api_key = excluded.api_key, \
             base_url = excluded.base_url, integrate_bio = excluded.integrate_bio, \
             integrate_profile_image = excluded.integrate_profile_image, \
             integrate_social = excluded.integrate_social, updated_at = excluded.updated_at",
        )
        .bind(&s.tenant_code)
        .bind(&sealed_key)
        .bind(&s.base_url)
        .bind(i64::from(s.integrate_bio))
        .bind(i64::from(s.integrate_profile_image))
        .bind(i64::from(s.integrate_social))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // A new tenant, or newly activated properties, change every record there: the outbox
        // re-pushes all.
        let event = if tenant_changed {
            Event::HigherLogicTenantChanged
        } else if flags_changed {
            Event::HigherLogicPropertiesChanged
        } else {
            Event::HigherLogicSettingsUpdated
        };
        Change::new(actor, event, "1")
            .detail(json!({
                "tenant_code": s.tenant_code,
                "api_key_changed": key_changed,
                "base_url": s.base_url,
                "integrate_bio": s.integrate_bio,
                "integrate_profile_image": s.integrate_profile_image,
                "integrate_social": s.integrate_social,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        s.updated_at = now;
        Ok(s.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("short"), "••••");
        assert_eq!(mask("abcdefghijkl3f9a"), "••••3f9a");
        let s = IntegrationSettings {
            api_key: "abcdefghijkl3f9a".into(),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("abcdefgh"));
        assert!(!serde_json::to_string(&s.masked())
            .unwrap()
            .contains("abcdefgh"));
    }

    #[test]
    fn blank_key_and_address_keep_the_saved_ones() {
        let u = SettingsUpdate::entered(" ASSOC ", Some("  "), None, true, false, true);
        assert_eq!(u.tenant_code.as_deref(), Some("ASSOC"));
        assert!(u.api_key.is_none() && u.base_url.is_none());
        assert_eq!(
            (
                u.integrate_bio,
                u.integrate_profile_image,
                u.integrate_social
            ),
            (Some(true), Some(false), Some(true))
        );
        let u = SettingsUpdate::entered(
            "",
            Some(" k-1 "),
            Some("https://x.test/p"),
            false,
            false,
            false,
        );
        assert_eq!(u.tenant_code.as_deref(), Some(""));
        assert_eq!(u.api_key.as_deref(), Some("k-1"));
        assert_eq!(u.base_url.as_deref(), Some("https://x.test/p"));
    }

    #[test]
    fn base_url_needs_https_off_loopback() {
        assert!(check_base_url(DEFAULT_BASE_URL).is_ok());
        assert!(check_base_url("http://127.0.0.1:9999/push/v1/members").is_ok());
        assert!(check_base_url("http://example.org/push").is_err());
        assert!(check_base_url("nonsense").is_err());
    }
}
