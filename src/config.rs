//! Loading settings: built-in defaults, overridden by a TOML file (`--config`), overridden by
//! `GUILDGATE_*` environment variables (nested keys with `__`, e.g.
//! `GUILDGATE_HIGHER_LOGIC__BATCH_SIZE`). This module knows how settings are read and checked,
//! not which features have them: each feature keeps its own section type, and
//! the top-level `settings` module assembles them.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
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

impl ConfigError {
    /// From a section's `validate` answer: key, value, reason.
    pub fn invalid((key, value, reason): (&'static str, String, String)) -> ConfigError {
        ConfigError::Invalid { key, value, reason }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Reads `T` from its defaults, then `file` (if given), then the environment. Unknown keys are
/// refused by `T`'s own `deny_unknown_fields`.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
) -> Result<T, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
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
    figment
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))
}

/// Checks a public base URL (the issuer): https, or plain http on loopback for development; a
/// host; no query or fragment.
pub fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let trimmed = issuer.trim_end_matches('/');
    let invalid = |reason: &str| ConfigError::Invalid {
        key: "issuer",
        value: issuer.to_string(),
        reason: reason.into(),
    };
    let rest = if let Some(rest) = trimmed.strip_prefix("https://") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
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
    Ok(())
}

/// Checks a database URL's scheme.
pub fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        key: "database_url",
        value: redact_url(url),
        reason: "must start with sqlite: or postgres://".into(),
    })
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
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(validate_issuer("http://login.example.org").is_err());
        assert!(validate_issuer("https://login.example.org/").is_ok());
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("https://x.org/?a").is_err());
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
