//! The assembled settings of an installation: the server's own keys and every feature's
//! section (`[oidc]`, `[signing]`, `[throttle]`, `[mail]`, `[higher_logic]`). Each section's type
//! lives in its feature; this top-level module only puts them together and checks them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::admin::api::AdminApiSettings;
use crate::config::{self, ConfigError, LogFormat};
use crate::higher_logic::worker::SyncSettings;
use crate::mail::MailSettings;
use crate::oidc::keys::SigningSettings;
use crate::oidc::settings::OidcSettings;
use crate::oidc::throttle::ThrottleSettings;
use crate::passwords::PasswordSettings;
use crate::two_factor::TwoFactorSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// When set, `/metrics` is served only on this address (with `/healthz` and `/readyz`),
    /// not on `listen`: a management port that stays off the public side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Public base URL of the provider; the OpenID `iss` value.
    pub issuer: String,
    /// `sqlite://path` (default) or `postgres://...`.
    pub database_url: String,
    /// Folder for the SQLite file and development mail.
    pub data_dir: PathBuf,
    /// Folder holding the token-signing keys.
    pub keys_dir: PathBuf,
    /// `pretty` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Login e-mail of the administrator created on first start.
    pub admin_email: String,
    /// Maximum connections in the database pool.
    pub max_connections: u32,
    /// How long a request may take before it is answered 408 (and its transaction rolled
    /// back), in seconds.
    pub request_timeout_secs: u64,
    /// The OpenID Connect flow: token and session lifetimes (`[oidc]`).
    pub oidc: OidcSettings,
    /// Token-signing key rotation (`[signing]`).
    pub signing: SigningSettings,
    /// Sign-in throttling (`[throttle]`).
    pub throttle: ThrottleSettings,
    /// Outgoing mail: invitations and password resets (`[mail]`).
    pub mail: MailSettings,
    /// The Higher Logic sync worker (`[higher_logic]`).
    pub higher_logic: SyncSettings,
    /// The password-hashing pool (`[passwords]`).
    pub passwords: PasswordSettings,
    /// The admin API (`[admin_api]`): the bulk import's body limit.
    pub admin_api: AdminApiSettings,
    /// Two-factor sign-in (`[two_factor]`): whether administrators must use it.
    pub two_factor: TwoFactorSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://data/guildgate.db".into(),
            data_dir: PathBuf::from("data"),
            keys_dir: PathBuf::from("keys"),
            log_format: LogFormat::Pretty,
            admin_email: "admin@guildgate.local".into(),
            max_connections: 10,
            request_timeout_secs: 30,
            oidc: OidcSettings::default(),
            signing: SigningSettings::default(),
            throttle: Default::default(),
            mail: Default::default(),
            higher_logic: Default::default(),
            passwords: Default::default(),
            admin_api: Default::default(),
            two_factor: Default::default(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment, and checks the result.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let settings: Settings = config::load(file)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        config::validate_issuer(&self.issuer)?;
        config::validate_database_url(&self.database_url)?;
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "request_timeout_secs",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "max_connections",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        self.signing.validate().map_err(ConfigError::invalid)?;
        self.oidc.validate().map_err(ConfigError::invalid)?;
        self.admin_api.validate().map_err(ConfigError::invalid)?;
        if let Err(reason) = self.higher_logic.validate() {
            return Err(ConfigError::Invalid {
                key: "higher_logic",
                value: format!("{:?}", self.higher_logic),
                reason,
            });
        }
        if !self.admin_email.contains('@') {
            return Err(ConfigError::Invalid {
                key: "admin_email",
                value: self.admin_email.clone(),
                reason: "must be an e-mail address".into(),
            });
        }
        Ok(())
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// Whether cookies may drop the `Secure` flag: only for plain http on loopback.
    pub fn insecure_loopback(&self) -> bool {
        self.issuer.starts_with("http://")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its large error
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        figment::Jail::expect_with(|_| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.port(), 8080);
            assert_eq!(s.issuer(), "http://127.0.0.1:8080");
            assert!(s.database_url.starts_with("sqlite:"));
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "g.toml",
                "listen = \"127.0.0.1:9000\"\nmax_connections = 3\n",
            )?;
            jail.set_env("GUILDGATE_MAX_CONNECTIONS", "7");
            let s = Settings::load(Some(Path::new("g.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.port(), 9000);
            assert_eq!(s.max_connections, 7);
            Ok(())
        });
    }

    /// A bad settings file is refused with a message naming what is wrong.
    #[test]
    fn bad_files_are_refused_by_name() {
        let cases = [
            // A wrong type names the key and the value.
            (
                "max_connections = \"many\"\n",
                &["max_connections", "many"][..],
            ),
            // An unknown key is refused, not ignored.
            ("listen_port = 1\n", &["listen_port"][..]),
        ];
        for (file, expected) in cases {
            figment::Jail::expect_with(|jail| {
                jail.create_file("g.toml", file)?;
                let err = Settings::load(Some(Path::new("g.toml")))
                    .unwrap_err()
                    .to_string();
                for word in expected {
                    assert!(err.contains(word), "{file:?}: {err}");
                }
                Ok(())
            });
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GUILDGATE_ISSUER", "http://login.example.org");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("issuer") && err.contains("https"), "{err}");
            jail.set_env("GUILDGATE_ISSUER", "https://login.example.org/");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.issuer(), "https://login.example.org");
            Ok(())
        });
    }
}
