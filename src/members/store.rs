//! Members in the database: adding, replacing, reading and listing them, each change with its
//! change-log entry.

use serde_json::json;

use super::{
    check_member_key, Kind, Member, MemberData, MemberFilter, MEMBER_COLUMNS, MEMBER_FROM,
};
use crate::accounts::Role;
use crate::change_log::{Change, ChangeBatch, Event};
use crate::db::{
    conflict_on_unique, new_id, now_ms, rows_per_statement, value_rows, Store, StoreError,
    StoreResult, Transaction,
};

impl Store {
    pub async fn add_member(
        &self,
        actor: &str,
        key: &str,
        data: MemberData,
    ) -> StoreResult<Member> {
        self.add_member_with_account(actor, key, data, None).await
    }

    /// Adds a member and, with `account`, its user account, in one transaction.
    pub async fn add_member_with_account(
        &self,
        actor: &str,
        key: &str,
        data: MemberData,
        account: Option<(&str, Role)>,
    ) -> StoreResult<Member> {
        let data = data.normalized();
        check_member_key(key).map_err(StoreError::Invalid)?;
        reject_problems(&data)?;
        let mut tx = self.begin().await?;
        let company_id = resolve_company(&mut tx, data.company_key.as_deref()).await?;
        let id = insert_member(&mut tx, actor, key, &data, company_id.as_deref()).await?;
        if let Some((login, role)) = account {
            crate::accounts::create_account(&mut tx, actor, &id, login, role, None).await?;
        }
        tx.commit().await?;
        self.member_by_id(&id).await
    }

    /// Replaces a member's data with `data` (a full record).
    pub async fn update_member(
        &self,
        actor: &str,
        key: &str,
        data: MemberData,
    ) -> StoreResult<Member> {
        let data = data.normalized();
        reject_problems(&data)?;
        let current = self.member(key).await?;
        if current.operator {
            // As the import and the admin API refuse it: the operator is not a member.
            return Err(StoreError::invalid(format!(
                "{key} is Guildgate's operator account, not a member: its member data is not edited"
            )));
        }
        if current.data.kind != data.kind {
            return Err(StoreError::invalid(format!(
                "{key} is a {}; a member's kind cannot change",
                current.data.kind
            )));
        }
        let mut tx = self.begin().await?;
        let company_id = resolve_company(&mut tx, data.company_key.as_deref()).await?;
        update_member(&mut tx, actor, &current, &data, company_id.as_deref()).await?;
        tx.commit().await?;
        self.member_by_id(&current.id).await
    }

    pub async fn member(&self, key: &str) -> StoreResult<Member> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.member_key = $1");
        self.fetch_by_key(&sql, key, "member").await
    }

    pub async fn member_by_id(&self, id: &str) -> StoreResult<Member> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.id = $1");
        self.fetch_by_key(&sql, id, "member").await
    }

    pub async fn list_members(&self, filter: &MemberFilter) -> StoreResult<Vec<Member>> {
        // No member's text holds a NUL, and PostgreSQL refuses one in a bound text.
        if filter.search.as_deref().is_some_and(|s| s.contains('\0')) {
            return Ok(Vec::new());
        }
        let pattern = filter
            .search
            .as_deref()
            .map(|s| format!("%{}%", s.trim().to_lowercase()));
        let limit = if filter.limit > 0 {
            filter.limit
        } else {
            i64::MAX
        };
        Ok(sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} \
             WHERE ($1 IS NULL OR m.kind = $1) \
               AND ($2 IS NULL OR LOWER(m.member_key) LIKE $2 OR LOWER(m.email) LIKE $2 \
                    OR LOWER(COALESCE(m.first_name, '') || ' ' || COALESCE(m.last_name, '')) LIKE $2 \
                    OR LOWER(m.name) LIKE $2) \
             ORDER BY m.member_key LIMIT $3 OFFSET $4"
        ))
        .bind(filter.kind.map(Kind::as_str))
        .bind(pattern)
        .bind(limit)
        .bind(filter.offset)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn count_members(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM members")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }
}

fn reject_problems(data: &MemberData) -> StoreResult<()> {
    let problems = data.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(problems.join("; ")))
    }
}

/// The id of the company with this key; an error if there is none or it is a person.
async fn resolve_company(
    tx: &mut Transaction,
    company_key: Option<&str>,
) -> StoreResult<Option<String>> {
    let Some(key) = company_key else {
        return Ok(None);
    };
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, kind FROM members WHERE member_key = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some((id, kind)) if kind == "company" => Ok(Some(id)),
        Some(_) => Err(StoreError::invalid(format!(
            "company_key {key:?} names a person, not a company"
        ))),
        None => Err(StoreError::invalid(format!(
            "company_key {key:?} names no company"
        ))),
    }
}

/// The columns [`bind_member`] binds, in its order, then `updated_at` and `created_at` (one
/// shared value in an insert).
const MEMBER_WRITE_COLUMNS: &str = "id, member_key, kind, first_name, last_name, name, email, \
    phone, address_line1, city, state, postal_code, country, website_url, bio, \
    profile_image_url, linkedin_url, twitter_url, facebook_url, company_id, member_type, \
    membership_status, member_since, membership_expires, updated_at, created_at";

/// Values [`bind_member`] binds per member.
const MEMBER_BINDS: usize = 24;

