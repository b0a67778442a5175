//! User accounts: a member's login. A member without one exists but can neither sign in nor
//! be synced to Higher Logic.

use serde::Serialize;
use serde_json::json;

use crate::change_log::{Change, ChangeBatch, Event};
use crate::db::{
    conflict_on_unique, new_id, now_ms, rows_per_statement, value_rows, Store, StoreError,
    StoreResult, Transaction,
};
use crate::members::{check_email, Kind, MemberData};
use crate::passwords;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub member_id: String,
    pub member_key: String,
    pub login_email: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[sqlx(try_from = "crate::db::IntFlag")]
    pub must_change_password: bool,
    pub state: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deactivated_at: Option<i64>,
}

impl Account {
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }

    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

const ACCOUNT_SELECT: &str = "SELECT a.id, a.member_id, m.member_key, a.login_email, \
    a.password_hash, a.must_change_password, a.state, a.role, a.created_at, a.updated_at, \
    a.deactivated_at FROM accounts a JOIN members m ON m.id = a.member_id";

/// The administrator created on first start; its password is shown once.
pub struct BootstrapAdmin {
    pub login_email: String,
    pub one_time_password: String,
}

impl Store {
    /// Gives the member with `member_key` a user account (without a password until one is set).
    pub async fn create_account(
        &self,
        actor: &str,
        member_key: &str,
        login_email: &str,
        role: Role,
    ) -> StoreResult<Account> {
        let member = self.member(member_key).await?;
        let mut tx = self.begin().await?;
        create_account(&mut tx, actor, &member.id, login_email, role, None).await?;
        tx.commit().await?;
        self.account_for_member(member_key).await
    }

    pub async fn account_for_member(&self, member_key: &str) -> StoreResult<Account> {
        let sql = format!("{ACCOUNT_SELECT} WHERE m.member_key = $1");
        self.fetch_by_key(&sql, member_key, "user account of member")
            .await
    }

