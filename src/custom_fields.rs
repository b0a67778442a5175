//! Custom fields: association-defined data on people and companies. A field marked
//! "sync to Higher Logic" travels as a Demographic; only fields shown in the Members section
//! may carry that mark.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::change_log::{Change, ChangeBatch, Event};
use crate::db::{
    conflict_on_unique, new_id, now_ms, placeholders, rows_per_statement, value_rows, Store,
    StoreError, StoreResult, Transaction,
};
use crate::members::is_date;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
    Choice,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Choice => "choice",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    Person,
    Company,
    Both,
}

impl AppliesTo {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::Person => "person",
            AppliesTo::Company => "company",
            AppliesTo::Both => "both",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CustomField {
    pub id: String,
    pub field_key: String,
    pub name: String,
    pub field_type: String,
    /// JSON array of the allowed values of a `choice` field.
    pub choices: String,
    pub applies_to: String,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub show_in_members: bool,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub sync_to_higher_logic: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new field, or the settings of an existing one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct FieldSpec {
    pub field_key: String,
    pub name: String,
    pub field_type: FieldType,
    #[serde(default)]
    pub choices: Vec<String>,
    pub applies_to: AppliesTo,
    #[serde(default)]
    pub show_in_members: bool,
    #[serde(default)]
    pub sync_to_higher_logic: bool,
}

/// Changes to an existing field; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct FieldUpdate {
    pub name: Option<String>,
    pub show_in_members: Option<bool>,
    pub sync_to_higher_logic: Option<bool>,
}

pub const SYNC_NEEDS_MEMBERS_SECTION: &str =
    "\"Sync to Higher Logic\" can only be set on a field shown in the Members section";

impl CustomField {
    pub fn choice_list(&self) -> Vec<String> {
        serde_json::from_str(&self.choices).unwrap_or_default()
    }

    pub fn applies_to_kind(&self, kind: &str) -> bool {
        self.applies_to == "both" || self.applies_to == kind
    }

    /// The canonical stored form of `value`, or why it does not fit this field.
    pub fn check_value(&self, value: &str) -> Result<String, String> {
        let v = value.trim();
        crate::members::limits::check(
            crate::members::limits::CUSTOM_FIELD_VALUE,
            &format!("the value of field {}", self.field_key),
            v,
        )?;
        let bad = |what: &str| Err(format!("{v:?} is not {what} (field {})", self.field_key));
        match self.field_type.as_str() {
            "number" => match v.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(v.to_string()),
                _ => bad("a number"),
            },
            "boolean" => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok("true".into()),
                "false" | "no" | "0" => Ok("false".into()),
                _ => bad("true or false"),
            },
            "date" if is_date(v) => Ok(v.to_string()),
            "date" => bad("a date (YYYY-MM-DD)"),
            "choice" => {
                let choices = self.choice_list();
                match choices.iter().find(|c| c.eq_ignore_ascii_case(v)) {
                    Some(c) => Ok(c.clone()),
                    None => bad(&format!("one of {}", choices.join(", "))),
                }
            }
            _ => Ok(v.to_string()),
        }
    }
}

fn check_key(key: &str) -> StoreResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "field key {key:?} must start with a lower-case letter and hold only a-z, 0-9 and _"
        )))
    }
}

impl Store {
    pub async fn add_field(&self, actor: &str, spec: FieldSpec) -> StoreResult<CustomField> {
        check_key(&spec.field_key)?;
        if spec.name.trim().is_empty() {
            return Err(StoreError::invalid("a field needs a name"));
        }
        if spec.sync_to_higher_logic && !spec.show_in_members {
            return Err(StoreError::invalid(SYNC_NEEDS_MEMBERS_SECTION));
        }
        let choices: Vec<String> = spec
            .choices
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        match (spec.field_type, choices.is_empty()) {
            (FieldType::Choice, true) => {
                return Err(StoreError::invalid("a choice field needs its choices"))
            }
            (FieldType::Choice, false) | (_, true) => {}
            (_, false) => {
                return Err(StoreError::invalid("only a choice field takes choices"));
            }
        }
        let id = new_id();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO custom_fields (id, field_key, name, field_type, choices, applies_to, \
             show_in_members, sync_to_higher_logic, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(&spec.field_key)
        .bind(spec.name.trim())
        .bind(spec.field_type.as_str())
        .bind(serde_json::to_string(&choices).unwrap_or_else(|_| "[]".into()))
        .bind(spec.applies_to.as_str())
        .bind(i64::from(spec.show_in_members))
        .bind(i64::from(spec.sync_to_higher_logic))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on_unique(|| {
            format!("a field with key {:?} exists", spec.field_key)
        }))?;
        Change::new(actor, Event::CustomFieldCreated, &id)
            .detail(json!({ "field_key": spec.field_key, "sync_to_higher_logic": spec.sync_to_higher_logic }))
            .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.field(&spec.field_key).await
    }

