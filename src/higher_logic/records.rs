//! Building the Push API V1 item for a contact: its **full** record, as Higher Logic wants it
//! ("the full dataset must be populated, not just the changed values").
//!
//! Every contract choice the published material leaves open is made here, in one place, and
//! the test double (`tests/e2e/support/hl_double.rs`) enforces the same:
//! - `LegacyContactKey` is the member key (equal to the OIDC `sub`, the SSO join).
//! - Booleans travel as the strings `"True"` / `"False"`, as one public client sends them.
//! - Every text field of `MemberDetails` is sent, empty (`""`) when unset, so that clearing a
//!   value in Guildgate clears it in Higher Logic.
//! - `Bio`, `ProfileImageURL` and the social URLs are sent only when the administrator recorded
//!   that Higher Logic activated the matching property; otherwise they are left out (Higher
//!   Logic would ignore them anyway).
//! - `IsActive` is always `"True"`: deactivating an account never deletes or deactivates the
//!   contact; the provider refuses the sign-in instead.
//! - `IsMember` is `"True"` unless the membership status is one of [`NON_MEMBER_STATUSES`] or
//!   the membership expired before today.
//! - Companies are members with `IsOrganization` `"True"` and their name in `CompanyName`; a
//!   person carries the company's key in `ParentMemberKey` and its name in `CompanyName`.
//! - A synced group is one object in `CommunityGroups` or `SecurityGroups` with `GroupKey` (the
//!   group's stable key), `GroupName`, `GroupType` (`Community` / `SecurityGroup`) and
//!   `RoleDescription` `Member`. A group left out means the contact left it.
//! - Custom fields marked "sync to Higher Logic" (only possible when shown in the Members
//!   section) are `Demographics`: `DemographicTypeKey` = field key, `DemographicTypeValue` =
//!   field name, `DemographicKey` = `fieldkey:value`, `DemographicValue` = value. A field
//!   without a value is left out (full-record semantics remove it).
//! - A refusal naming one of the record's group keys and saying it exists already
//!   ("existing", "already") means the key belongs to a group made inside Higher Logic
//!   ([`clashing_group`]; assumed, Higher Logic publishes no list of its messages). Such a group
//!   is left out of records ([`synced_groups`]) until it is re-keyed or its sync turned off.
//! - A refusal that names none of the batch's contacts (by `LegacyContactKey`) and comes back
//!   the same for both halves of a split, or for several records in a row, is Higher Logic
//!   refusing everything ([`names_a_contact`]), not the records (assumed likewise).
//! - Text fields have the length limits of [`super::limits`].
//! - Only contacts with a user account are pushed (active or deactivated); a contact is pushed
//!   while it is in a synced group, plus once more with empty group lists after it left the
//!   last one (or the group's sync was turned off).
//! - Operators (the first-start administrator) are in no synced group, whatever its conditions:
//!   they run Guildgate and are not members of the association.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::db::{Store, StoreResult};
use crate::groups::{membership_sql, Group};

/// Membership statuses that make `IsMember` false (compared case-insensitively).
pub const NON_MEMBER_STATUSES: &[&str] = &[
    "lapsed",
    "expired",
    "cancelled",
    "canceled",
    "inactive",
    "former",
    "non-member",
];

/// One element of the push body's `Items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    #[serde(rename = "MemberDetails")]
    pub member_details: MemberDetails,
    #[serde(rename = "SecurityGroups", default)]
    pub security_groups: Vec<GroupRef>,
    #[serde(rename = "CommunityGroups", default)]
    pub community_groups: Vec<GroupRef>,
    #[serde(rename = "Demographics", default)]
    pub demographics: Vec<Demographic>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDetails {
    #[serde(rename = "LegacyContactKey")]
    pub legacy_contact_key: String,
    #[serde(rename = "MemberID")]
    pub member_id: String,
    #[serde(rename = "FirstName")]
    pub first_name: String,
    #[serde(rename = "LastName")]
    pub last_name: String,
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
    #[serde(rename = "CompanyName")]
    pub company_name: String,
    #[serde(rename = "ParentMemberKey")]
    pub parent_member_key: String,
    #[serde(rename = "IsOrganization")]
    pub is_organization: String,
    #[serde(rename = "IsActive")]
    pub is_active: String,
    #[serde(rename = "IsMember")]
    pub is_member: String,
    #[serde(rename = "MemberSince")]
    pub member_since: String,
    #[serde(rename = "MemberExpiresOn")]
    pub member_expires_on: String,
    #[serde(rename = "Phone1")]
    pub phone1: String,
    #[serde(rename = "Address1")]
    pub address1: String,
    #[serde(rename = "City")]
    pub city: String,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "PostalCode")]
    pub postal_code: String,
    #[serde(rename = "Country")]
    pub country: String,
    #[serde(rename = "WebsiteURL")]
    pub website_url: String,
    #[serde(rename = "Bio", skip_serializing_if = "Option::is_none", default)]
    pub bio: Option<String>,
    #[serde(
        rename = "ProfileImageURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub profile_image_url: Option<String>,
    #[serde(
        rename = "LinkedInURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub linkedin_url: Option<String>,
    #[serde(
        rename = "TwitterURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub twitter_url: Option<String>,
    #[serde(
        rename = "FacebookURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub facebook_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    #[serde(rename = "GroupKey")]
    pub group_key: String,
    #[serde(rename = "GroupName")]
    pub group_name: String,
    #[serde(rename = "GroupType")]
    pub group_type: String,
    #[serde(rename = "RoleDescription")]
    pub role_description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographic {
    #[serde(rename = "DemographicTypeKey")]
    pub type_key: String,
    #[serde(rename = "DemographicTypeValue")]
    pub type_value: String,
    #[serde(rename = "DemographicKey")]
    pub key: String,
    #[serde(rename = "DemographicValue")]
    pub value: String,
}

