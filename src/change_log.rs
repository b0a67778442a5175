//! The change log: one row per change to a member, account, custom field or group, written in
//! the same transaction as the change, and the typed [`Event`] that tells the features built on
//! the store (the Higher Logic outbox, the provider's revocations) what happened.

use serde::Serialize;
use serde_json::Value;

use crate::db::{new_id, now_ms, rows_per_statement, value_rows, Store, StoreResult, Transaction};

/// What happened, as one typed value: the entity and the action stored in the log are derived
/// from it, so a producer cannot misspell what a listener matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    MemberCreated,
    MemberUpdated,
    AccountCreated,
    AccountLoginChanged,
    AccountPasswordSet,
    AccountDeactivated,
    AccountReactivated,
    AccountInvitationSent,
    AccountPasswordResetSent,
    /// The member ended every other session and every token from the account page.
    AccountSignedOutEverywhere,
    /// A first TOTP secret was confirmed.
    AccountTwoFactorEnabled,
    /// A confirmed TOTP secret was replaced by a new enrolment.
    AccountTwoFactorReplaced,
    /// The member turned the second factor off.
    AccountTwoFactorDisabled,
    /// An operator removed the account's second factor (`member reset-2fa`).
    AccountTwoFactorReset,
    AccountRecoveryCodesRenewed,
    AccountRecoveryCodeUsed,
    /// The account was made an administrator.
    AccountAdminGranted,
    /// The account's administrator rights were removed: what it issued as an administrator
    /// (its admin API tokens) ends in the same transaction.
    AccountAdminRevoked,
    CustomFieldCreated,
    CustomFieldUpdated,
    CustomFieldValueSet,
    CustomFieldValueCleared,
    GroupCreated,
    GroupRenamed,
    GroupSelectionChanged,
    GroupSyncOn,
    GroupSyncOff,
    OidcClientCreated,
    OidcClientSecretRotated,
    OidcClientRemoved,
    SigningKeyCreated,
    SigningKeyRotated,
    ApiTokenCreated,
    ApiTokenRevoked,
    HigherLogicSettingsUpdated,
    HigherLogicPropertiesChanged,
    HigherLogicTenantChanged,
    /// The member-facing pages' branding (the console's Sign-in page settings) changed.
    BrandingUpdated,
}

impl Event {
    /// An account's credentials changed or were withdrawn (deactivated, password set or reset,
    /// signed out everywhere, its second factor replaced, turned off or reset): what they
    /// issued must end in the same transaction.
    pub fn ends_credentials(self) -> bool {
        matches!(
            self,
            Event::AccountDeactivated
                | Event::AccountPasswordSet
                | Event::AccountSignedOutEverywhere
                | Event::AccountTwoFactorReplaced
                | Event::AccountTwoFactorDisabled
                | Event::AccountTwoFactorReset
        )
    }

    /// What an account issued as an administrator must end (its admin API tokens): its
    /// credentials ended, or it is no longer an administrator.
    pub fn ends_admin_rights(self) -> bool {
        self.ends_credentials() || self == Event::AccountAdminRevoked
    }

    /// The `entity` and `action` columns of the log (the audit log shows them).
    pub fn names(self) -> (&'static str, &'static str) {
        use Event::*;
        match self {
            MemberCreated => ("member", "created"),
            MemberUpdated => ("member", "updated"),
            AccountCreated => ("account", "created"),
            AccountLoginChanged => ("account", "login_changed"),
            AccountPasswordSet => ("account", "password_set"),
            AccountDeactivated => ("account", "deactivated"),
            AccountReactivated => ("account", "reactivated"),
            AccountInvitationSent => ("account", "invitation_sent"),
            AccountPasswordResetSent => ("account", "password_reset_sent"),
            AccountSignedOutEverywhere => ("account", "signed_out_everywhere"),
            AccountTwoFactorEnabled => ("account", "two_factor_enabled"),
            AccountTwoFactorReplaced => ("account", "two_factor_replaced"),
            AccountTwoFactorDisabled => ("account", "two_factor_disabled"),
            AccountTwoFactorReset => ("account", "two_factor_reset"),
            AccountRecoveryCodesRenewed => ("account", "recovery_codes_renewed"),
            AccountRecoveryCodeUsed => ("account", "recovery_code_used"),
            AccountAdminGranted => ("account", "admin_granted"),
            AccountAdminRevoked => ("account", "admin_revoked"),
            CustomFieldCreated => ("custom_field", "created"),
            CustomFieldUpdated => ("custom_field", "updated"),
            CustomFieldValueSet => ("custom_field_value", "set"),
            CustomFieldValueCleared => ("custom_field_value", "cleared"),
            GroupCreated => ("group", "created"),
            GroupRenamed => ("group", "renamed"),
            GroupSelectionChanged => ("group", "selection_changed"),
            GroupSyncOn => ("group", "hl_sync_on"),
            GroupSyncOff => ("group", "hl_sync_off"),
            OidcClientCreated => ("oidc_client", "created"),
            OidcClientSecretRotated => ("oidc_client", "secret_rotated"),
            OidcClientRemoved => ("oidc_client", "removed"),
            SigningKeyCreated => ("signing_key", "created"),
            SigningKeyRotated => ("signing_key", "rotated"),
            ApiTokenCreated => ("api_token", "created"),
            ApiTokenRevoked => ("api_token", "revoked"),
            HigherLogicSettingsUpdated => ("hl_settings", "updated"),
            HigherLogicPropertiesChanged => ("hl_settings", "properties_changed"),
            HigherLogicTenantChanged => ("hl_settings", "tenant_changed"),
            BrandingUpdated => ("branding", "updated"),
        }
    }
}

