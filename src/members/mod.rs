//! Members: the people and companies of the association. A company is stored as a member of
//! kind `company` because Higher Logic receives it as one (`IsOrganization`).
//!
//! Here: what a member is and how its fields are checked; `store` reads and writes them.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod limits;
mod store;

pub(crate) use store::{insert_member, insert_members, update_member_into, MemberWrite};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Person,
    Company,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Company => "company",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "person" | "" => Some(Kind::Person),
            "company" | "organization" => Some(Kind::Company),
            _ => None,
        }
    }
}

/// The stored column, which only ever holds what [`Kind::as_str`] wrote.
impl TryFrom<String> for Kind {
    type Error = String;

    fn try_from(stored: String) -> Result<Kind, String> {
        Kind::parse(&stored).ok_or_else(|| format!("unknown member kind {stored:?}"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything about a member that can be set, in the store's words. Also the shape of an
/// imported CSV row, and of a member the admin API writes. Open to other properties (no
/// `deny_unknown_fields`): a stored member and the API's member body are this and more; the
/// import and the API refuse unknown names themselves (`import::json_rows`).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema,
)]
#[serde(default)]
pub struct MemberData {
    /// `person` (the default) or `company`; it cannot change once the member exists.
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    /// A person needs a first or a last name.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A company's name (required for a company, refused for a person).
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// An http(s) URL, as are the other `_url` fields.
    pub website_url: Option<String>,
    pub bio: Option<String>,
    pub profile_image_url: Option<String>,
    pub linkedin_url: Option<String>,
    pub twitter_url: Option<String>,
    pub facebook_url: Option<String>,
    /// The member key of a person's company.
    pub company_key: Option<String>,
    pub member_type: Option<String>,
    pub membership_status: Option<String>,
    /// `YYYY-MM-DD`.
    pub member_since: Option<String>,
    /// `YYYY-MM-DD`.
    pub membership_expires: Option<String>,
}

/// The names of [`MemberData`]'s fields, in column order (also the CSV columns).
pub const MEMBER_FIELDS: &[&str] = &[
    "kind",
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "address_line1",
    "city",
    "state",
    "postal_code",
    "country",
    "website_url",
    "bio",
    "profile_image_url",
    "linkedin_url",
    "twitter_url",
    "facebook_url",
    "company_key",
    "member_type",
    "membership_status",
    "member_since",
    "membership_expires",
];

impl MemberData {
    /// Trims every value and turns empty ones into `None`.
    pub fn normalized(mut self) -> Self {
        for field in self.text_fields_mut() {
            if let Some(v) = field.take() {
                let v = v.trim();
                if !v.is_empty() {
                    *field = Some(v.to_string());
                }
            }
        }
        self
    }

    fn text_fields_mut(&mut self) -> [&mut Option<String>; 21] {
        [
            &mut self.first_name,
            &mut self.last_name,
            &mut self.name,
            &mut self.email,
            &mut self.phone,
            &mut self.address_line1,
            &mut self.city,
            &mut self.state,
            &mut self.postal_code,
            &mut self.country,
            &mut self.website_url,
            &mut self.bio,
            &mut self.profile_image_url,
            &mut self.linkedin_url,
            &mut self.twitter_url,
            &mut self.facebook_url,
            &mut self.company_key,
            &mut self.member_type,
            &mut self.membership_status,
            &mut self.member_since,
            &mut self.membership_expires,
        ]
    }

    /// Sets one field by its column name; `false` if there is no such field.
    pub fn set(&mut self, field: &str, value: &str) -> Result<bool, String> {
        let value = Some(value.to_string());
        let slot = match field {
            "kind" => {
                self.kind = Kind::parse(value.as_deref().unwrap_or_default())
                    .ok_or_else(|| format!("kind must be person or company, not {value:?}"))?;
                return Ok(true);
            }
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "name" => &mut self.name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "address_line1" => &mut self.address_line1,
            "city" => &mut self.city,
            "state" => &mut self.state,
            "postal_code" => &mut self.postal_code,
            "country" => &mut self.country,
            "website_url" => &mut self.website_url,
            "bio" => &mut self.bio,
            "profile_image_url" => &mut self.profile_image_url,
            "linkedin_url" => &mut self.linkedin_url,
            "twitter_url" => &mut self.twitter_url,
            "facebook_url" => &mut self.facebook_url,
            "company_key" => &mut self.company_key,
            "member_type" => &mut self.member_type,
            "membership_status" => &mut self.membership_status,
            "member_since" => &mut self.member_since,
            "membership_expires" => &mut self.membership_expires,
            _ => return Ok(false),
        };
        *slot = value;
        Ok(true)
    }

    /// Every problem with this data, each a sentence for the person who sent it.
    pub fn problems(&self) -> Vec<String> {
        self.field_problems().into_iter().map(|(_, p)| p).collect()
    }

    /// Every problem with this data, each with the field it is about.
    pub fn field_problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match self.kind {
            Kind::Person => {
                if self.first_name.is_none() && self.last_name.is_none() {
                    problems.push((
                        "first_name",
                        "a person needs a first_name or a last_name".to_string(),
                    ));
                }
                if self.name.is_some() {
                    problems.push((
                        "name",
                        "name is a company's name; for a person use first_name and last_name"
                            .to_string(),
                    ));
                }
            }
            Kind::Company => {
                if self.name.is_none() {
                    problems.push(("name", "a company needs a name".to_string()));
                }
                if self.company_key.is_some() {
                    problems.push((
                        "company_key",
                        "a company cannot belong to another company".to_string(),
                    ));
                }
            }
        }
        if let Some(email) = &self.email {
            if let Err(reason) = check_email(email) {
                problems.push(("email", reason));
            }
        }
        for (field, value) in [
            ("member_since", &self.member_since),
            ("membership_expires", &self.membership_expires),
        ] {
            if let Some(v) = value {
                if !is_date(v) {
                    problems.push((field, format!("{field} {v:?} is not a date (YYYY-MM-DD)")));
                }
            }
        }
        for (field, value) in [
            ("website_url", &self.website_url),
            ("profile_image_url", &self.profile_image_url),
            ("linkedin_url", &self.linkedin_url),
            ("twitter_url", &self.twitter_url),
            ("facebook_url", &self.facebook_url),
        ] {
            if let Some(v) = value {
                if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(' ') {
                    problems.push((field, format!("{field} {v:?} is not an http(s) URL")));
                }
            }
        }
        problems.extend(limits::problems(self));
        problems
    }

    /// Names of the fields whose values differ between `self` and `other`.
    pub fn changed_fields(&self, other: &MemberData) -> Vec<&'static str> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        MEMBER_FIELDS
            .iter()
            .copied()
            .filter(|f| a.get(f) != b.get(f))
            .collect()
    }
}

