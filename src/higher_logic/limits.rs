//! The longest text Guildgate sends Higher Logic, field by field, registered with the member
//! store ([`FIELD_LIMITS`]) so that import, the console, the admin API and the command line
//! refuse a longer value with a message instead of pushing it (or cutting it without telling).
//!
//! Higher Logic publishes no field lengths for the Push API V1; these are assumed, chosen
//! generous for real data and small enough that one record stays a few kilobytes and a batch
//! of 100 well under a megabyte. The README lists them.

use crate::members::limits::{FieldLimit, CUSTOM_FIELD_VALUE, FIELD_LIMITS};

const fn limit(field: &'static str, max_chars: usize) -> FieldLimit {
    FieldLimit {
        field,
        max_chars,
        owner: "Higher Logic",
    }
}

/// Every pushed text field (by its member field, the CSV column) and its limit.
pub const PUSHED: &[FieldLimit] = &[
    limit("first_name", 100),
    limit("last_name", 100),
    limit("name", 200),
    limit("email", 254),
    limit("phone", 50),
    limit("address_line1", 200),
    limit("city", 100),
    limit("state", 100),
    limit("postal_code", 20),
    limit("country", 100),
    limit("website_url", 2000),
    limit("bio", 10_000),
    limit("profile_image_url", 2000),
    limit("linkedin_url", 2000),
    limit("twitter_url", 2000),
    limit("facebook_url", 2000),
    limit(CUSTOM_FIELD_VALUE, 500),
];

#[linkme::distributed_slice(FIELD_LIMITS)]
static HIGHER_LOGIC: &[FieldLimit] = PUSHED;

#[cfg(test)]
mod tests {
    use crate::members::limits::check;
    use crate::members::MemberData;

    #[test]
    fn long_values_are_refused_with_the_field_named() {
        assert!(check("bio", "bio", &"x".repeat(10_000)).is_ok());
        let err = check("bio", "bio", &"x".repeat(10_001)).unwrap_err();
        assert_eq!(
            err,
            "bio is 10001 characters long; Higher Logic takes at most 10000"
        );
        let data = MemberData {
            first_name: Some("é".repeat(100)),
            city: Some("c".repeat(101)),
            ..Default::default()
        };
        let problems = data.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("city is 101 characters")),
            "{problems:?}"
        );
        assert!(!problems.iter().any(|p| p.starts_with("first_name")));
    }
}
