//! What the Higher Logic sync tests set up alike: custom fields, chapter groups, and a worker
//! fast enough for a test.

use guildgate::custom_fields::{AppliesTo, FieldSpec, FieldType};
use guildgate::db::Store;
use guildgate::groups::{Condition, Selection};

/// The Higher Logic tenant the tests push to.
pub const TENANT: &str = "ASSOC";

/// Worker settings for a test: short polls, leases, timeouts and backoff.
pub const FAST_WORKER_ENV: &[(&str, &str)] = &[
    ("GUILDGATE_HIGHER_LOGIC__POLL_MS", "50"),
    ("GUILDGATE_HIGHER_LOGIC__LEASE_SECS", "4"),
    ("GUILDGATE_HIGHER_LOGIC__TIMEOUT_SECS", "2"),
    ("GUILDGATE_HIGHER_LOGIC__BATCH_SIZE", "20"),
    ("GUILDGATE_HIGHER_LOGIC__BACKOFF_BASE_MS", "50"),
    ("GUILDGATE_HIGHER_LOGIC__BACKOFF_MAX_MS", "500"),
];

/// A field shown in the members list; a choice field when `choices` are given.
pub fn field(
    key: &str,
    name: &str,
    choices: &[&str],
    applies_to: AppliesTo,
    sync: bool,
) -> FieldSpec {
    FieldSpec {
        field_key: key.into(),
        name: name.into(),
        field_type: if choices.is_empty() {
            FieldType::Text
        } else {
            FieldType::Choice
        },
        choices: choices.iter().map(|c| c.to_string()).collect(),
        applies_to,
        show_in_members: true,
        sync_to_higher_logic: sync,
    }
}

/// Adds `spec` to the store.
pub async fn add_field(store: &Store, spec: FieldSpec) {
    store.add_field("test", spec).await.expect("add field");
}

/// The members whose `chapter` field is `chapter`.
pub fn chapter(chapter: &str) -> Selection {
    Selection::Conditions(vec![
        Condition::parse(&format!("field.chapter={chapter}")).expect("condition")
    ])
}

/// Adds the group `key` named `name` holding the members of chapter `name`.
pub async fn add_chapter_group(store: &Store, key: &str, name: &str) {
    store
        .add_group("test", Some(key), name, chapter(name))
        .await
        .expect("add group");
}
