//! Invitations and password resets: a single-use, expiring link, e-mailed to the account's
//! login address, that lets its holder set a password. Only the SHA-256 of the token is stored;
//! deactivated accounts get no link and cannot use one.

use std::fmt;

use serde_json::json;

use crate::accounts::Account;
use crate::branding::i18n::{self, Lang};
use crate::branding::Branding;
use crate::change_log::{Change, Event};
use crate::db::{now_ms, Store, StoreError};
use crate::mail::{Delivery, MailError, MailSettings, Mailer, Outgoing};
use crate::passwords;
use crate::secrets;

/// Why a link was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A member without a password is invited to choose one.
    Invitation,
    /// A member who forgot the password chooses a new one.
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::PasswordReset => "password_reset",
        }
    }

    fn parse(s: &str) -> Purpose {
        if s == "invitation" {
            Purpose::Invitation
        } else {
            Purpose::PasswordReset
        }
    }

    fn lifetime_secs(self, settings: &MailSettings) -> u64 {
        match self {
            Purpose::Invitation => settings.invitation_lifetime_secs,
            Purpose::PasswordReset => settings.password_reset_lifetime_secs,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::Invitation => "invitation",
            Purpose::PasswordReset => "password reset",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Unknown, used or expired: one answer for all three.
    #[error("this link is not valid: it has expired or has already been used")]
    InvalidLink,
    #[error("the account is not active")]
    AccountNotActive,
    /// The chosen password breaks the policy; the message says how.
    #[error("{0}")]
    Password(String),
}

/// Where the path of the set-password page is mounted.
pub const SET_PASSWORD_PATH: &str = "/set-password";

/// What a valid link is for.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub purpose: Purpose,
    pub login_email: String,
    pub expires_at: i64,
    /// Where the member goes once the password is set (a path on this server), if anywhere.
    pub return_to: Option<String>,
}

/// The outcome of [`send_link`].
#[derive(Debug)]
pub struct Sent {
    pub to: String,
    pub delivery: Delivery,
    pub expires_at: i64,
}

/// Creates a link for the account of `member_key` and mails it to its login e-mail. Earlier
/// unused links of the same purpose stop working. `return_to` is where the set-password page
/// sends the member once the password is set: a path on this server (the forgot-password page
/// gives the authorization request the member started). The message speaks `lang`, or, when
/// none is given (a link an administrator sends), the language the member last used on the
/// member-facing pages (English if they never did); it carries the association's branding,
/// and the link opens the page in the same language.
#[allow(clippy::too_many_arguments)]
pub async fn send_link(
    store: &Store,
    mailer: &Mailer,
    issuer: &str,
    actor: &str,
    member_key: &str,
    purpose: Purpose,
    return_to: Option<&str>,
    lang: Option<&Lang>,
) -> Result<Sent, InvitationError> {
    if return_to.is_some_and(|path| !path.starts_with('/') || path.starts_with("//")) {
        return Err(StoreError::invalid("a link returns only to a path on this server").into());
    }
    let account = store.account_for_member(member_key).await?;
    if !account.is_active() {
        return Err(InvitationError::AccountNotActive);
    }
    let lang = match lang {
        Some(lang) => lang.clone(),
        None => store
            .account_language(&account.id)
            .await?
            .and_then(|tag| i18n::from_ui_locales(&tag))
            .unwrap_or_default(),
    };
    let token = secrets::random_token();
    let hash = secrets::stored_hash(&token);
    let now = now_ms();
    let expires_at = now + (purpose.lifetime_secs(mailer.settings()) as i64) * 1000;
    let mut tx = store.begin().await?;
    sqlx::query(
        "DELETE FROM account_tokens WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(&account.id)
    .bind(purpose.as_str())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at, \
         return_to) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&hash)
    .bind(&account.id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(return_to)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    Change::new(
        actor,
        match purpose {
            Purpose::Invitation => Event::AccountInvitationSent,
            Purpose::PasswordReset => Event::AccountPasswordResetSent,
        },
        &account.id,
    )
    .detail(json!({ "member_key": member_key, "expires_at": expires_at }))
    .record(&mut tx)
    .await?;
    tx.commit().await.map_err(StoreError::from)?;

    let link = format!(
        "{}{SET_PASSWORD_PATH}?token={token}&ui_locales={}",
        issuer,
        lang.tag()
    );
    let hours = purpose.lifetime_secs(mailer.settings()).div_ceil(3600);
    let brand = store.branding().await?;
    let sent = mailer
        .send(letter(
            &lang,
            &brand,
            purpose,
            &account.login_email,
            &link,
            hours,
        ))
        .await;
    match sent {
        Ok(delivery) => Ok(Sent {
            to: account.login_email,
            delivery,
            expires_at,
        }),
        Err(e) => {
            // A link nobody received must not stay usable.
            let _ = sqlx::query("DELETE FROM account_tokens WHERE token_hash = $1")
                .bind(&hash)
                .execute(store.pool())
                .await;
            Err(e.into())
        }
    }
}

