//! Members written out in the import's own CSV format ([`csv_header`]): every member column,
//! the account's login and every custom field, so that a file exported and imported again
//! changes nothing. Operators (the first-start administrator) are not members and are left
//! out, as the import refuses them.

use std::collections::{HashMap, HashSet};

use super::csv_header;
use crate::db::{Store, StoreError, StoreResult};
use crate::members::{Member, MemberFilter, MEMBER_FIELDS};

/// Which members to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportSelection {
    All,
    /// Those the members list finds for this search.
    Search(String),
    /// The members of one group (by its key).
    Group(String),
}

impl Store {
    /// The CSV file of the selected members, by member key.
    pub async fn export_members_csv(&self, selection: &ExportSelection) -> StoreResult<Vec<u8>> {
        let mut members: Vec<Member> = match selection {
            ExportSelection::All => self.list_members(&MemberFilter::default()).await?,
            ExportSelection::Search(q) => {
                let filter = MemberFilter {
                    search: Some(q.clone()).filter(|q| !q.trim().is_empty()),
                    ..Default::default()
                };
                self.list_members(&filter).await?
            }
            ExportSelection::Group(key) => {
                let found = self.group_members(key).await?;
                let mut all = found.with_account;
                all.extend(found.deactivated);
                all.extend(found.without_account);
                all
            }
        };
        let operators: HashSet<String> = self
            .fetch_all_rows::<(String,)>("SELECT member_key FROM members WHERE operator = 1")
            .await?
            .into_iter()
            .map(|(k,)| k)
            .collect();
        members.retain(|m| !operators.contains(&m.member_key));
        members.sort_by(|a, b| a.member_key.cmp(&b.member_key));

        let logins: HashMap<String, String> = self
            .fetch_all_rows::<(String, String)>("SELECT member_id, login_email FROM accounts")
            .await?
            .into_iter()
            .collect();
        let fields = self.list_fields().await?;
        let field_keys: Vec<&str> = fields.iter().map(|f| f.field_key.as_str()).collect();
        let values: HashMap<(String, String), String> = self
            .fetch_all_rows::<(String, String, String)>(
                "SELECT v.member_id, f.field_key, v.value FROM custom_field_values v \
                 JOIN custom_fields f ON f.id = v.field_id",
            )
            .await?
            .into_iter()
            .map(|(m, f, v)| ((m, f), v))
            .collect();

        let failed = |e: csv::Error| StoreError::invalid(format!("cannot write the CSV: {e}"));
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(csv_header(&field_keys)).map_err(failed)?;
        for m in &members {
            let data = serde_json::to_value(&m.data).unwrap_or_default();
            let mut record = vec![m.member_key.clone()];
            record.extend(MEMBER_FIELDS.iter().map(|f| match data.get(*f) {
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => String::new(),
            }));
            record.push(logins.get(&m.id).cloned().unwrap_or_default());
            record.extend(field_keys.iter().map(|k| {
                values
                    .get(&(m.id.clone(), k.to_string()))
                    .cloned()
                    .unwrap_or_default()
            }));
            out.write_record(&record).map_err(failed)?;
        }
        out.into_inner()
            .map_err(|e| StoreError::invalid(format!("cannot write the CSV: {e}")))
    }
}
