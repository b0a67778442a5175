//! Claims about the signed-in member, by scope, for the ID token and `/userinfo`.
//!
//! `sub` is the member key: the `LegacyContactKey` the Higher Logic sync pushes, so Higher
//! Logic can join the two. Higher Logic usually asks only for `profile`, so `profile` carries
//! the e-mail too; `member_key` and `company` travel as named claims with `profile`.

use serde_json::{json, Map, Value};

use crate::accounts::Account;
use crate::db::{Store, StoreResult};

/// Claims this provider can release (for discovery).
pub const SUPPORTED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
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

/// The member's claims for `scopes` (always `sub`).
pub async fn for_scopes<'a>(
    store: &Store,
    account: &Account,
    scopes: impl Iterator<Item = &'a str>,
) -> StoreResult<Map<String, Value>> {
    let scopes: Vec<&str> = scopes.collect();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(account.member_key));
    let profile = scopes.contains(&"profile");
    let email = scopes.contains(&"email");
    if !profile && !email {
        return Ok(claims);
    }
    let member = store.member(&account.member_key).await?;
    // The address the member signs in with is the one the association verified by sending the
    // invitation to it; another address on the member record is only as good as the AMS data.
    let address = member
        .email
        .clone()
        .unwrap_or_else(|| account.login_email.clone());
    let verified = address.eq_ignore_ascii_case(&account.login_email);
    if profile {
        claims.insert("name".into(), json!(member.display_name()));
        if let Some(given) = &member.first_name {
            claims.insert("given_name".into(), json!(given));
        }
        if let Some(family) = &member.last_name {
            claims.insert("family_name".into(), json!(family));
        }
        if let Some(picture) = &member.profile_image_url {
            claims.insert("picture".into(), json!(picture));
        }
        claims.insert("updated_at".into(), json!(member.updated_at / 1000));
        claims.insert("member_key".into(), json!(member.member_key));
        if let Some(company_id) = &member.company_id {
            let company = store.member_by_id(company_id).await?;
            claims.insert("company".into(), json!(company.display_name()));
        }
    }
    claims.insert("email".into(), json!(address));
    claims.insert("email_verified".into(), json!(verified));
    Ok(claims)
}
