//! What the Higher Logic sync tests set up alike: custom fields, chapter groups, and a worker
//! fast enough for a test.

use guildgate::custom_fields::{AppliesTo, FieldSpec, FieldType, FieldUpdate};
use guildgate::db::Store;
use guildgate::groups::{Condition, Selection};
use guildgate::higher_logic::settings::SettingsUpdate;

use super::{cli, TestDb};

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

/// A field change of its two flags only: shown in the Members section, synced.
pub fn field_flags(
    show_in_members: Option<bool>,
    sync_to_higher_logic: Option<bool>,
) -> FieldUpdate {
    FieldUpdate {
        show_in_members,
        sync_to_higher_logic,
        ..Default::default()
    }
}

/// The settings change that turns the social properties on, and nothing else.
pub fn social_on() -> SettingsUpdate {
    SettingsUpdate {
        integrate_social: Some(true),
        ..Default::default()
    }
}

/// Sets the custom field `field_key` of the member `member_key` to `value`.
pub async fn set_value(store: &Store, member_key: &str, field_key: &str, value: &str) {
    store
        .set_field_value("test", member_key, field_key, value)
        .await
        .expect("set a field value");
}

/// Saves `update` to the Higher Logic settings.
pub async fn save_settings(store: &Store, update: SettingsUpdate) {
    store
        .save_hl_settings("test", update)
        .await
        .expect("save the Higher Logic settings");
}

/// `guildgate hl settings` for [`TENANT`] at `base_url`, the API key typed on stdin, with the
/// `extra` arguments; the test fails when the command does. Its standard output.
pub fn save_settings_cli(db: &TestDb, base_url: &str, api_key: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "hl",
        "settings",
        "--tenant-code",
        TENANT,
        "--api-key-stdin",
        "--base-url",
        base_url,
    ];
    args.extend_from_slice(extra);
    let out = cli(db, &args, Some(api_key));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