/// An e-mail address check: structure only (deliverability is the mail server's business).
pub fn check_email(email: &str) -> Result<(), String> {
    if email.parse::<email_address::EmailAddress>().is_err() || !email.contains('.') {
        return Err(format!("{email:?} is not a valid e-mail address"));
    }
    Ok(())
}

/// A member key: what Higher Logic and the OIDC `sub` know the contact by.
pub fn check_member_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("member_key is empty".to_string());
    }
    if key.len() > 100 {
        return Err(format!("member_key {key:?} is longer than 100 characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
    {
        return Err(format!(
            "member_key {key:?} may only hold letters, digits and - _ . @ :"
        ));
    }
    Ok(())
}

pub fn is_date(v: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, &format).is_ok()
}

/// A stored member, with its company's key and its account's state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub member_key: String,
    /// What can be set (the company's key read from the company's row).
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub data: MemberData,
    pub company_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `active`, `deactivated`, or `None` when the member has no user account.
    pub account_state: Option<String>,
    /// Guildgate's operator account (the first-start administrator): not a member of the
    /// association, in no group, never sent to Higher Logic.
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub operator: bool,
}

/// How a member is named to people: a company's (or a set) name, else first and last name,
/// else the member key.
pub fn display_name(
    name: Option<&str>,
    first_name: Option<&str>,
    last_name: Option<&str>,
    member_key: &str,
) -> String {
    match (name, first_name, last_name) {
        (Some(n), _, _) => n.to_string(),
        (None, Some(f), Some(l)) => format!("{f} {l}"),
        (None, Some(f), None) => f.to_string(),
        (None, None, Some(l)) => l.to_string(),
        (None, None, None) => member_key.to_string(),
    }
}

impl Member {
    pub fn display_name(&self) -> String {
        let d = &self.data;
        display_name(
            d.name.as_deref(),
            d.first_name.as_deref(),
            d.last_name.as_deref(),
            &self.member_key,
        )
    }
}

/// Columns of [`Member`], for `SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM}`.
pub(crate) const MEMBER_COLUMNS: &str = "m.id, m.member_key, m.kind, m.first_name, m.last_name, \
    m.name, m.email, m.phone, m.address_line1, m.city, m.state, m.postal_code, m.country, \
    m.website_url, m.bio, m.profile_image_url, m.linkedin_url, m.twitter_url, m.facebook_url, \
    m.company_id, c.member_key AS company_key, m.member_type, m.membership_status, \
    m.member_since, m.membership_expires, m.created_at, m.updated_at, a.state AS account_state, \
    m.operator";
pub(crate) const MEMBER_FROM: &str = "members m \
    LEFT JOIN members c ON c.id = m.company_id \
    LEFT JOIN accounts a ON a.member_id = m.id";

/// Filters for [`Store::list_members`].
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    pub kind: Option<Kind>,
    /// Matches name, e-mail or member key, case-insensitively.
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> MemberData {
        MemberData {
            first_name: Some(" Ada ".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.org".into()),
            bio: Some("".into()),
            ..Default::default()
        }
    }

    #[test]
    fn normalizing_trims_and_drops_empty_values() {
        let d = person().normalized();
        assert_eq!(d.first_name.as_deref(), Some("Ada"));
        assert_eq!(d.bio, None);
    }

    #[test]
    fn problems_are_found_and_named() {
        assert!(person().normalized().problems().is_empty());
        let mut d = person();
        d.email = Some("not-an-email".into());
        d.member_since = Some("2024-13-01".into());
        d.website_url = Some("example.org".into());
        let p = d.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("not-an-email"));
        let company = MemberData {
            kind: Kind::Company,
            company_key: Some("c1".into()),
            ..Default::default()
        };
        assert_eq!(company.problems().len(), 2);
    }

    #[test]
    fn member_keys_are_checked() {
        assert!(check_member_key("M-0001").is_ok());
        assert!(check_member_key("").is_err());
        assert!(check_member_key("has space").is_err());
    }

    #[test]
    fn changed_fields_names_only_differences() {
        let a = person().normalized();
        let mut b = a.clone();
        b.city = Some("London".into());
        assert_eq!(a.changed_fields(&b), vec!["city"]);
        assert!(a.changed_fields(&a).is_empty());
    }

    #[test]
    fn every_field_can_be_set_by_name() {
        let mut d = MemberData::default();
        for f in MEMBER_FIELDS {
            if *f != "kind" {
                assert!(d.set(f, "x").unwrap(), "{f}");
            }
        }
        assert!(!d.set("nope", "x").unwrap());
        assert!(d.set("kind", "robot").is_err());
    }
}
