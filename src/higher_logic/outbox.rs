//! The transactional outbox. It listens to the change log ([`CHANGE_LISTENERS`]), in the same
//! transaction as each change, and writes what must be pushed:
//! - a change to one contact (member, account, custom-field value): that contact in `hl_queue`;
//! - a company's change: also the people of that company (their `CompanyName`), via fan-out;
//! - a synced group renamed, re-selected, or its sync turned on or off: a `group` fan-out;
//! - a custom field joining or leaving the sync (or a synced one renamed), or newly activated
//!   Higher Logic properties: an `all` fan-out;
//! - any change that could fix a parked (refused) contact queues it again at once: its own
//!   change, one of its groups changed or its sync turned off, the integration settings saved.
//!
//! Fan-outs are expanded into `hl_queue` by the worker ([`expand_fanouts`]), so a change to a
//! group of 100,000 stays a small transaction. `hl_queue` holds one row per contact: repeated
//! changes coalesce into it by bumping its version.

use crate::change_log::{Change, ChangeListener, Event, CHANGE_LISTENERS};
use std::collections::HashSet;

use crate::db::{
    new_id, now_ms, placeholders, rows_per_statement, Engine, Store, StoreResult, Transaction,
};
use crate::groups::{membership_sql, Group};

/// Contacts per statement when queueing or looking up many, at most ([`rows_per_statement`]).
const IDS_PER_STATEMENT: usize = 1000;

