//! What the database holds about the members a batch names, loaded before checking it: only
//! those members (and their companies), their logins and custom-field values, so that a
//! one-member write costs a few lookups however many members there are.

use std::collections::{HashMap, HashSet};

use super::Row;
use crate::custom_fields::CustomField;
use crate::db::{placeholders, Engine, Store, StoreResult};
use crate::members::{Member, MEMBER_COLUMNS, MEMBER_FROM};

/// Keys per `IN (...)` list: well under the bound-parameter limits of both engines.
const CHUNK: usize = 500;

pub(super) struct Snapshot {
    pub fields: HashMap<String, CustomField>,
    /// The batch's members that exist, with the companies they or the batch name.
    pub existing: HashMap<String, Member>,
    /// Login -> member key, for the logins the batch gives.
    pub logins: HashMap<String, String>,
    /// (member id, field key) -> value, for the batch's existing members.
    pub values: HashMap<(String, String), String>,
    /// The keys of the batch that are operators' (the first-start administrator): not members.
    pub operators: HashSet<String>,
}

pub(super) async fn load(store: &Store, rows: &[Row]) -> StoreResult<Snapshot> {
    let fields = store
        .list_fields()
        .await?
        .into_iter()
        .map(|f| (f.field_key.clone(), f))
        .collect();
    let keyed = Lookup {
        store,
        whole: false,
    };

    // First which of the keys and logins exist, each from its own table: a new member costs
    // no more. Only when many exist are whole tables read.
    let mut keys: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    keys.extend(rows.iter().flat_map(|r| {
        r.columns
            .iter()
            .filter(|(c, v)| c == "company_key" && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }));
    let logins = rows.iter().filter_map(|r| r.account_email.as_deref());
    let mut limit = WHOLE_TABLES_FROM;
    let found_keys = keyed
        .existing(
            "SELECT member_key FROM members WHERE",
            "member_key",
            keys,
            limit,
        )
        .await?;
    limit -= found_keys.as_ref().map_or(limit, Vec::len);
    let found_logins = match found_keys {
        Some(_) => {
            let sql = "SELECT login_email FROM accounts WHERE";
            keyed.existing(sql, "login_email", logins, limit).await?
        }
        None => None,
    };
    let (found_keys, found_logins, whole) = match (found_keys, found_logins) {
        (Some(keys), Some(logins)) => (keys, logins, false),
        _ => (Vec::new(), Vec::new(), true),
    };
    let lookup = Lookup { store, whole };
    let keys = found_keys.iter().map(String::as_str);

    let members = format!("SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE");
    let mut existing: HashMap<String, Member> = lookup
        .rows(&members, "m.member_key", keys)
        .await?
        .into_iter()
        .map(|m: Member| (m.member_key.clone(), m))
        .collect();
    if !lookup.whole {
        // The companies the existing members belong to now (kept when a row leaves them
        // alone).
        let companies: HashSet<&str> = existing
            .values()
            .filter_map(|m| m.data.company_key.as_deref())
            .filter(|k| !existing.contains_key(*k))
            .collect();
        let companies: Vec<Member> = lookup.rows(&members, "m.member_key", companies).await?;
        existing.extend(companies.into_iter().map(|m| (m.member_key.clone(), m)));
    }

    let logins = lookup
        .rows(
            "SELECT a.login_email, m.member_key FROM accounts a \
             JOIN members m ON m.id = a.member_id WHERE",
            "a.login_email",
            found_logins.iter().map(String::as_str),
        )
        .await?
        .into_iter()
        .collect();

    let ids = rows
        .iter()
        .filter_map(|r| existing.get(&r.key))
        .map(|m| m.id.as_str());
    let values = lookup
        .rows(
            "SELECT v.member_id, f.field_key, v.value FROM custom_field_values v \
             JOIN custom_fields f ON f.id = v.field_id WHERE",
            "v.member_id",
            ids,
        )
        .await?
        .into_iter()
        .map(|(m, f, v): (String, String, String)| ((m, f), v))
        .collect();

    let operators = lookup
        .rows(
            "SELECT member_key FROM members WHERE operator = 1 AND",
            "member_key",
            found_keys.iter().map(String::as_str),
        )
        .await?
        .into_iter()
        .map(|(key,): (String,)| key)
        .collect();

    Ok(Snapshot {
        fields,
        existing,
        logins,
        values,
        operators,
    })
}

/// When more of a batch's members and logins than this exist, each table is read whole, once:
/// cheaper than thousands of keyed lookups with joins.
const WHOLE_TABLES_FROM: usize = 1000;

/// How the snapshot reads: by the batch's keys, or whole tables.
struct Lookup<'s> {
    store: &'s Store,
    whole: bool,
}

impl Lookup<'_> {
    /// The `values` that `{sql} {column} IN (...)` finds (the first column of its rows); `None`
    /// as soon as more than `limit` are found (then whole tables are read instead).
    async fn existing<'a>(
        &self,
        sql: &str,
        column: &str,
        values: impl IntoIterator<Item = &'a str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<String>>> {
        let values: Vec<&str> = values.into_iter().collect();
        let mut found = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let rows: Vec<(String,)> = self.rows(sql, column, chunk.iter().copied()).await?;
            found.extend(rows.into_iter().map(|(v,)| v));
            if found.len() > limit {
                return Ok(None);
            }
        }
        Ok(Some(found))
    }

    /// The rows of `{sql} {column} IN ({values})`, `CHUNK` values per query (on PostgreSQL
    /// as a VALUES list); or, reading whole tables, every row of `{sql} true`.
    async fn rows<'a, T>(
        &self,
        sql: &str,
        column: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if self.whole {
            return self.store.fetch_all_rows(&format!("{sql} true")).await;
        }
        let values: Vec<&str> = values.into_iter().collect();
        let mut out = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let query = match self.store.engine() {
                Engine::Sqlite => format!("{sql} {column} IN ({})", placeholders(1, chunk.len())),
                // A list of parameters that PostgreSQL's cached plan may search row by row
                // through a scan of the table; a joined VALUES list is hashed at worst.
                Engine::Postgres => {
                    let rows: Vec<String> = (1..=chunk.len()).map(|i| format!("(${i})")).collect();
                    format!(
                        "{sql} {column} IN (SELECT column1 FROM (VALUES {}) v)",
                        rows.join(", ")
                    )
                }
            };
            let mut q = sqlx::query_as::<_, T>(&query);
            for v in chunk {
                q = q.bind(*v);
            }
            out.extend(q.fetch_all(self.store.pool()).await?);
        }
        Ok(out)
    }
}