/// Members per `INSERT`: 24 bound values each, well under both engines' limits.
const MEMBERS_PER_INSERT: usize = 500;

const UPDATE_MEMBER: &str = "UPDATE members SET kind = $3, first_name = $4, last_name = $5, \
    name = $6, email = $7, phone = $8, address_line1 = $9, city = $10, state = $11, \
    postal_code = $12, country = $13, website_url = $14, bio = $15, profile_image_url = $16, \
    linkedin_url = $17, twitter_url = $18, facebook_url = $19, company_id = $20, \
    member_type = $21, membership_status = $22, member_since = $23, membership_expires = $24, \
    updated_at = $25 WHERE id = $1 AND member_key = $2";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a member's [`MEMBER_BINDS`] values, in the order of [`MEMBER_WRITE_COLUMNS`] (and
/// of `$1`..`$24` of [`UPDATE_MEMBER`]).
fn bind_member<'q>(q: AnyQuery<'q>, m: &MemberWrite<'q>) -> AnyQuery<'q> {
    let d = m.data;
    q.bind(m.id)
        .bind(m.key)
        .bind(d.kind.as_str())
        .bind(d.first_name.as_deref())
        .bind(d.last_name.as_deref())
        .bind(d.name.as_deref())
        .bind(d.email.as_deref())
        .bind(d.phone.as_deref())
        .bind(d.address_line1.as_deref())
        .bind(d.city.as_deref())
        .bind(d.state.as_deref())
        .bind(d.postal_code.as_deref())
        .bind(d.country.as_deref())
        .bind(d.website_url.as_deref())
        .bind(d.bio.as_deref())
        .bind(d.profile_image_url.as_deref())
        .bind(d.linkedin_url.as_deref())
        .bind(d.twitter_url.as_deref())
        .bind(d.facebook_url.as_deref())
        .bind(m.company_id)
        .bind(d.member_type.as_deref())
        .bind(d.membership_status.as_deref())
        .bind(d.member_since.as_deref())
        .bind(d.membership_expires.as_deref())
}

/// A checked member to write: its id (new, from [`new_id`], for an insert), key, data and
/// company id.
pub(crate) struct MemberWrite<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub data: &'a MemberData,
    pub company_id: Option<&'a str>,
}

/// Inserts a validated member and logs it; returns the new id.
pub(crate) async fn insert_member(
    tx: &mut Transaction,
    actor: &str,
    key: &str,
    data: &MemberData,
    company_id: Option<&str>,
) -> StoreResult<String> {
    let id = new_id();
    let member = MemberWrite {
        id: &id,
        key,
        data,
        company_id,
    };
    let mut changes = ChangeBatch::new();
    insert_members(tx, actor, &[member], &mut changes).await?;
    changes.record(tx).await?;
    Ok(id)
}

/// Inserts validated members, [`MEMBERS_PER_INSERT`] a statement at most
/// ([`rows_per_statement`]), in their order (a company
/// before the people naming it), adding each one's change to `changes`.
pub(crate) async fn insert_members(
    tx: &mut Transaction,
    actor: &str,
    members: &[MemberWrite<'_>],
    changes: &mut ChangeBatch,
) -> StoreResult<()> {
    let now = now_ms();
    for chunk in members.chunks(rows_per_statement(tx, MEMBER_BINDS, MEMBERS_PER_INSERT)) {
        let sql = format!(
            "INSERT INTO members ({MEMBER_WRITE_COLUMNS}) VALUES {}",
            value_rows(2, chunk.len(), MEMBER_BINDS, ", $1, $1")
        );
        let mut q = sqlx::query(&sql).bind(now);
        for member in chunk {
            q = bind_member(q, member);
        }
        q.execute(&mut **tx)
            .await
            .map_err(conflict_on_unique(|| match chunk {
                [one] => format!("member_key {:?} is already taken", one.key),
                _ => "a member_key of these members was taken meanwhile".to_string(),
            }))?;
    }
    for m in members {
        changes.push(
            Change::new(actor, Event::MemberCreated, m.id)
                .member(m.id)
                .detail(json!({ "member_key": m.key, "kind": m.data.kind })),
        );
    }
    Ok(())
}

/// Writes `data` over `current` and logs what changed; a no-op when nothing did.
async fn update_member(
    tx: &mut Transaction,
    actor: &str,
    current: &Member,
    data: &MemberData,
    company_id: Option<&str>,
) -> StoreResult<bool> {
    let mut changes = ChangeBatch::new();
    let changed = update_member_into(tx, actor, current, data, company_id, &mut changes).await?;
    changes.record(tx).await?;
    Ok(changed)
}

/// [`update_member`], adding its change to `changes`.
pub(crate) async fn update_member_into(
    tx: &mut Transaction,
    actor: &str,
    current: &Member,
    data: &MemberData,
    company_id: Option<&str>,
    changes: &mut ChangeBatch,
) -> StoreResult<bool> {
    let changed = current.data.changed_fields(data);
    if changed.is_empty() {
        return Ok(false);
    }
    let member = MemberWrite {
        id: &current.id,
        key: &current.member_key,
        data,
        company_id,
    };
    bind_member(sqlx::query(UPDATE_MEMBER), &member)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    changes.push(
        Change::new(actor, Event::MemberUpdated, &current.id)
            .member(&current.id)
            .detail(json!({ "member_key": current.member_key, "fields": changed })),
    );
    Ok(true)
}