/// Queues contacts (each coalescing with a row already there), [`IDS_PER_STATEMENT`] a
/// statement. Skipped cheaply for a contact when no group is synced and Higher Logic never
/// heard of it.
async fn enqueue_members(tx: &mut Transaction, member_ids: &[&str], at: i64) -> StoreResult<()> {
    for chunk in member_ids.chunks(rows_per_statement(tx, 1, IDS_PER_STATEMENT)) {
        let sql = format!(
            "INSERT INTO hl_queue (member_id, first_change_at) SELECT m.id, $1 FROM members m \
             WHERE m.id IN ({}) AND (EXISTS (SELECT 1 FROM member_groups WHERE hl_sync_enabled = 1) \
                OR EXISTS (SELECT 1 FROM hl_memberships h WHERE h.member_id = m.id)) {UPSERT}",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(at);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Those of `member_ids` that are companies.
async fn companies_among(tx: &mut Transaction, member_ids: &[&str]) -> StoreResult<Vec<String>> {
    let mut companies = Vec::new();
    for chunk in member_ids.chunks(rows_per_statement(tx, 1, IDS_PER_STATEMENT)) {
        let sql = format!(
            "SELECT id FROM members WHERE kind = 'company' AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        companies.extend(q.fetch_all(&mut **tx).await?.into_iter().map(|(id,)| id));
    }
    Ok(companies)
}

async fn fanout(
    tx: &mut Transaction,
    scope: &str,
    target_id: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO hl_fanout (id, scope, target_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(new_id())
        .bind(scope)
        .bind(target_id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether Higher Logic has, or should have, this group: sync on, or members pushed with it.
async fn group_is_synced(tx: &mut Transaction, group_id: &str) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM member_groups WHERE id = $1 AND hl_sync_enabled = 1) \
              + (SELECT COUNT(*) FROM hl_groups WHERE group_id = $1)",
    )
    .bind(group_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// Compares the synced custom fields with what the outbox saw last; true when they differ
/// (and records the new set).
async fn synced_fields_changed(tx: &mut Transaction) -> StoreResult<bool> {
    let now: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, name FROM custom_fields WHERE sync_to_higher_logic = 1 AND show_in_members = 1 \
         ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let seen: Vec<(String, String)> =
        sqlx::query_as("SELECT field_id, name FROM hl_synced_fields ORDER BY field_id")
            .fetch_all(&mut **tx)
            .await?;
    if now == seen {
        return Ok(false);
    }
    sqlx::query("DELETE FROM hl_synced_fields")
        .execute(&mut **tx)
        .await?;
    for (id, name) in &now {
        sqlx::query("INSERT INTO hl_synced_fields (field_id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// The outbox, registered as a listener of the change log: it runs inside
/// `change_log::record`, in the transaction of every change.
struct Outbox;

#[linkme::distributed_slice(CHANGE_LISTENERS)]
static OUTBOX: &'static dyn ChangeListener = &Outbox;

#[async_trait::async_trait]
impl ChangeListener for Outbox {
    async fn on_change(&self, tx: &mut Transaction, change: &Change<'_>) -> StoreResult<()> {
        self.on_changes(tx, std::slice::from_ref(change)).await
    }

    /// The contacts the changes affect are queued once each, in one statement per thousand
    /// (an import changes each member two or more times); a company changed fans out once.
    async fn on_changes(&self, tx: &mut Transaction, changes: &[Change<'_>]) -> StoreResult<()> {
        let at = now_ms();
        let mut contacts = Distinct::default();
        let mut updated = Distinct::default();
        for change in changes {
            match change.member_id {
                Some(id) if queues_contact(change.event) => {
                    contacts.add(id);
                    if change.event == Event::MemberUpdated {
                        updated.add(id);
                    }
                }
                _ => on_other_change(tx, change, at).await?,
            }
        }
        enqueue_members(tx, &contacts.ids, at).await?;
        for company in companies_among(tx, &updated.ids).await? {
            fanout(tx, "company", Some(&company), at).await?;
        }
        Ok(())
    }
}

/// Ids in the order first seen, each once.
#[derive(Default)]
struct Distinct<'a> {
    ids: Vec<&'a str>,
    seen: HashSet<&'a str>,
}

impl<'a> Distinct<'a> {
    fn add(&mut self, id: &'a str) {
        if self.seen.insert(id) {
            self.ids.push(id);
        }
    }
}

/// Whether the event is a change to the contact it names (`member_id`), which queues it.
/// Every event is listed, so that a new one is a decision here.
fn queues_contact(event: Event) -> bool {
    use Event::*;
    match event {
        MemberCreated
        | MemberUpdated
        | AccountCreated
        | AccountLoginChanged
        | AccountPasswordSet
        | AccountDeactivated
        | AccountReactivated
        | AccountInvitationSent
        | AccountPasswordResetSent
        | CustomFieldValueSet
        | CustomFieldValueCleared => true,
        CustomFieldCreated
        | CustomFieldUpdated
        | HigherLogicPropertiesChanged
        | HigherLogicTenantChanged
        | HigherLogicSettingsUpdated
        | GroupSyncOn
        | GroupSyncOff
        | GroupRenamed
        | GroupSelectionChanged
        | AccountSignedOutEverywhere
        | AccountTwoFactorEnabled
        | AccountTwoFactorReplaced
        | AccountTwoFactorDisabled
        | AccountTwoFactorReset
        | AccountRecoveryCodesRenewed
        | AccountRecoveryCodeUsed
        | AccountAdminGranted
        | AccountAdminRevoked
        | GroupCreated
        | OidcClientCreated
        | OidcClientSecretRotated
        | OidcClientRemoved
        | SigningKeyCreated
        | SigningKeyRotated
        | ApiTokenCreated
        | ApiTokenRevoked
        | BrandingUpdated => false,
    }
}

/// What the outbox does for a change that does not queue one contact.
async fn on_other_change(tx: &mut Transaction, change: &Change<'_>, at: i64) -> StoreResult<()> {
    use Event::*;
    match (change.event, change.group_id) {
        (CustomFieldCreated | CustomFieldUpdated, _) if synced_fields_changed(tx).await? => {
            fanout(tx, "all", None, at).await?
        }
        (HigherLogicPropertiesChanged | HigherLogicTenantChanged, _) => {
            unpark_all(tx).await?;
            fanout(tx, "all", None, at).await?
        }
        // New settings could be what a refused record needed.
        (HigherLogicSettingsUpdated, _) => unpark_all(tx).await?,
        (GroupSyncOn | GroupSyncOff, Some(g)) => fanout(tx, "group", Some(g), at).await?,
        (GroupRenamed | GroupSelectionChanged, Some(g)) if group_is_synced(tx, g).await? => {
            fanout(tx, "group", Some(g), at).await?
        }
        // The rest: changes to one contact (queued by `on_changes`), or nothing Higher Logic
        // holds (`queues_contact` names every event).
        _ => {}
    }
    Ok(())
}

/// Every parked contact is sent again now (their refusal count kept).
async fn unpark_all(tx: &mut Transaction) -> StoreResult<()> {
    sqlx::query("UPDATE hl_queue SET parked = 0, next_attempt_at = 0 WHERE parked = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const UPSERT: &str = "ON CONFLICT (member_id) DO UPDATE SET version = hl_queue.version + 1, \
    parked = 0, attempts = 0, next_attempt_at = 0, last_error = NULL";

/// Queues every contact (with an account) that is in `group` now or that Higher Logic has in
/// it, in `tx`.
async fn expand_group(tx: &mut Transaction, group: &Group, at: i64) -> StoreResult<u64> {
    let (clause, binds) = membership_sql(group, 3);
    // With sync off, its members Higher Logic refused are sent again too: the group may have
    // been why (a record is only refused whole).
    let parked = if group.hl_sync_enabled {
        ""
    } else {
        " JOIN hl_queue q ON q.member_id = m.id AND q.parked = 1"
    };
    let current = format!(
        "SELECT m.id FROM members m JOIN accounts a ON a.member_id = m.id{parked} WHERE {clause} \
         UNION "
    );
    let sql = format!(
        "INSERT INTO hl_queue (member_id, first_change_at) \
         SELECT id, $2 FROM ({current}SELECT member_id AS id FROM hl_memberships WHERE group_id = $1) s \
         WHERE true {UPSERT}"
    );
    let mut q = sqlx::query(&sql).bind(&group.id).bind(at);
    for b in &binds {
        q = q.bind(b);
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

/// Expands pending fan-outs into contact rows; returns how many fan-outs were done.
pub async fn expand_fanouts(store: &Store, worker: &str, lease_ms: i64) -> StoreResult<usize> {
    let mut done = 0;
    loop {
        let now = now_ms();
        let lock = if store.engine() == Engine::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let mut tx = store.begin().await?;
        let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(&format!(
            "SELECT id, scope, target_id, created_at FROM hl_fanout WHERE lease_until <= $1 \
             ORDER BY id LIMIT 1{lock}"
        ))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, scope, target, at)) = row else {
            tx.rollback().await?;
            return Ok(done);
        };
        // The lease keeps a second SQLite process off it while this one works.
        sqlx::query("UPDATE hl_fanout SET lease_owner = $1, lease_until = $2 WHERE id = $3")
            .bind(worker)
            .bind(now + lease_ms)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        match (scope.as_str(), target) {
            ("group", Some(g)) => {
                let group: Option<Group> =
                    sqlx::query_as("SELECT * FROM member_groups WHERE id = $1")
                        .bind(&g)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(group) = group {
                    expand_group(&mut tx, &group, at).await?;
                }
            }
            ("company", Some(c)) => {
                let sql = format!(
                    "INSERT INTO hl_queue (member_id, first_change_at) \
                     SELECT m.id, $2 FROM members m JOIN accounts a ON a.member_id = m.id \
                     WHERE m.company_id = $1 AND (EXISTS (SELECT 1 FROM member_groups \
                     WHERE hl_sync_enabled = 1) OR EXISTS (SELECT 1 FROM hl_memberships h \
                     WHERE h.member_id = m.id)) {UPSERT}"
                );
                sqlx::query(&sql)
                    .bind(&c)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {
                let groups: Vec<Group> = sqlx::query_as(
                    "SELECT * FROM member_groups WHERE hl_sync_enabled = 1 \
                     OR id IN (SELECT group_id FROM hl_memberships)",
                )
                .fetch_all(&mut *tx)
                .await?;
                for group in &groups {
                    expand_group(&mut tx, group, at).await?;
                }
            }
        }
        sqlx::query("DELETE FROM hl_fanout WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done += 1;
    }
}
