//! Members for the tests to work on.

use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::members::{Kind, MemberData};

/// A person of `member_type`, reachable at `<first name in lower case>@example.org`.
pub fn person(first: &str, last: &str, member_type: &str) -> MemberData {
    let email = format!("{}@example.org", first.to_lowercase());
    MemberData {
        member_type: Some(member_type.into()),
        ..named(first, last, &email)
    }
}

/// A person with this name and e-mail, and nothing else.
pub fn named(first: &str, last: &str, email: &str) -> MemberData {
    MemberData {
        kind: Kind::Person,
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email: Some(email.into()),
        ..Default::default()
    }
}

/// A company named `name`.
pub fn company(name: &str) -> MemberData {
    MemberData {
        kind: Kind::Company,
        name: Some(name.into()),
        ..Default::default()
    }
}

/// The first administrator, `boss@example.org`, still on the one-time password printed at
/// first start (its login and that password).
pub async fn one_time_admin(store: &Store) -> guildgate::accounts::BootstrapAdmin {
    store
        .bootstrap_admin("boss@example.org")
        .await
        .expect("bootstrap")
        .expect("the first administrator")
}

/// Adds Bob (member `A1`, `bob@example.org`), an administrator signing in with `password`.
pub async fn add_admin_bob(store: &Store, password: &str) {
    let bob = person("Bob", "Admin", "Staff");
    add_account(store, "A1", bob, Role::Admin, Some(password)).await;
}

/// The password of [`add_admin_grace`].
pub const GRACE_PASSWORD: &str = "the administrator's passphrase";

/// Adds Grace Hopper (member `ADM`), an administrator signing in with [`GRACE_PASSWORD`];
/// her login.
pub async fn add_admin_grace(store: &Store) -> String {
    let grace = person("Grace", "Hopper", "Staff");
    let login = grace.email.clone().expect("an e-mail");
    add_account(store, "ADM", grace, Role::Admin, Some(GRACE_PASSWORD)).await;
    login
}

/// Adds `data` as member `key` with an account in `role` signing in with its e-mail, and with
/// `password` when one is given.
pub async fn add_account(
    store: &Store,
    key: &str,
    data: MemberData,
    role: Role,
    password: Option<&str>,
) {
    let login = data.email.clone().expect("an account needs an e-mail");
    store
        .add_member_with_account("test", key, data, Some((login.as_str(), role)))
        .await
        .expect("member with account");
    if let Some(password) = password {
        store
            .set_password("test", key, password)
            .await
            .expect("password");
    }
}