/// The message carrying `link`, in `lang`, signed with the association's name.
fn letter(
    lang: &Lang,
    brand: &Branding,
    purpose: Purpose,
    login: &str,
    link: &str,
    hours: u64,
) -> Outgoing {
    let (subject, body, ignore) = match purpose {
        Purpose::Invitation => (
            "mail-invitation-subject",
            "mail-invitation-body",
            "mail-invitation-ignore",
        ),
        Purpose::PasswordReset => ("mail-reset-subject", "mail-reset-body", "mail-reset-ignore"),
    };
    let mut text = format!(
        "{}\n\n{}\n\n{link}\n\n{}\n{}\n\n{}\n",
        lang.t("mail-greeting"),
        lang.t_with(body, &[("login", login)]),
        lang.t_count("mail-link-expiry", "hours", hours),
        lang.t(ignore),
        lang.t_with("mail-signature", &[("name", &brand.name)]),
    );
    if !brand.support_email.is_empty() {
        text.push_str(&lang.t_with("mail-support", &[("email", &brand.support_email)]));
        text.push('\n');
    }
    if !brand.privacy_url.is_empty() {
        text.push_str(&format!(
            "{}: {}\n",
            lang.t("privacy-policy"),
            brand.privacy_url
        ));
    }
    Outgoing {
        to: login.to_string(),
        subject: lang.t_with(subject, &[("name", &brand.name)]),
        body: text,
    }
}

/// Expires every unused link of an account now (on deactivation: reactivating revives none).
/// The rows stay, so that a link of a deactivated account still says so.
pub async fn discard_links(
    tx: &mut crate::db::Transaction,
    account_id: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE account_tokens SET expires_at = $2 \
         WHERE account_id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(account_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// A link as stored: account, purpose, expiry, use and where it returns.
type LinkRow = (String, String, i64, Option<i64>, Option<String>);

/// The account and purpose of a link that still works (for showing the form).
pub async fn check_link(store: &Store, token: &str) -> Result<LinkInfo, InvitationError> {
    let row: Option<LinkRow> = sqlx::query_as(
        "SELECT account_id, purpose, expires_at, used_at, return_to FROM account_tokens \
         WHERE token_hash IN ($1, $2)",
    )
    .bind(secrets::stored_hash(token))
    .bind(secrets::legacy_stored_hash_b64(token))
    .fetch_optional(store.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((account_id, purpose, expires_at, used_at, return_to)) = row else {
        return Err(InvitationError::InvalidLink);
    };
    let account = store
        .account_by_id(&account_id)
        .await?
        .ok_or(InvitationError::InvalidLink)?;
    // Said first, so that the holder of a link learns why it cannot work.
    if !account.is_active() {
        return Err(InvitationError::AccountNotActive);
    }
    if used_at.is_some() || expires_at <= now_ms() {
        return Err(InvitationError::InvalidLink);
    }
    Ok(LinkInfo {
        purpose: Purpose::parse(&purpose),
        login_email: account.login_email,
        expires_at,
        return_to,
    })
}

/// Sets the password of the link's account and uses the link up, in one transaction: a link
/// works once, even when two requests race, and never for a deactivated account.
pub async fn set_password_with_link(
    store: &Store,
    token: &str,
    password: &str,
) -> Result<Account, InvitationError> {
    passwords::check_policy(password).map_err(InvitationError::Password)?;
    // Cheap checks first, so that a bad link costs no argon2 work.
    check_link(store, token).await?;
    let hash = store.hash_password(password.to_string()).await?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    let used: Option<(String, String)> = sqlx::query_as(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE token_hash IN ($2, $3) AND used_at IS NULL AND expires_at > $1 \
         RETURNING account_id, purpose",
    )
    .bind(now)
    .bind(secrets::stored_hash(token))
    .bind(secrets::legacy_stored_hash_b64(token))
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some((account_id, purpose)) = used else {
        return Err(InvitationError::InvalidLink);
    };
    let changed = sqlx::query(
        "UPDATE accounts SET password_hash = $1, must_change_password = 0, updated_at = $2 \
         WHERE id = $3 AND state = 'active'",
    )
    .bind(&hash)
    .bind(now)
    .bind(&account_id)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if changed.rows_affected() == 0 {
        // Deactivated between the check and now: nothing changes, the link stays unused.
        return Err(InvitationError::AccountNotActive);
    }
    // Whoever knew the old password is signed out everywhere and its tokens revoked (the
    // provider's listener on `AccountPasswordSet`).
    Change::new("self-service", Event::AccountPasswordSet, &account_id)
        .detail(json!({ "via": purpose }))
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store
        .account_by_id(&account_id)
        .await?
        .ok_or_else(|| StoreError::NotFound("account".into()))?)
}
