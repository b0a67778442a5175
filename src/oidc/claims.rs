//! Claims about the signed-in member, by scope, for the ID token and `/userinfo`.
//!
//! `sub` is the member key: the `LegacyContactKey` the Higher Logic sync pushes, so Higher
//! Logic can join the two. Higher Logic usually asks only for `profile`, so `profile` carries
//! the e-mail too; `member_key` and `company` travel as named claims with `profile`.
//!
//! The `claims` request parameter (OIDC Core 5.5) asks for individual claims by name, for the
//! ID token and for `/userinfo` separately; the names this provider knows are released there
//! whatever the scopes (`RequestedClaims`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::db::{Store, StoreResult};
use crate::members::display_name;

/// The ID token's own claims (about the token, not the member).
const TOKEN_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
];

/// Claims this provider can release (for discovery): the token's own, then the member's.
pub fn supported_claims() -> Vec<&'static str> {
    TOKEN_CLAIMS.iter().chain(MEMBER_CLAIMS).copied().collect()
}

/// The claims about the member's data (not the token's own): the ones a `claims` request
/// parameter can ask for by name.
pub const MEMBER_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "picture",
    "updated_at",
    "email",
    "email_verified",
    "member_key",
    "company",
];

/// The member claims each scope releases.
fn claims_of_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        // Higher Logic asks for `profile` only, so it carries the e-mail too.
        "profile" => MEMBER_CLAIMS,
        "email" => &["email", "email_verified"],
        _ => &[],
    }
}

/// The signed-in member as its claims need it: the account's state and login, the member's
/// profile and its company's name, read in one statement (the token endpoint and `/userinfo`
/// read nothing else about the member).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subject {
    pub account_state: String,
    pub login_email: String,
    pub member_key: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub profile_image_url: Option<String>,
    pub updated_at: i64,
    pub company_key: Option<String>,
    pub company_name: Option<String>,
    pub company_first_name: Option<String>,
    pub company_last_name: Option<String>,
}

/// The columns of a [`Subject`], from `accounts a` joined to `members m` and, by
/// [`SUBJECT_COMPANY_JOIN`], its company `co`.
pub const SUBJECT_COLUMNS: &str = "a.state AS account_state, a.login_email, m.member_key, \
    m.name, m.first_name, m.last_name, m.email, m.profile_image_url, m.updated_at, \
    co.member_key AS company_key, co.name AS company_name, \
    co.first_name AS company_first_name, co.last_name AS company_last_name";

/// The member's company, for [`SUBJECT_COLUMNS`].
pub const SUBJECT_COMPANY_JOIN: &str = "LEFT JOIN members co ON co.id = m.company_id";

impl Subject {
    /// The subject of the account `account_id`, if that account exists and is active.
    pub async fn active(store: &Store, account_id: &str) -> StoreResult<Option<Subject>> {
        let subject: Option<Subject> = sqlx::query_as(&format!(
            "SELECT {SUBJECT_COLUMNS} FROM accounts a JOIN members m ON m.id = a.member_id \
             {SUBJECT_COMPANY_JOIN} WHERE a.id = $1"
        ))
        .bind(account_id)
        .fetch_optional(store.pool())
        .await?;
        Ok(subject.filter(|s| s.account_state == "active"))
    }

    fn company(&self) -> Option<String> {
        let key = self.company_key.as_deref()?;
        Some(display_name(
            self.company_name.as_deref(),
            self.company_first_name.as_deref(),
            self.company_last_name.as_deref(),
            key,
        ))
    }

    /// The member's claims for `scopes`, plus the member claims named in `requested` (always
    /// `sub`).
    pub fn claims<'a>(
        &self,
        scopes: impl Iterator<Item = &'a str>,
        requested: &[String],
    ) -> Map<String, Value> {
        let mut wanted: Vec<&str> = scopes.flat_map(claims_of_scope).copied().collect();
        wanted.extend(
            requested
                .iter()
                .map(String::as_str)
                .filter(|n| MEMBER_CLAIMS.contains(n)),
        );
        let wants = |name: &str| wanted.contains(&name);
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(self.member_key));
        if wants("name") {
            let name = display_name(
                self.name.as_deref(),
                self.first_name.as_deref(),
                self.last_name.as_deref(),
                &self.member_key,
            );
            claims.insert("name".into(), json!(name));
        }
        if let Some(given) = self.first_name.as_ref().filter(|_| wants("given_name")) {
            claims.insert("given_name".into(), json!(given));
        }
        if let Some(family) = self.last_name.as_ref().filter(|_| wants("family_name")) {
            claims.insert("family_name".into(), json!(family));
        }
        if let Some(picture) = self.profile_image_url.as_ref().filter(|_| wants("picture")) {
            claims.insert("picture".into(), json!(picture));
        }
        if wants("updated_at") {
            claims.insert("updated_at".into(), json!(self.updated_at / 1000));
        }
        if wants("member_key") {
            claims.insert("member_key".into(), json!(self.member_key));
        }
        if let Some(company) = self.company().filter(|_| wants("company")) {
            claims.insert("company".into(), json!(company));
        }
        // The address the member signs in with is the one the association verified by sending
        // the invitation to it; another address on the member record is only as good as the
        // AMS data.
        let address = self.email.as_deref().unwrap_or(&self.login_email);
        if wants("email_verified") {
            let verified = address.eq_ignore_ascii_case(&self.login_email);
            claims.insert("email_verified".into(), json!(verified));
        }
        if wants("email") {
            claims.insert("email".into(), json!(address));
        }
        claims
    }
}

