//! Settings: built-in defaults, overridden by a TOML file (`--config`), overridden by
//! `GUILDGATE_*` environment variables (nested keys with `__`, e.g.
//! `GUILDGATE_HIGHER_LOGIC__BATCH_SIZE`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variables with the `GUILDGATE_` prefix that are not settings.
const NON_SETTING_VARS: &[&str] = &["config", "test_postgres_url"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration error: invalid value {value:?} for key \"{key}\": {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
}

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
    /// The OpenID Connect flow: token and session lifetimes (`[oidc]`).
    pub oidc: OidcSettings,
    /// Token-signing key rotation (`[signing]`).
    pub signing: SigningSettings,
    /// Sign-in throttling (`[throttle]`).
    pub throttle: crate::oidc::throttle::ThrottleSettings,
    /// Outgoing mail: invitations and password resets (`[mail]`).
    pub mail: crate::mail::MailSettings,
    /// The Higher Logic sync worker (`[higher_logic]`).
    pub higher_logic: crate::higher_logic::worker::WorkerConfig,
}

/// Timings of signing-key rotation, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// How long clients may cache the JWKS; a new key is published this long before it signs.
    pub jwks_max_age_secs: u64,
    /// How long a replaced key stays published after the new one starts signing: at least the
    /// longest lifetime of a token it signed (ID tokens live at most a day).
    pub retire_after_secs: u64,
    /// How often an instance re-reads the key list (to see keys rotated elsewhere); keep it
    /// well below `jwks_max_age_secs`.
    pub reload_secs: u64,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            jwks_max_age_secs: 3600,
            retire_after_secs: 24 * 3600,
            reload_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
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
            oidc: OidcSettings::default(),
            signing: SigningSettings::default(),
            throttle: Default::default(),
            mail: Default::default(),
            higher_logic: Default::default(),
        }
    }
}

/// Lifetimes of what the provider hands out, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// Authorization codes (at most 60, RFC 9700).
    pub code_lifetime_secs: i64,
    pub access_token_lifetime_secs: i64,
    pub id_token_lifetime_secs: i64,
    /// Refresh tokens; each rotation starts a new lifetime.
    pub refresh_token_lifetime_secs: i64,
    /// A browser session ends after this long without use.
    pub session_lifetime_secs: i64,
    /// Behind a reverse proxy: take the client address (for sign-in throttling) from the last
    /// `X-Forwarded-For` entry instead of the TCP peer. Only when every request comes through
    /// the proxy.
    pub trust_forwarded_for: bool,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            code_lifetime_secs: 60,
            access_token_lifetime_secs: 3600,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            session_lifetime_secs: 8 * 3600,
            trust_forwarded_for: false,
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid {
                    key: "--config",
                    value: file.display().to_string(),
                    reason: "no such file".into(),
                });
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("GUILDGATE_").split("__").filter(|key| {
            !NON_SETTING_VARS
                .iter()
                .any(|v| key.as_str().eq_ignore_ascii_case(v))
        }));
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let issuer = self.issuer.trim_end_matches('/');
        let invalid = |reason: &str| ConfigError::Invalid {
            key: "issuer",
            value: self.issuer.clone(),
            reason: reason.into(),
        };
        let rest = if let Some(rest) = issuer.strip_prefix("https://") {
            rest
        } else if let Some(rest) = issuer.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            if !is_loopback_host(host) && !rest.starts_with('[') {
                return Err(invalid(
                    "must use https (plain http is allowed only on loopback for development)",
                ));
            }
            rest
        } else {
            return Err(invalid("must start with https://"));
        };
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(invalid(
                "must be a URL with a host and no query or fragment",
            ));
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                value: redact_url(&self.database_url),
                reason: "must start with sqlite: or postgres://".into(),
            });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "max_connections",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.signing.reload_secs == 0
            || self.signing.reload_secs >= self.signing.jwks_max_age_secs
        {
            return Err(ConfigError::Invalid {
                key: "signing.reload_secs",
                value: self.signing.reload_secs.to_string(),
                reason: "must be at least 1 and below signing.jwks_max_age_secs".into(),
            });
        }
        let oidc = &self.oidc;
        for (key, value, max) in [
            ("oidc.code_lifetime_secs", oidc.code_lifetime_secs, 60),
            (
                "oidc.access_token_lifetime_secs",
                oidc.access_token_lifetime_secs,
                24 * 3600,
            ),
            (
                "oidc.id_token_lifetime_secs",
                oidc.id_token_lifetime_secs,
                24 * 3600,
            ),
            (
                "oidc.refresh_token_lifetime_secs",
                oidc.refresh_token_lifetime_secs,
                365 * 24 * 3600,
            ),
            (
                "oidc.session_lifetime_secs",
                oidc.session_lifetime_secs,
                30 * 24 * 3600,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    value: value.to_string(),
                    reason: format!("must be between 1 and {max} seconds"),
                });
            }
        }
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

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// Hides the password part of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
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

    #[test]
    fn wrong_type_names_key_and_value() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("g.toml", "max_connections = \"many\"\n")?;
            let err = Settings::load(Some(Path::new("g.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_connections"), "{err}");
            assert!(err.contains("many"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("g.toml", "listen_port = 1\n")?;
            let err = Settings::load(Some(Path::new("g.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("listen_port"), "{err}");
            Ok(())
        });
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

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
