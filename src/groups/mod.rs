//! Groups: a static list of members, or conditions over member data that the store evaluates
//! in SQL. One group with "Sync to Higher Logic" on becomes one Higher Logic community or
//! security group, keyed by `group_key`.
//!
//! Here: the groups in the database; `selection` holds how a group chooses its members.

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;

use crate::change_log::{Change, Event};
use crate::db::{conflict_on_unique, new_id, now_ms, Store, StoreError, StoreResult, Transaction};
use crate::members::{Member, MEMBER_COLUMNS, MEMBER_FROM};

mod selection;

use selection::conditions_sql;
pub use selection::{Condition, Op, Selection, Subject};
/// SQL for "member `m` belongs to `group` now" (static list or conditions), with its bind
/// values numbered from `first`. Used by the Higher Logic sync to resolve memberships in bulk.
pub(crate) fn membership_sql(group: &Group, first: usize) -> (String, Vec<String>) {
    let (clause, binds) = selection_sql(group, first);
    // The operator account is not a member, whatever a selection says.
    (format!("m.operator = 0 AND ({clause})"), binds)
}

fn selection_sql(group: &Group, first: usize) -> (String, Vec<String>) {
    match group.selection.as_str() {
        "static" => (
            format!("m.id IN (SELECT gs.member_id FROM group_static_members gs WHERE gs.group_id = ${first})"),
            vec![group.id.clone()],
        ),
        _ => {
            let conditions = group.condition_list();
            if conditions.is_empty() {
                return ("1 = 0".into(), Vec::new());
            }
            conditions_sql(&conditions, first)
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Group {
    pub id: String,
    pub group_key: String,
    pub name: String,
    pub selection: String,
    pub conditions: String,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub hl_sync_enabled: bool,
    pub hl_group_type: Option<String>,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub hl_type_locked: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Group {
    pub fn condition_list(&self) -> Vec<Condition> {
        serde_json::from_str(&self.conditions).unwrap_or_default()
    }
}

/// A group's resolved members, split as the sync sees them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupMembers {
    /// Members with an active user account: the ones Higher Logic receives.
    pub with_account: Vec<Member>,
    /// Members whose account is deactivated: kept in Higher Logic, unable to sign in.
    pub deactivated: Vec<Member>,
    /// Members without a user account: counted and reported, never synced.
    pub without_account: Vec<Member>,
}

impl GroupMembers {
    pub fn total(&self) -> usize {
        self.with_account.len() + self.deactivated.len() + self.without_account.len()
    }
}

pub(crate) fn check_group_key(key: &str) -> StoreResult<()> {
    if key.is_empty()
        || key.len() > 100
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(StoreError::invalid(format!(
            "group key {key:?} may only hold letters, digits and - _ . (at most 100)"
        )));
    }
    Ok(())
}

impl Store {
    /// Creates a group. Without `group_key`, a new stable key is generated.
    pub async fn add_group(
        &self,
        actor: &str,
        group_key: Option<&str>,
        name: &str,
        selection: Selection,
    ) -> StoreResult<Group> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("a group needs a name"));
        }
        let key = match group_key {
            Some(k) => {
                check_group_key(k)?;
                k.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let id = new_id();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO member_groups (id, group_key, name, selection, conditions, created_at, \
             updated_at) VALUES ($1, $2, $3, 'static', '[]', $4, $4)",
        )
        .bind(&id)
        .bind(&key)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on_unique(|| {
            format!("a group with key {key:?} exists")
        }))?;
        Change::new(actor, Event::GroupCreated, &id)
            .group(&id)
            .detail(json!({ "group_key": key, "name": name }))
            .record(&mut tx)
            .await?;
        write_selection(&mut tx, actor, &id, &selection).await?;
        tx.commit().await?;
        self.group(&key).await
    }

    pub async fn group(&self, group_key: &str) -> StoreResult<Group> {
        self.fetch_by_key(
            "SELECT * FROM member_groups WHERE group_key = $1",
            group_key,
            "group",
        )
        .await
    }

    pub async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        self.fetch_all_rows("SELECT * FROM member_groups ORDER BY name, group_key")
            .await
    }

    pub async fn rename_group(
        &self,
        actor: &str,
        group_key: &str,
        name: &str,
    ) -> StoreResult<Group> {
        let group = self.group(group_key).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("a group needs a name"));
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE member_groups SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now_ms())
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
        Change::new(actor, Event::GroupRenamed, &group.id)
            .group(&group.id)
            .detail(json!({ "group_key": group_key, "from": group.name, "to": name }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.group(group_key).await
    }

    /// Replaces how the group chooses its members.
    pub async fn set_selection(
        &self,
        actor: &str,
        group_key: &str,
        selection: Selection,
    ) -> StoreResult<Group> {
        let group = self.group(group_key).await?;
        let mut tx = self.begin().await?;
        write_selection(&mut tx, actor, &group.id, &selection).await?;
        tx.commit().await?;
        self.group(group_key).await
    }

    /// The group's members as of now, evaluated by the database.
    pub async fn group_members(&self, group_key: &str) -> StoreResult<GroupMembers> {
        let group = self.group(group_key).await?;
        let selection = match group.selection.as_str() {
            "static" => None,
            _ => Some(group.condition_list()),
        };
        self.select_members(Some(&group.id), selection.as_deref())
            .await
    }

    /// Who `selection` would choose, without saving anything (the console's live preview).
    /// Unknown member keys and custom fields are refused as they would be on saving.
    pub async fn preview_selection(&self, selection: &Selection) -> StoreResult<GroupMembers> {
        match selection {
            Selection::Static(keys) => {
                let mut members = Vec::with_capacity(keys.len());
                for key in keys {
                    let member = self.member(key).await.map_err(|e| match e {
                        StoreError::NotFound(_) => {
                            StoreError::invalid(format!("no member has the key {key:?}"))
                        }
                        other => other,
                    })?;
                    if member.operator {
                        return Err(operator_in_group(key));
                    }
                    members.push(member);
                }
                members.sort_by(|a, b| a.member_key.cmp(&b.member_key));
                members.dedup_by(|a, b| a.member_key == b.member_key);
                Ok(split_by_account(members))
            }
            Selection::Conditions(conditions) => {
                let mut conn = self.pool().acquire().await?;
                check_conditions(&mut conn, conditions).await?;
                drop(conn);
                self.select_members(None, Some(conditions)).await
            }
        }
    }

    /// Members of the static group `group_id` (when `conditions` is `None`), or the members
    /// meeting `conditions`.
    async fn select_members(
        &self,
        group_id: Option<&str>,
        conditions: Option<&[Condition]>,
    ) -> StoreResult<GroupMembers> {
        let members: Vec<Member> = match conditions {
            None => {
                sqlx::query_as(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} \
                     JOIN group_static_members g ON g.member_id = m.id \
                     WHERE g.group_id = $1 AND m.operator = 0 ORDER BY m.member_key"
                ))
                .bind(group_id)
                .fetch_all(self.pool())
                .await?
            }
            Some(conditions) => {
                let (clause, binds) = conditions_sql(conditions, 1);
                let sql = format!(
                    "SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.operator = 0 AND ({clause}) \
                     ORDER BY m.member_key"
                );
                let mut query = sqlx::query_as(&sql);
                for b in &binds {
                    query = query.bind(b);
                }
                query.fetch_all(self.pool()).await?
            }
        };
        Ok(split_by_account(members))
    }

    /// The member keys of a static group, as listed.
    pub async fn static_member_keys(&self, group_key: &str) -> StoreResult<Vec<String>> {
        let group = self.group(group_key).await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT m.member_key FROM group_static_members g JOIN members m ON m.id = g.member_id \
             WHERE g.group_id = $1 ORDER BY m.member_key",
        )
        .bind(&group.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    /// The keys of the groups `member_key` belongs to now.
    pub async fn groups_of_member(&self, member_key: &str) -> StoreResult<Vec<Group>> {
        let member = self.member(member_key).await?;
        let mut out = Vec::new();
        if member.operator {
            return Ok(out);
        }
        for group in self.list_groups().await? {
            let is_member = match group.selection.as_str() {
                "static" => {
                    sqlx::query_as::<_, (i64,)>(
                        "SELECT COUNT(*) FROM group_static_members WHERE group_id = $1 AND member_id = $2",
                    )
                    .bind(&group.id)
                    .bind(&member.id)
                    .fetch_one(self.pool())
                    .await?
                    .0 > 0
                }
                _ => {
                    let (clause, binds) = conditions_sql(&group.condition_list(), 2);
                    let sql = format!("SELECT COUNT(*) FROM members m WHERE m.id = $1 AND {clause}");
                    let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(&member.id);
                    for b in &binds {
                        query = query.bind(b);
                    }
                    query.fetch_one(self.pool()).await?.0 > 0
                }
            };
            if is_member {
                out.push(group);
            }
        }
        Ok(out)
    }
}