/// What changed, for [`record`].
pub struct Change<'a> {
    pub actor: &'a str,
    pub event: Event,
    /// The row the event is about (a member, account, group ... id).
    pub entity_id: &'a str,
    /// The contact whose Higher Logic record the change affects.
    pub member_id: Option<&'a str>,
    pub group_id: Option<&'a str>,
    /// What changed, by name. Never a secret.
    pub detail: Value,
}

impl<'a> Change<'a> {
    /// A change by `actor` to the row `entity_id`, affecting no contact or group until
    /// [`Change::member`] / [`Change::group`] say so, with no detail until [`Change::detail`].
    pub fn new(actor: &'a str, event: Event, entity_id: &'a str) -> Change<'a> {
        Change {
            actor,
            event,
            entity_id,
            member_id: None,
            group_id: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn member(self, member_id: &'a str) -> Change<'a> {
        Change {
            member_id: Some(member_id),
            ..self
        }
    }

    pub fn group(self, group_id: &'a str) -> Change<'a> {
        Change {
            group_id: Some(group_id),
            ..self
        }
    }

    pub fn detail(self, detail: Value) -> Change<'a> {
        Change { detail, ..self }
    }

    /// Writes the change to the log and tells every listener, in `tx` ([`record`]).
    pub async fn record(self, tx: &mut Transaction) -> StoreResult<()> {
        record(tx, self).await
    }
}

/// What a feature built on the store does when something changes, inside the transaction of
/// the change (so it commits or rolls back with it). Features register one in
/// [`CHANGE_LISTENERS`]; the store never calls up into them by name.
#[async_trait::async_trait]
pub trait ChangeListener: Sync {
    async fn on_change(&self, tx: &mut Transaction, change: &Change<'_>) -> StoreResult<()>;

    /// Every change of a [`ChangeBatch`] at once, in the order made: a listener that can
    /// coalesce (the outbox queues a contact once, however many of its changes the batch
    /// holds) does its work here in a few statements. By default, [`Self::on_change`] for each.
    async fn on_changes(&self, tx: &mut Transaction, changes: &[Change<'_>]) -> StoreResult<()> {
        for change in changes {
            self.on_change(tx, change).await?;
        }
        Ok(())
    }
}

/// Every registered listener, gathered at link time from the features
/// (`#[distributed_slice(CHANGE_LISTENERS)]`).
#[linkme::distributed_slice]
pub static CHANGE_LISTENERS: [&'static dyn ChangeListener];

/// Writes the change to the log and tells every listener, in `tx`.
pub async fn record(tx: &mut Transaction, change: Change<'_>) -> StoreResult<()> {
    record_all(tx, std::slice::from_ref(&change)).await
}

/// Log entries per `INSERT` at most: 9 bound values each, well under both engines' limits.
const LOG_ROWS_PER_INSERT: usize = 1000;

/// Writes the changes to the log, several a statement ([`rows_per_statement`]), then tells every
/// listener of all of them at once ([`ChangeListener::on_changes`]), in `tx`.
async fn record_all(tx: &mut Transaction, changes: &[Change<'_>]) -> StoreResult<()> {
    for chunk in changes.chunks(rows_per_statement(tx, 9, LOG_ROWS_PER_INSERT)) {
        let sql = format!(
            "INSERT INTO change_log (id, at, actor, entity, entity_id, action, member_id, \
             group_id, detail) VALUES {}",
            value_rows(1, chunk.len(), 9, "")
        );
        let mut q = sqlx::query(&sql);
        for change in chunk {
            let (entity, action) = change.event.names();
            q = q
                .bind(new_id())
                .bind(now_ms())
                .bind(change.actor)
                .bind(entity)
                .bind(change.entity_id)
                .bind(action)
                .bind(change.member_id)
                .bind(change.group_id)
                .bind(change.detail.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    for listener in CHANGE_LISTENERS {
        listener.on_changes(tx, changes).await?;
    }
    Ok(())
}

/// Changes gathered while one transaction writes many rows (an import), recorded together by
/// [`ChangeBatch::record`]: every change still has its own log entry, in the order pushed, but
/// they are written a thousand a statement, and the listeners hear them all at once.
#[derive(Default)]
pub struct ChangeBatch {
    changes: Vec<OwnedChange>,
}

/// A [`Change`] kept by a [`ChangeBatch`].
struct OwnedChange {
    actor: String,
    event: Event,
    entity_id: String,
    member_id: Option<String>,
    group_id: Option<String>,
    detail: Value,
}

impl ChangeBatch {
    pub fn new() -> ChangeBatch {
        ChangeBatch::default()
    }

    /// Adds a change, to be recorded with the others.
    pub fn push(&mut self, change: Change<'_>) {
        self.changes.push(OwnedChange {
            actor: change.actor.to_string(),
            event: change.event,
            entity_id: change.entity_id.to_string(),
            member_id: change.member_id.map(str::to_string),
            group_id: change.group_id.map(str::to_string),
            detail: change.detail,
        });
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Writes every change to the log and tells every listener, in `tx`; the batch is empty
    /// afterwards.
    pub async fn record(&mut self, tx: &mut Transaction) -> StoreResult<()> {
        let mut owned = std::mem::take(&mut self.changes);
        let details: Vec<Value> = owned.iter_mut().map(|c| c.detail.take()).collect();
        let changes: Vec<Change<'_>> = owned
            .iter()
            .zip(details)
            .map(|(c, detail)| Change {
                actor: &c.actor,
                event: c.event,
                entity_id: &c.entity_id,
                member_id: c.member_id.as_deref(),
                group_id: c.group_id.as_deref(),
                detail,
            })
            .collect();
        record_all(tx, &changes).await
    }
}

/// A place in the audit log: the entry after which the next (older) page starts, written
/// `<at>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: i64,
    pub id: String,
}

impl AuditCursor {
    pub fn after(entry: &ChangeEntry) -> AuditCursor {
        AuditCursor {
            at: entry.at,
            id: entry.id.clone(),
        }
    }

    /// Where the page after `page` starts, when `page` came back full (there may be more).
    pub fn next_page(page: &[ChangeEntry], limit: i64) -> Option<AuditCursor> {
        if page.len() as i64 == limit {
            page.last().map(AuditCursor::after)
        } else {
            None
        }
    }

    pub fn parse(text: &str) -> Option<AuditCursor> {
        let (at, id) = text.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        Some(AuditCursor {
            at: at.parse().ok()?,
            id: valid_id.then(|| id.to_string())?,
        })
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at, self.id)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChangeEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub member_id: Option<String>,
    pub group_id: Option<String>,
    pub detail: String,
}

impl Store {
    /// The newest changes first; with `before`, those older than that entry (a page further).
    pub async fn recent_changes(
        &self,
        limit: i64,
        before: Option<&AuditCursor>,
    ) -> StoreResult<Vec<ChangeEntry>> {
        let (at, id) = match before {
            Some(c) => (c.at, c.id.as_str()),
            // Past every entry: nothing is newer than the maximum.
            None => (i64::MAX, ""),
        };
        Ok(sqlx::query_as(
            "SELECT id, at, actor, entity, entity_id, action, member_id, group_id, detail \
             FROM change_log WHERE at < $2 OR (at = $2 AND id < $3) \
             ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .bind(at)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Changes that affect one contact, oldest first.
    pub async fn changes_for_member(&self, member_id: &str) -> StoreResult<Vec<ChangeEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, entity, entity_id, action, member_id, group_id, detail \
             FROM change_log WHERE member_id = $1 ORDER BY at, id",
        )
        .bind(member_id)
        .fetch_all(self.pool())
        .await?)
    }
}