/// `"True"` / `"False"`, the booleans of the contract.
pub fn flag(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

/// Which optional properties Higher Logic activated for the tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Properties {
    pub bio: bool,
    pub profile_image: bool,
    pub social: bool,
}

/// A contact ready to push, or the reason it is not pushed.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub member_id: String,
    pub outcome: Preparation,
}

#[derive(Debug, Clone)]
pub enum Preparation {
    /// Push this item; afterwards Higher Logic has the contact in `group_ids`.
    Push {
        item: Box<Item>,
        group_ids: Vec<String>,
    },
    /// No user account: counted and reported, never sent.
    NoAccount,
    /// Not in a synced group and nothing to remove: Higher Logic need not hear of it.
    NotSynced,
    /// The member no longer exists.
    Gone,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: String,
    member_key: String,
    kind: String,
    first_name: Option<String>,
    last_name: Option<String>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address_line1: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
    website_url: Option<String>,
    bio: Option<String>,
    profile_image_url: Option<String>,
    linkedin_url: Option<String>,
    twitter_url: Option<String>,
    facebook_url: Option<String>,
    company_key: Option<String>,
    company_name: Option<String>,
    membership_status: Option<String>,
    member_since: Option<String>,
    membership_expires: Option<String>,
    account_state: Option<String>,
    /// An operator (the first-start administrator) is never pushed.
    #[sqlx(try_from = "crate::db::IntFlag")]
    operator: bool,
}

pub(crate) use crate::db::placeholders;

fn today() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::now_utc()
        .date()
        .format(&format)
        .unwrap_or_default()
}

fn is_member(status: Option<&str>, expires: Option<&str>, today: &str) -> bool {
    let lapsed = status.is_some_and(|s| {
        NON_MEMBER_STATUSES
            .iter()
            .any(|n| n.eq_ignore_ascii_case(s.trim()))
    });
    // Dates are YYYY-MM-DD, so text order is date order.
    let expired = expires.is_some_and(|e| e < today);
    !lapsed && !expired
}

/// The groups whose sync is on, but those whose key Higher Logic says is one of its own.
pub async fn synced_groups(store: &Store) -> StoreResult<Vec<Group>> {
    Ok(sqlx::query_as(
        "SELECT * FROM member_groups WHERE hl_sync_enabled = 1 AND id NOT IN \
         (SELECT group_id FROM hl_groups WHERE key_clash IS NOT NULL) ORDER BY group_key",
    )
    .fetch_all(store.pool())
    .await?)
}

/// The words of an answer that could be keys (member keys hold letters, digits and
/// `- _ . @ :`), without a sentence's closing `.` or `:`.
fn words(message: &str) -> HashSet<&str> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':')))
        .map(|w| w.trim_end_matches(['.', ':']))
        .collect()
}

/// Whether Higher Logic's refusal `message` names one of the `items`' contacts by its
/// `LegacyContactKey`: then it is about that record. One that names none, answered alike for
/// every part of a batch, is taken as Higher Logic refusing everything (assumed, as above).
pub fn names_a_contact<'a>(message: &str, items: impl IntoIterator<Item = &'a Item>) -> bool {
    let words = words(message);
    items
        .into_iter()
        .any(|i| words.contains(i.member_details.legacy_contact_key.as_str()))
}