    pub async fn account_by_login(&self, login_email: &str) -> StoreResult<Option<Account>> {
        // No login holds a NUL (logins are checked when set), and PostgreSQL refuses one in a
        // bound text: a sign-in typing one is a wrong login on both engines, not an error.
        if login_email.contains('\0') {
            return Ok(None);
        }
        Ok(
            sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE a.login_email = $1"))
                .bind(login_email.trim().to_lowercase())
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn account_by_id(&self, id: &str) -> StoreResult<Option<Account>> {
        Ok(sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Sets a member's password (after checking the policy).
    pub async fn set_password(
        &self,
        actor: &str,
        member_key: &str,
        password: &str,
    ) -> StoreResult<()> {
        passwords::check_policy(password).map_err(StoreError::Invalid)?;
        let account = self.account_for_member(member_key).await?;
        let hash = self.hash_password(password.to_string()).await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = 0, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(hash)
        .bind(now_ms())
        .bind(&account.id)
        .execute(&mut *tx)
        .await?;
        Change::new(actor, Event::AccountPasswordSet, &account.id)
            .detail(json!({ "member_key": member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of the account and revokes every token it holds (the provider's
    /// listener on the change, in its transaction): the account page's "Sign out everywhere".
    pub async fn sign_out_everywhere(&self, actor: &str, account: &Account) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        Change::new(actor, Event::AccountSignedOutEverywhere, &account.id)
            .detail(json!({ "member_key": account.member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The language the member last used on the member-facing pages (a tag such as `fr`),
    /// if they ever used one.
    pub async fn account_language(&self, account_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT language FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(language,)| language))
    }

    /// Remembers `tag` as the language of the account (written only when it changed), so that
    /// the mails an administrator starts speak it.
    pub async fn remember_language(&self, account_id: &str, tag: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE accounts SET language = $1 WHERE id = $2 \
             AND (language IS NULL OR language <> $1)",
        )
        .bind(tag)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deactivates the account: the member can no longer sign in. Their Higher Logic contact
    /// is kept.
    pub async fn deactivate_account(&self, actor: &str, member_key: &str) -> StoreResult<Account> {
        self.set_account_state(actor, member_key, "deactivated")
            .await
    }

    pub async fn reactivate_account(&self, actor: &str, member_key: &str) -> StoreResult<Account> {
        self.set_account_state(actor, member_key, "active").await
    }

    async fn set_account_state(
        &self,
        actor: &str,
        member_key: &str,
        state: &'static str,
    ) -> StoreResult<Account> {
        let account = self.account_for_member(member_key).await?;
        if account.state == state {
            return Ok(account);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        self.lock_active_admins(&mut tx).await?;
        sqlx::query(
            "UPDATE accounts SET state = $1, updated_at = $2, \
             deactivated_at = CASE WHEN $1 = 'deactivated' THEN $2 ELSE NULL END WHERE id = $3",
        )
        .bind(state)
        .bind(now)
        .bind(&account.id)
        .execute(&mut *tx)
        .await?;
        if state == "deactivated" && account.is_admin() {
            an_admin_remains(&mut tx, member_key, "deactivated").await?;
        }
        // On deactivation the provider's listener signs the account out everywhere and revokes
        // its tokens and links, in this transaction (see `Event::AccountDeactivated`).
        let event = if state == "active" {
            Event::AccountReactivated
        } else {
            Event::AccountDeactivated
        };
        Change::new(actor, event, &account.id)
            .member(&account.member_id)
            .detail(json!({ "member_key": member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.account_for_member(member_key).await
    }

    /// Grants (`Role::Admin`) or removes (`Role::Member`) a member's administrator rights.
    /// The last active administrator keeps them: the change is refused, in the transaction
    /// that would have made it, so that the console, the admin API and the command line all
    /// obey the rule. Removing the rights revokes the API tokens the account made (the
    /// tokens' listener on [`Event::AccountAdminRevoked`]).
    pub async fn set_account_role(
        &self,
        actor: &str,
        member_key: &str,
        role: Role,
    ) -> StoreResult<Account> {
        let account = self.account_for_member(member_key).await?;
        if account.role == role.as_str() {
            return Ok(account);
        }
        let mut tx = self.begin().await?;
        self.lock_active_admins(&mut tx).await?;
        sqlx::query("UPDATE accounts SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(now_ms())
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        let event = match role {
            Role::Admin => Event::AccountAdminGranted,
            Role::Member => {
                an_admin_remains(&mut tx, member_key, "demoted").await?;
                Event::AccountAdminRevoked
            }
        };
        // Not a change Higher Logic hears of (no `member`): the role is Guildgate's own.
        Change::new(actor, event, &account.id)
            .detail(json!({ "member_key": member_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.account_for_member(member_key).await
    }

    /// On PostgreSQL, locks the active administrators' rows for the transaction: two
    /// administrators demoted or deactivated at the same moment cannot each see the other as
    /// the one who remains (the second waits, then counts again). SQLite has one writer.
    async fn lock_active_admins(&self, tx: &mut Transaction) -> StoreResult<()> {
        if self.engine() == crate::db::Engine::Postgres {
            sqlx::query(
                "SELECT id FROM accounts WHERE role = 'admin' AND state = 'active' FOR UPDATE",
            )
            .fetch_all(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Whether an administrator can sign in: an active account with the admin role.
    async fn has_active_admin(&self) -> StoreResult<bool> {
        let (admins,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND state = 'active'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(admins > 0)
    }

    /// When no active administrator exists (a first start, even on imported members), creates
    /// one with a one-time password: an operator, never sent to Higher Logic. Returns `None`
    /// when an active administrator exists.
    pub async fn bootstrap_admin(&self, login_email: &str) -> StoreResult<Option<BootstrapAdmin>> {
        if self.has_active_admin().await? {
            return Ok(None);
        }
        let password = passwords::generate(24);
        let hash = self.hash_password(password.clone()).await?;
        let data = MemberData {
            kind: Kind::Person,
            first_name: Some("Guildgate".into()),
            last_name: Some("Administrator".into()),
            member_type: Some("staff".into()),
            ..Default::default()
        };
        let mut tx = self.begin().await?;
        let member_id =
            match crate::members::insert_member(&mut tx, "system", "admin", &data, None).await {
                Ok(id) => id,
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    // Another instance starting at the same moment may have created it.
                    if self.has_active_admin().await? {
                        return Ok(None);
                    }
                    return Err(StoreError::Conflict(
                        "no active administrator exists, but the member key \"admin\" is \
                         taken; reactivate an administrator, or create one with \
                         `guildgate member add --account --admin`"
                            .into(),
                    ));
                }
                Err(e) => return Err(e),
            };
        sqlx::query("UPDATE members SET operator = 1 WHERE id = $1")
            .bind(&member_id)
            .execute(&mut *tx)
            .await?;
        create_account(
            &mut tx,
            "system",
            &member_id,
            login_email,
            Role::Admin,
            Some(&hash),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(BootstrapAdmin {
            login_email: login_email.to_lowercase(),
            one_time_password: password,
        }))
    }
}

/// Refuses the change under way in `tx` when it leaves no active administrator: nobody could
/// sign in to the console any more.
async fn an_admin_remains(tx: &mut Transaction, member_key: &str, done: &str) -> StoreResult<()> {
    let (admins,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND state = 'active'")
            .fetch_one(&mut **tx)
            .await?;
    if admins == 0 {
        return Err(StoreError::Conflict(format!(
            "{member_key} is the last active administrator and cannot be {done}; make another \
             member an administrator first"
        )));
    }
    Ok(())
}

/// Inserts an account for `member_id` and logs it.
pub(crate) async fn create_account(
    tx: &mut Transaction,
    actor: &str,
    member_id: &str,
    login_email: &str,
    role: Role,
    one_time_password_hash: Option<&str>,
) -> StoreResult<String> {
    let login = login_email.trim().to_lowercase();
    check_email(&login).map_err(StoreError::Invalid)?;
    let id = new_id();
    let account = NewAccount {
        id: &id,
        member_id,
        login: &login,
        role,
        one_time_password_hash,
    };
    let mut changes = ChangeBatch::new();
    insert_accounts(tx, actor, &[account], &mut changes).await?;
    changes.record(tx).await?;
    Ok(id)
}

/// An account to create: its id (new, from [`new_id`]), member, checked lower-case login,
/// role and, for the first administrator, the hash of a one-time password (to be changed at
/// the first sign-in).
pub(crate) struct NewAccount<'a> {
    pub id: &'a str,
    pub member_id: &'a str,
    pub login: &'a str,
    pub role: Role,
    pub one_time_password_hash: Option<&'a str>,
}

/// Values bound per account by [`insert_accounts`] (besides the shared time).
const ACCOUNT_BINDS: usize = 6;

/// Accounts per `INSERT` at most ([`rows_per_statement`]).
const ACCOUNTS_PER_INSERT: usize = 1000;

/// Inserts the accounts, several a statement, adding each one's change to `changes`.
pub(crate) async fn insert_accounts(
    tx: &mut Transaction,
    actor: &str,
    accounts: &[NewAccount<'_>],
    changes: &mut ChangeBatch,
) -> StoreResult<()> {
    let now = now_ms();
    for chunk in accounts.chunks(rows_per_statement(tx, ACCOUNT_BINDS, ACCOUNTS_PER_INSERT)) {
        let sql = format!(
            "INSERT INTO accounts (id, member_id, login_email, password_hash, \
             must_change_password, role, state, created_at, updated_at) VALUES {}",
            value_rows(2, chunk.len(), ACCOUNT_BINDS, ", 'active', $1, $1")
        );
        let mut q = sqlx::query(&sql).bind(now);
        for a in chunk {
            q = q
                .bind(a.id)
                .bind(a.member_id)
                .bind(a.login)
                .bind(a.one_time_password_hash)
                .bind(i64::from(a.one_time_password_hash.is_some()))
                .bind(a.role.as_str());
        }
        q.execute(&mut **tx)
            .await
            .map_err(conflict_on_unique(|| match chunk {
                [one] => format!(
                    "this member already has a user account, or {} is another account's login",
                    one.login
                ),
                _ => "an account_email of these members became another member's login meanwhile"
                    .to_string(),
            }))?;
    }
    for a in accounts {
        changes.push(
            Change::new(actor, Event::AccountCreated, a.id)
                .member(a.member_id)
                .detail(json!({ "role": a.role.as_str() })),
        );
    }
    Ok(())
}
