//! Length limits on members' text, declared by the features that send it elsewhere (the
//! Higher Logic sync declares what its Push API takes) in [`FIELD_LIMITS`], a link-time list,
//! so that the store enforces them (import, console, admin API, command line) without naming a
//! feature. A value over its limit is refused with a message naming the field, never cut.

use super::MemberData;

/// The longest value of one field, in characters.
#[derive(Debug, Clone, Copy)]
pub struct FieldLimit {
    /// A [`MemberData`] field (the CSV column), or [`CUSTOM_FIELD_VALUE`].
    pub field: &'static str,
    pub max_chars: usize,
    /// Whose limit it is, for the message: e.g. "Higher Logic".
    pub owner: &'static str,
}

/// The name under which a limit applies to every custom field's value.
pub const CUSTOM_FIELD_VALUE: &str = "field.*";

/// Every feature's limits, gathered at link time (`#[distributed_slice(FIELD_LIMITS)]`).
#[linkme::distributed_slice]
pub static FIELD_LIMITS: [&'static [FieldLimit]];

/// Why `value` is too long for `field` (the tightest limit declared for it), if it is.
pub fn check(field: &str, label: &str, value: &str) -> Result<(), String> {
    let limit = FIELD_LIMITS
        .iter()
        .flat_map(|l| l.iter())
        .filter(|l| l.field == field)
        .min_by_key(|l| l.max_chars);
    let Some(limit) = limit else {
        return Ok(());
    };
    let n = value.chars().count();
    if n > limit.max_chars {
        return Err(format!(
            "{label} is {n} characters long; {} takes at most {}",
            limit.owner, limit.max_chars
        ));
    }
    Ok(())
}

/// Every field of `data` over its limit, with the field.
pub fn problems(data: &MemberData) -> Vec<(&'static str, String)> {
    let values = serde_json::to_value(data).unwrap_or_default();
    super::MEMBER_FIELDS
        .iter()
        .filter_map(|field| {
            let value = values.get(*field)?.as_str()?;
            check(field, field, value).err().map(|e| (*field, e))
        })
        .collect()
}