/// The group key of `item` that Higher Logic's refusal `message` says belongs to a group made
/// inside Higher Logic, if it says so (see the module's notes).
pub fn clashing_group(message: &str, item: &Item) -> Option<String> {
    let lower = message.to_lowercase();
    if !(lower.contains("existing") || lower.contains("already")) {
        return None;
    }
    let words = words(message);
    item.community_groups
        .iter()
        .chain(&item.security_groups)
        .map(|g| &g.group_key)
        .find(|k| words.contains(k.as_str()))
        .cloned()
}

/// Builds the items of `member_ids` from the store as it is now.
pub async fn prepare(
    store: &Store,
    member_ids: &[String],
    props: Properties,
) -> StoreResult<Vec<Prepared>> {
    if member_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(1, member_ids.len());
    let sql = format!(
        "SELECT m.id, m.member_key, m.kind, m.first_name, m.last_name, m.name, m.email, m.phone, \
         m.address_line1, m.city, m.state, m.postal_code, m.country, m.website_url, m.bio, \
         m.profile_image_url, m.linkedin_url, m.twitter_url, m.facebook_url, \
         c.member_key AS company_key, c.name AS company_name, m.membership_status, \
         m.member_since, m.membership_expires, a.state AS account_state, m.operator \
         FROM members m LEFT JOIN members c ON c.id = m.company_id \
         LEFT JOIN accounts a ON a.member_id = m.id WHERE m.id IN ({list})"
    );
    let mut q = sqlx::query_as::<_, ContactRow>(&sql);
    for id in member_ids {
        q = q.bind(id);
    }
    let rows: HashMap<String, ContactRow> = q
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();

    // Current synced groups of each contact: one query per synced group.
    let groups = synced_groups(store).await?;
    let mut current: HashMap<&str, Vec<&Group>> = HashMap::new();
    for g in &groups {
        let (clause, binds) = membership_sql(g, member_ids.len() + 1);
        let sql = format!("SELECT m.id FROM members m WHERE m.id IN ({list}) AND {clause}");
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for id in member_ids {
            q = q.bind(id);
        }
        for b in &binds {
            q = q.bind(b);
        }
        for (id,) in q.fetch_all(store.pool()).await? {
            if let Some(k) = member_ids.iter().find(|m| **m == id) {
                current.entry(k.as_str()).or_default().push(g);
            }
        }
    }

    // What Higher Logic has now, to know who must hear that they left.
    let sql = format!("SELECT DISTINCT member_id FROM hl_memberships WHERE member_id IN ({list})");
    let mut q = sqlx::query_as::<_, (String,)>(&sql);
    for id in member_ids {
        q = q.bind(id);
    }
    let known: HashSet<String> = q
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();

    // Synced custom-field values.
    let sql = format!(
        "SELECT v.member_id, f.field_key, f.name, v.value FROM custom_field_values v \
         JOIN custom_fields f ON f.id = v.field_id \
         WHERE f.sync_to_higher_logic = 1 AND f.show_in_members = 1 AND v.member_id IN ({list}) \
         ORDER BY f.field_key"
    );
    let mut q = sqlx::query_as::<_, (String, String, String, String)>(&sql);
    for id in member_ids {
        q = q.bind(id);
    }
    let mut demographics: BTreeMap<String, Vec<Demographic>> = BTreeMap::new();
    for (member_id, key, name, value) in q.fetch_all(store.pool()).await? {
        demographics
            .entry(member_id)
            .or_default()
            .push(Demographic {
                key: format!("{key}:{value}"),
                type_key: key,
                type_value: name,
                value,
            });
    }

    let today = today();
    let mut out = Vec::with_capacity(member_ids.len());
    for id in member_ids {
        let outcome = match rows.get(id) {
            None => Preparation::Gone,
            Some(row) if row.account_state.is_none() => Preparation::NoAccount,
            Some(row) => {
                // An operator is in no group Higher Logic hears of (if an earlier version
                // pushed one, it is taken out of its groups).
                let in_groups = if row.operator {
                    Vec::new()
                } else {
                    current.get(id.as_str()).cloned().unwrap_or_default()
                };
                if in_groups.is_empty() && !known.contains(id) {
                    Preparation::NotSynced
                } else {
                    let item = build_item(
                        row,
                        &in_groups,
                        demographics.remove(id).unwrap_or_default(),
                        props,
                        &today,
                    );
                    Preparation::Push {
                        item: Box::new(item),
                        group_ids: in_groups.iter().map(|g| g.id.clone()).collect(),
                    }
                }
            }
        };
        out.push(Prepared {
            member_id: id.clone(),
            outcome,
        });
    }
    Ok(out)
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn build_item(
    row: &ContactRow,
    groups: &[&Group],
    demographics: Vec<Demographic>,
    props: Properties,
    today: &str,
) -> Item {
    let company = row.kind == "company";
    let optional = |on: bool, v: &Option<String>| on.then(|| text(v));
    let member_details = MemberDetails {
        legacy_contact_key: row.member_key.clone(),
        member_id: row.member_key.clone(),
        first_name: text(&row.first_name),
        last_name: text(&row.last_name),
        email_address: text(&row.email),
        company_name: if company {
            text(&row.name)
        } else {
            text(&row.company_name)
        },
        parent_member_key: text(&row.company_key),
        is_organization: flag(company),
        is_active: flag(true),
        is_member: flag(is_member(
            row.membership_status.as_deref(),
            row.membership_expires.as_deref(),
            today,
        )),
        member_since: text(&row.member_since),
        member_expires_on: text(&row.membership_expires),
        phone1: text(&row.phone),
        address1: text(&row.address_line1),
        city: text(&row.city),
        state: text(&row.state),
        postal_code: text(&row.postal_code),
        country: text(&row.country),
        website_url: text(&row.website_url),
        bio: optional(props.bio, &row.bio),
        profile_image_url: optional(props.profile_image, &row.profile_image_url),
        linkedin_url: optional(props.social, &row.linkedin_url),
        twitter_url: optional(props.social, &row.twitter_url),
        facebook_url: optional(props.social, &row.facebook_url),
    };
    let mut item = Item {
        member_details,
        security_groups: Vec::new(),
        community_groups: Vec::new(),
        demographics,
    };
    for g in groups {
        let security = g.hl_group_type.as_deref() == Some("security");
        let r = GroupRef {
            group_key: g.group_key.clone(),
            group_name: g.name.clone(),
            group_type: if security {
                "SecurityGroup"
            } else {
                "Community"
            }
            .into(),
            role_description: "Member".into(),
        };
        if security {
            item.security_groups.push(r);
        } else {
            item.community_groups.push(r);
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_follows_status_and_expiry() {
        assert!(is_member(Some("active"), None, "2026-01-01"));
        assert!(is_member(None, Some("2026-01-01"), "2026-01-01"));
        assert!(!is_member(Some("Lapsed"), None, "2026-01-01"));
        assert!(!is_member(Some("active"), Some("2025-12-31"), "2026-01-01"));
    }

    #[test]
    fn items_use_the_contract_names_and_leave_out_inactive_properties() {
        let item = Item {
            member_details: MemberDetails {
                legacy_contact_key: "M1".into(),
                is_active: flag(true),
                bio: None,
                linkedin_url: Some(String::new()),
                ..Default::default()
            },
            security_groups: vec![],
            community_groups: vec![],
            demographics: vec![],
        };
        let v = serde_json::to_value(&item).unwrap();
        let d = &v["MemberDetails"];
        assert_eq!(d["LegacyContactKey"], "M1");
        assert_eq!(d["IsActive"], "True");
        assert!(d.get("Bio").is_none());
        assert_eq!(d["LinkedInURL"], "");
        assert!(v["CommunityGroups"].is_array());
    }

    #[test]
    fn a_clashing_group_is_read_from_the_answer() {
        let group = |key: &str| GroupRef {
            group_key: key.into(),
            group_name: "G".into(),
            group_type: "Community".into(),
            role_description: "Member".into(),
        };
        let item = Item {
            member_details: MemberDetails::default(),
            security_groups: vec![group("board")],
            community_groups: vec![group("north"), group("LEGACY-1")],
            demographics: vec![],
        };
        let answer = "contact M1: GroupKey LEGACY-1 belongs to an existing Higher Logic group";
        assert_eq!(clashing_group(answer, &item).as_deref(), Some("LEGACY-1"));
        assert_eq!(
            clashing_group("Group key board already exists.", &item).as_deref(),
            Some("board")
        );
        assert_eq!(clashing_group("LEGACY-1: Email invalid", &item), None);
        assert_eq!(clashing_group("existing group LEGACY-10", &item), None);
        let mut m1 = item.clone();
        m1.member_details.legacy_contact_key = "m1@x.org".into();
        assert!(names_a_contact("contact m1@x.org: invalid", [&m1]));
        assert!(names_a_contact("Record m1@x.org.", [&item, &m1]));
        assert!(!names_a_contact("Tenant is being migrated", [&m1]));
        assert!(!names_a_contact("contact m1@x.org2: invalid", [&m1]));
    }

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