/// Sorts members as the sync sees them: active account, deactivated, no account.
fn split_by_account(members: Vec<Member>) -> GroupMembers {
    let mut out = GroupMembers::default();
    for m in members {
        match m.account_state.as_deref() {
            Some("active") => out.with_account.push(m),
            Some(_) => out.deactivated.push(m),
            None => out.without_account.push(m),
        }
    }
    out
}

/// Refuses an empty condition list and a condition on a custom field that does not exist,
/// on saving and in the preview alike.
async fn check_conditions(conn: &mut AnyConnection, conditions: &[Condition]) -> StoreResult<()> {
    if conditions.is_empty() {
        return Err(StoreError::invalid(
            "a group chosen by conditions needs at least one condition",
        ));
    }
    for c in conditions {
        if let Subject::Field(key) = &c.subject {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT id FROM custom_fields WHERE field_key = $1")
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?;
            if found.is_none() {
                return Err(StoreError::invalid(format!(
                    "condition {c}: there is no custom field {key:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The refusal of the operator account in a group's list.
fn operator_in_group(key: &str) -> StoreError {
    StoreError::invalid(format!(
        "{key:?} is Guildgate's operator account, not a member of the association: it cannot be \
         in a group"
    ))
}

/// Checks `selection` against the store and writes it, logged.
async fn write_selection(
    tx: &mut Transaction,
    actor: &str,
    group_id: &str,
    selection: &Selection,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_static_members WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut **tx)
        .await?;
    let (kind, conditions, detail) = match selection {
        Selection::Static(keys) => {
            let now = now_ms();
            for key in keys {
                let row: Option<(String, i64)> =
                    sqlx::query_as("SELECT id, operator FROM members WHERE member_key = $1")
                        .bind(key)
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some((member_id, operator)) = row else {
                    return Err(StoreError::invalid(format!(
                        "no member has the key {key:?}"
                    )));
                };
                if operator == 1 {
                    return Err(operator_in_group(key));
                }
                sqlx::query(
                    "INSERT INTO group_static_members (group_id, member_id, added_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(group_id)
                .bind(&member_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            ("static", "[]".to_string(), json!({ "members": keys.len() }))
        }
        Selection::Conditions(conditions) => {
            check_conditions(tx, conditions).await?;
            let text: Vec<String> = conditions.iter().map(ToString::to_string).collect();
            (
                "conditions",
                serde_json::to_string(conditions).unwrap_or_else(|_| "[]".into()),
                json!({ "conditions": text }),
            )
        }
    };
    sqlx::query(
        "UPDATE member_groups SET selection = $1, conditions = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(kind)
    .bind(conditions)
    .bind(now_ms())
    .bind(group_id)
    .execute(&mut **tx)
    .await?;
    Change::new(actor, Event::GroupSelectionChanged, group_id)
        .group(group_id)
        .detail(detail)
        .record(tx)
        .await
}
