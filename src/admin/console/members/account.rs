//! A member's user account, from the member page: create it or change its login (through the
//! import's checks and writes, as a CSV row's `account_email`), send the invitation,
//! deactivate or reactivate it, grant or remove administrator rights.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{member_page, member_url};
use crate::accounts::Role;
use crate::admin::console::{Admin, ConsoleResult, Shown};
use crate::db::StoreError;
use crate::import::{row_from_form, Expect, ImportError, ACCOUNT_COLUMN};
use crate::oidc::invitations::{self, InvitationError, Purpose};
use crate::server::AppState;
use crate::web::csrf::CsrfForm;

/// The member page again, with why the change was refused: 409 when it conflicts with what
/// exists (the API's status), 400 when what was typed is wrong. Other errors pass on.
pub(super) fn refused(e: StoreError) -> ConsoleResult<Shown> {
    match e {
        StoreError::Conflict(msg) => Ok(Shown::failed(StatusCode::CONFLICT, msg)),
        StoreError::Invalid(msg) => Ok(Shown::failed(StatusCode::BAD_REQUEST, msg)),
        e => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(in crate::admin::console) struct LoginForm {
    #[serde(default)]
    account_email: String,
}

/// Creates the member's user account with this login, or changes its login.
pub(in crate::admin::console) async fn set_login(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> ConsoleResult<Response> {
    let typed = form.account_email.trim().to_string();
    if typed.is_empty() {
        let shown = Shown::failed(StatusCode::BAD_REQUEST, "Enter the login e-mail.");
        return member_page(admin, &key, shown, Some(typed)).await;
    }
    let had_account = admin.store().account_for_member(&key).await.is_ok();
    let batch = row_from_form(&key, &[(ACCOUNT_COLUMN.to_string(), typed.clone())]);
    let written = admin
        .store()
        .import_rows(&admin.actor(), batch, false, Expect::Existing)
        .await;
    match written {
        Ok(report) => {
            let login = typed.to_lowercase();
            let notice = match (had_account, report.unchanged) {
                (false, _) => format!("User account created with the login {login}."),
                (true, 0) => format!("Login changed to {login}."),
                (true, _) => format!("The login is {login} already: nothing changed."),
            };
            admin.done(notice, &member_url(&key)).await
        }
        Err(ImportError::Rejected(problems)) => {
            let text: Vec<String> = problems.into_iter().map(|p| p.message).collect();
            let shown = Shown::failed(StatusCode::BAD_REQUEST, text.join("; "));
            member_page(admin, &key, shown, Some(typed)).await
        }
        Err(ImportError::Store(e)) => {
            let shown = refused(e)?;
            member_page(admin, &key, shown, Some(typed)).await
        }
    }
}

/// Reactivates (`ACTIVE`) or deactivates a member's account, then shows the member with what
/// was done. The last active administrator cannot be deactivated (the store refuses).
pub(in crate::admin::console) async fn set_active<const ACTIVE: bool>(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let actor = admin.actor();
    let (done, notice) = if ACTIVE {
        let done = admin.store().reactivate_account(&actor, &key).await;
        (done, "Account reactivated.")
    } else {
        let done = admin.store().deactivate_account(&actor, &key).await;
        (
            done,
            "Account deactivated: its sessions and tokens have ended.",
        )
    };
    match done {
        Ok(_) => admin.done(notice, &member_url(&key)).await,
        Err(e) => member_page(admin, &key, refused(e)?, None).await,
    }
}

#[derive(Deserialize)]
pub(in crate::admin::console) struct RoleForm {
    /// `admin` grants administrator rights, `member` removes them.
    role: String,
}

/// Grants or removes administrator rights. Only an administrator gets here (the [`Admin`]
/// extractor); the last active administrator keeps them (the store refuses).
pub(in crate::admin::console) async fn set_role(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> ConsoleResult<Response> {
    let (role, notice) = match form.role.as_str() {
        "admin" => (Role::Admin, "Administrator rights granted."),
        "member" => (
            Role::Member,
            "Administrator rights removed: the API tokens this account made are revoked.",
        ),
        other => {
            let shown = Shown::failed(
                StatusCode::BAD_REQUEST,
                format!("{other:?} is not a role: admin or member"),
            );
            return member_page(admin, &key, shown, None).await;
        }
    };
    match admin
        .store()
        .set_account_role(&admin.actor(), &key, role)
        .await
    {
        Ok(_) => admin.done(notice, &member_url(&key)).await,
        Err(e) => member_page(admin, &key, refused(e)?, None).await,
    }
}

pub(in crate::admin::console) async fn invite(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let notice = match send_invitation(&admin.state, &admin.actor(), &key).await {
        Ok(to) => format!("Invitation sent to {to}."),
        Err(InvitationError::Store(e)) => return Err(e.into()),
        Err(e) => format!("No invitation sent: {e}."),
    };
    admin.done(notice, &member_url(&key)).await
}

async fn send_invitation(
    state: &AppState,
    actor: &str,
    key: &str,
) -> Result<String, InvitationError> {
    let sent = invitations::send_link(
        &state.store,
        &state.mailer,
        state.settings.issuer(),
        actor,
        key,
        Purpose::Invitation,
        None,
        None,
    )
    .await?;
    Ok(sent.to)
}
