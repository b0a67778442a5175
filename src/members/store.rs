//! Members in the database: adding, replacing, reading and listing them, each change with its
//! change-log entry.

use serde_json::json;

use super::{
    check_member_key, Kind, Member, MemberData, MemberFilter, MEMBER_COLUMNS, MEMBER_FROM,
};
use crate::accounts::Role;
use crate::change_log::{Change, Event};
use crate::db::{conflict_on_unique, new_id, now_ms, Store, StoreError, StoreResult, Transaction};

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
        if current.data().kind != data.kind {
            return Err(StoreError::invalid(format!(
                "{key} is a {}; a member's kind cannot change",
                current.kind
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

const INSERT_MEMBER: &str = "INSERT INTO members (id, member_key, kind, first_name, last_name, \
    name, email, phone, address_line1, city, state, postal_code, country, website_url, bio, \
    profile_image_url, linkedin_url, twitter_url, facebook_url, company_id, member_type, \
    membership_status, member_since, membership_expires, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
    $19, $20, $21, $22, $23, $24, $25, $25)";

const UPDATE_MEMBER: &str = "UPDATE members SET kind = $3, first_name = $4, last_name = $5, \
    name = $6, email = $7, phone = $8, address_line1 = $9, city = $10, state = $11, \
    postal_code = $12, country = $13, website_url = $14, bio = $15, profile_image_url = $16, \
    linkedin_url = $17, twitter_url = $18, facebook_url = $19, company_id = $20, \
    member_type = $21, membership_status = $22, member_since = $23, membership_expires = $24, \
    updated_at = $25 WHERE id = $1 AND member_key = $2";

/// Binds `$1`..`$25` of [`INSERT_MEMBER`] and [`UPDATE_MEMBER`].
async fn write_member(
    tx: &mut Transaction,
    sql: &str,
    id: &str,
    key: &str,
    d: &MemberData,
    company_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql)
        .bind(id)
        .bind(key)
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
        .bind(company_id)
        .bind(d.member_type.as_deref())
        .bind(d.membership_status.as_deref())
        .bind(d.member_since.as_deref())
        .bind(d.membership_expires.as_deref())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
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
    write_member(tx, INSERT_MEMBER, &id, key, data, company_id)
        .await
        .map_err(conflict_on_unique(|| {
            format!("member_key {key:?} is already taken")
        }))?;
    Change::new(actor, Event::MemberCreated, &id)
        .member(&id)
        .detail(json!({ "member_key": key, "kind": data.kind }))
        .record(tx)
        .await?;
    Ok(id)
}

/// Writes `data` over `current` and logs what changed; a no-op when nothing did.
pub(crate) async fn update_member(
    tx: &mut Transaction,
    actor: &str,
    current: &Member,
    data: &MemberData,
    company_id: Option<&str>,
) -> StoreResult<bool> {
    let changed = current.data().changed_fields(data);
    if changed.is_empty() {
        return Ok(false);
    }
    write_member(
        tx,
        UPDATE_MEMBER,
        &current.id,
        &current.member_key,
        data,
        company_id,
    )
    .await?;
    Change::new(actor, Event::MemberUpdated, &current.id)
        .member(&current.id)
        .detail(json!({ "member_key": current.member_key, "fields": changed }))
        .record(tx)
        .await?;
    Ok(true)
}