    pub async fn update_field(
        &self,
        actor: &str,
        field_key: &str,
        update: FieldUpdate,
    ) -> StoreResult<CustomField> {
        let field = self.field(field_key).await?;
        let name = update.name.as_deref().map(str::trim).unwrap_or(&field.name);
        if name.is_empty() {
            return Err(StoreError::invalid("a field needs a name"));
        }
        let show = update.show_in_members.unwrap_or(field.show_in_members);
        let sync = update
            .sync_to_higher_logic
            .unwrap_or(field.sync_to_higher_logic && show);
        if sync && !show {
            return Err(StoreError::invalid(SYNC_NEEDS_MEMBERS_SECTION));
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE custom_fields SET name = $1, show_in_members = $2, sync_to_higher_logic = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(name)
        .bind(i64::from(show))
        .bind(i64::from(sync))
        .bind(now_ms())
        .bind(&field.id)
        .execute(&mut *tx)
        .await?;
        Change::new(actor, Event::CustomFieldUpdated, &field.id)
            .detail(json!({
                "field_key": field_key,
                "name": name,
                "show_in_members": show,
                "sync_to_higher_logic": sync,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.field(field_key).await
    }

    pub async fn field(&self, field_key: &str) -> StoreResult<CustomField> {
        self.fetch_by_key(
            "SELECT * FROM custom_fields WHERE field_key = $1",
            field_key,
            "custom field",
        )
        .await
    }

    pub async fn list_fields(&self) -> StoreResult<Vec<CustomField>> {
        self.fetch_all_rows("SELECT * FROM custom_fields ORDER BY field_key")
            .await
    }

    /// Sets (or, with an empty value, clears) a member's value of a field.
    pub async fn set_field_value(
        &self,
        actor: &str,
        member_key: &str,
        field_key: &str,
        value: &str,
    ) -> StoreResult<()> {
        let member = self.member(member_key).await?;
        let field = self.field(field_key).await?;
        if !field.applies_to_kind(member.data.kind.as_str()) {
            return Err(StoreError::invalid(format!(
                "field {field_key} does not apply to a {}",
                member.data.kind
            )));
        }
        let value = if value.trim().is_empty() {
            None
        } else {
            Some(field.check_value(value).map_err(StoreError::Invalid)?)
        };
        let mut tx = self.begin().await?;
        write_value(&mut tx, actor, &member.id, &field, value.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A member's custom-field values, as (field key, value), by field key.
    pub async fn field_values(&self, member_id: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT f.field_key, v.value FROM custom_field_values v \
             JOIN custom_fields f ON f.id = v.field_id WHERE v.member_id = $1 ORDER BY f.field_key",
        )
        .bind(member_id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Writes (or with `None` deletes) one value and logs it. Checked values only.
pub(crate) async fn write_value(
    tx: &mut Transaction,
    actor: &str,
    member_id: &str,
    field: &CustomField,
    value: Option<&str>,
) -> StoreResult<()> {
    let mut changes = ChangeBatch::new();
    write_values(tx, actor, &[(member_id, field, value)], &mut changes).await?;
    changes.record(tx).await
}

/// Values per statement: 4 bound values each (2 for a deletion), well under both engines'
/// limits.
const VALUES_PER_STATEMENT: usize = 1000;

/// Writes (or with `None` deletes) each (member id, field, value), [`VALUES_PER_STATEMENT`]
/// a statement at most ([`rows_per_statement`]), adding each one's change to `changes`. Checked values only, each (member,
/// field) once.
pub(crate) async fn write_values(
    tx: &mut Transaction,
    actor: &str,
    values: &[(&str, &CustomField, Option<&str>)],
    changes: &mut ChangeBatch,
) -> StoreResult<()> {
    let now = now_ms();
    let (set, cleared): (Vec<_>, Vec<_>) = values.iter().partition(|(_, _, v)| v.is_some());
    for chunk in set.chunks(rows_per_statement(tx, 3, VALUES_PER_STATEMENT)) {
        let sql = format!(
            "INSERT INTO custom_field_values (member_id, field_id, value, updated_at) \
             VALUES {} ON CONFLICT (member_id, field_id) \
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            value_rows(2, chunk.len(), 3, ", $1")
        );
        let mut q = sqlx::query(&sql).bind(now);
        for (member_id, field, value) in chunk {
            q = q.bind(*member_id).bind(&field.id).bind(*value);
        }
        q.execute(&mut **tx).await?;
    }
    let mut cleared_by_field: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for &(member_id, field, _) in &cleared {
        cleared_by_field
            .entry(&field.id)
            .or_default()
            .push(member_id);
    }
    for (field_id, member_ids) in cleared_by_field {
        for chunk in member_ids.chunks(rows_per_statement(tx, 1, VALUES_PER_STATEMENT)) {
            let sql = format!(
                "DELETE FROM custom_field_values WHERE field_id = $1 AND member_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(field_id);
            for member_id in chunk {
                q = q.bind(*member_id);
            }
            q.execute(&mut **tx).await?;
        }
    }
    for (member_id, field, value) in values {
        let event = match value {
            Some(_) => Event::CustomFieldValueSet,
            None => Event::CustomFieldValueCleared,
        };
        changes.push(
            Change::new(actor, event, &field.id)
                .member(member_id)
                .detail(json!({ "field_key": field.field_key })),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(t: &str, choices: &str) -> CustomField {
        CustomField {
            id: "1".into(),
            field_key: "f".into(),
            name: "F".into(),
            field_type: t.into(),
            choices: choices.into(),
            applies_to: "both".into(),
            show_in_members: true,
            sync_to_higher_logic: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn values_are_checked_by_type() {
        assert_eq!(field("number", "[]").check_value(" 4.5 ").unwrap(), "4.5");
        assert!(field("number", "[]").check_value("four").is_err());
        assert_eq!(field("boolean", "[]").check_value("Yes").unwrap(), "true");
        assert!(field("date", "[]").check_value("2024-02-30").is_err());
        let c = field("choice", r#"["North","South"]"#);
        assert_eq!(c.check_value("north").unwrap(), "North");
        let err = c.check_value("West").unwrap_err();
        assert!(err.contains("North, South"), "{err}");
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("chapter_2").is_ok());
        assert!(check_key("Chapter").is_err());
        assert!(check_key("2x").is_err());
    }
}
