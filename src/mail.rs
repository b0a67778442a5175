//! Outgoing mail: over SMTP (lettre) when `mail.smtp_url` is set; otherwise (development) each
//! message is written to `<data_dir>/mail/` and its path logged. Messages carry sign-in links,
//! so their text is never logged, and the files are readable by their owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::redact_url;

/// Settings of `[mail]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// SMTP server, e.g. `smtps://user:password@smtp.example.org` (TLS on 465) or
    /// `smtp://user:password@smtp.example.org:587?tls=required` (STARTTLS). Unset: messages are
    /// written to `<data_dir>/mail/` instead.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Example Association <no-reply@example.org>`.
    pub from: String,
    /// How long an invitation link works.
    pub invitation_lifetime_secs: u64,
    /// How long a password-reset link works.
    pub password_reset_lifetime_secs: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_url: None,
            from: "Guildgate <no-reply@localhost>".into(),
            invitation_lifetime_secs: 7 * 24 * 3600,
            password_reset_lifetime_secs: 3600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("invalid recipient address {0:?}")]
    Recipient(String),
    #[error("the mail could not be built: {0}")]
    Build(String),
    #[error("the SMTP server did not take the mail: {0}")]
    Smtp(String),
    #[error("the mail could not be written to {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// A plain-text message.
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Smtp,
    File(PathBuf),
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(PathBuf),
}

/// Sends mail. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    settings: MailSettings,
}

impl Mailer {
    /// Checks `[mail]` and prepares the transport; without SMTP, mail goes to files under
    /// `data_dir/mail`.
    pub fn new(mail: &MailSettings, data_dir: &Path) -> Result<Mailer, MailError> {
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from {:?}: {e}", mail.from)))?;
        let transport = match mail.smtp_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| {
                        MailError::Config(format!("mail.smtp_url {}: {e}", redact_url(url)))
                    })?
                    .build(),
            ),
            None => Transport::Folder(data_dir.join("mail")),
        };
        Ok(Mailer {
            from,
            transport,
            settings: mail.clone(),
        })
    }

    /// Whether the SMTP server answers (`Ok(None)` without SMTP: mail goes to files).
    pub async fn check(&self) -> Result<Option<bool>, MailError> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .test_connection()
                .await
                .map(Some)
                .map_err(|e| MailError::Smtp(e.to_string())),
            Transport::Folder(_) => Ok(None),
        }
    }

    /// The `[mail]` settings it was built with (link lifetimes).
    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    pub async fn send(&self, mail: Outgoing) -> Result<Delivery, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Recipient(mail.to.clone()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body(mail.body))
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                tracing::info!("mail sent over SMTP");
                Ok(Delivery::Smtp)
            }
            Transport::Folder(dir) => {
                let path = write_file(dir, &message.formatted())?;
                // The path only: the message holds a sign-in link.
                tracing::info!(path = %path.display(), "mail written to the development mail folder (no SMTP server configured)");
                Ok(Delivery::File(path))
            }
        }
    }
}

/// Plain ASCII text goes as 7bit (lines up to 998 octets, RFC 5322), so that links stay whole
/// and copyable; anything else gets lettre's choice of encoding.
fn body(text: String) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.is_ascii() && !crlf.contains('\0') && crlf.split("\r\n").all(|l| l.len() <= 998) {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    }
}

fn write_file(dir: &std::path::Path, bytes: &[u8]) -> Result<PathBuf, MailError> {
    let err = |path: &std::path::Path, e: std::io::Error| MailError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    crate::private_files::create_dir(dir).map_err(|e| err(dir, e))?;
    let name = format!("{}.eml", uuid::Uuid::now_v7());
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| err(&path, e))?;
    file.write_all(bytes).map_err(|e| err(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_smtp_mail_goes_to_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailSettings::default(), dir.path()).unwrap();
        let delivery = mailer
            .send(Outgoing {
                to: "ann@example.org".into(),
                subject: "Hello".into(),
                body: "Line one\nhttps://x.example/set-password?token=abc\n".into(),
            })
            .await
            .unwrap();
        let Delivery::File(path) = delivery else {
            panic!("expected a file")
        };
        assert!(path.starts_with(dir.path().join("mail")));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("To: ann@example.org"), "{text}");
        assert!(text.contains("Subject: Hello"));
        assert!(
            text.contains("\r\nhttps://x.example/set-password?token=abc\r\n"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            mailer
                .send(Outgoing {
                    to: "not an address".into(),
                    subject: "x".into(),
                    body: "x".into()
                })
                .await,
            Err(MailError::Recipient(_))
        ));
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = Path::new("data");
        let settings = MailSettings {
            from: "nobody".into(),
            ..Default::default()
        };
        assert!(
            matches!(Mailer::new(&settings, dir), Err(MailError::Config(m)) if m.contains("mail.from"))
        );
        let settings = MailSettings {
            smtp_url: Some("ftp://u:secret@x".into()),
            ..Default::default()
        };
        let err = Mailer::new(&settings, dir).err().unwrap().to_string();
        assert!(err.contains("smtp_url") && !err.contains("secret"), "{err}");
    }
}