/// Why a `claims` request parameter was refused (sent back as `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsParamError {
    #[error("claims is not valid JSON")]
    NotJson,
    #[error("claims must be a JSON object")]
    NotAnObject,
    #[error("claims member {0} must be an object")]
    MemberNotAnObject(&'static str),
    #[error("each claim requested in claims.{0} must be null or an object")]
    RequestNotAnObject(&'static str),
    #[error("essential in claims.{0} must be true or false")]
    EssentialNotBoolean(&'static str),
    #[error("values in claims.{0} must be an array")]
    ValuesNotAnArray(&'static str),
}

/// The member claims a `claims` request parameter asked for by name, for `/userinfo` and for
/// the ID token; names this provider does not release are dropped. Stored with the code and
/// its tokens as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
}

impl RequestedClaims {
    /// Reads a `claims` request parameter (OIDC Core 5.5): a JSON object whose optional
    /// members `userinfo` and `id_token` map claim names to null or an object (`essential`
    /// a boolean, `values` an array, `value` anything; other members are ignored, as are
    /// other top-level members).
    pub fn parse(param: &str) -> Result<RequestedClaims, ClaimsParamError> {
        let value: Value = serde_json::from_str(param).map_err(|_| ClaimsParamError::NotJson)?;
        let Value::Object(top) = value else {
            return Err(ClaimsParamError::NotAnObject);
        };
        Ok(RequestedClaims {
            userinfo: Self::names(&top, "userinfo")?,
            id_token: Self::names(&top, "id_token")?,
        })
    }

    /// The known claim names under `member` (a JSON object's names, so each once).
    fn names(
        top: &Map<String, Value>,
        member: &'static str,
    ) -> Result<Vec<String>, ClaimsParamError> {
        let Some(requests) = top.get(member) else {
            return Ok(Vec::new());
        };
        let Value::Object(requests) = requests else {
            return Err(ClaimsParamError::MemberNotAnObject(member));
        };
        let mut names = Vec::new();
        for (name, request) in requests {
            match request {
                Value::Null => {}
                Value::Object(request) => {
                    if request.get("essential").is_some_and(|e| !e.is_boolean()) {
                        return Err(ClaimsParamError::EssentialNotBoolean(member));
                    }
                    if request.get("values").is_some_and(|v| !v.is_array()) {
                        return Err(ClaimsParamError::ValuesNotAnArray(member));
                    }
                }
                _ => return Err(ClaimsParamError::RequestNotAnObject(member)),
            }
            if MEMBER_CLAIMS.contains(&name.as_str()) {
                names.push(name.clone());
            }
        }
        Ok(names)
    }

    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }

    /// The stored form: `None` when nothing known was asked for.
    pub fn to_stored(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// Reads the stored form back; an unreadable value (never written by this code) asks for
    /// nothing.
    pub fn from_stored(stored: Option<&str>) -> RequestedClaims {
        let Some(stored) = stored else {
            return RequestedClaims::default();
        };
        serde_json::from_str(stored).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored claims request unreadable; ignored");
            RequestedClaims::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parameter_is_read() {
        let r = RequestedClaims::parse(
            r#"{"userinfo":{"name":{"essential":true},"nickname":null,"name":null},
                "id_token":{"email":null,"auth_time":{"essential":true},
                "company":{"values":["a","b"],"value":1,"x":2}},"other":5}"#,
        )
        .unwrap();
        assert_eq!(r.userinfo, vec!["name"]);
        assert_eq!(r.id_token, vec!["company", "email"]);
        let stored = r.to_stored().unwrap();
        assert_eq!(RequestedClaims::from_stored(Some(&stored)), r);
        assert_eq!(RequestedClaims::parse("{}").unwrap().to_stored(), None);
        assert_eq!(
            RequestedClaims::parse(r#"{"userinfo":{"nickname":null}}"#)
                .unwrap()
                .to_stored(),
            None
        );
        assert_eq!(
            RequestedClaims::from_stored(None),
            RequestedClaims::default()
        );
        assert_eq!(
            RequestedClaims::from_stored(Some("[")),
            RequestedClaims::default()
        );
    }

    #[test]
    fn malformed_claims_parameters() {
        use ClaimsParamError::*;
        for (param, error) in [
            ("not json", NotJson),
            (r#"{"userinfo":"#, NotJson),
            ("[]", NotAnObject),
            ("\"name\"", NotAnObject),
            ("null", NotAnObject),
            (r#"{"userinfo":[]}"#, MemberNotAnObject("userinfo")),
            (r#"{"id_token":null}"#, MemberNotAnObject("id_token")),
            (r#"{"id_token":"email"}"#, MemberNotAnObject("id_token")),
            (
                r#"{"userinfo":{"name":true}}"#,
                RequestNotAnObject("userinfo"),
            ),
            (
                r#"{"id_token":{"email":[]}}"#,
                RequestNotAnObject("id_token"),
            ),
            (
                r#"{"userinfo":{"name":{"essential":"yes"}}}"#,
                EssentialNotBoolean("userinfo"),
            ),
            (
                r#"{"id_token":{"name":{"values":"a"}}}"#,
                ValuesNotAnArray("id_token"),
            ),
        ] {
            assert_eq!(RequestedClaims::parse(param), Err(error), "{param}");
        }
    }
}
