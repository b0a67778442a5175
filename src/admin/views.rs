//! The read models the console and the admin API both show: a member with their account,
//! groups and Higher Logic eligibility; a group with its resolved members; a group's sync.
//! Built from the store alone, so either surface (and the CLI) can show the same thing.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::Account;
use crate::db::{Store, StoreError, StoreResult};
use crate::groups::{Group, GroupMembers};
use crate::higher_logic::status::GroupStatus;
use crate::higher_logic::GroupType;
use crate::members::Member;

/// A member as the console shows them: data, account, groups and Higher Logic eligibility.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub member: Member,
    /// Guildgate's operator account (the first-start administrator): not a member of the
    /// association, never sent to Higher Logic, and not edited as a member.
    pub operator: bool,
    /// The member's custom-field values, by field key.
    pub fields: BTreeMap<String, String>,
    pub account: Option<Account>,
    pub groups: Vec<GroupRef>,
    pub higher_logic: SyncEligibility,
}

#[derive(Serialize, ToSchema)]
pub struct GroupRef {
    pub group_key: String,
    pub name: String,
    pub synced_to_higher_logic: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SyncEligibility {
    /// Whether Higher Logic receives this member's record.
    pub synced: bool,
    /// Why not, in words, when `synced` is false.
    pub reason: Option<String>,
    /// What else an administrator should know (a deactivated account is still synced).
    pub note: Option<String>,
}

fn eligibility(operator: bool, account: Option<&Account>, groups: &[GroupRef]) -> SyncEligibility {
    let reason = match account {
        _ if operator => {
            Some("Guildgate's operator account, not a member: never sent to Higher Logic")
        }
        None => Some("no user account: members without one are never sent to Higher Logic"),
        Some(_) if !groups.iter().any(|g| g.synced_to_higher_logic) => {
            Some("in no group that syncs to Higher Logic")
        }
        Some(_) => None,
    };
    // Deactivation never deletes the contact in Higher Logic: its record and groups are still
    // kept current there; it is the sign-in that is refused.
    let note = account.filter(|a| !a.is_active()).map(|_| {
        "account deactivated: sign-in is refused; Higher Logic keeps the contact and still \
         receives its changes"
            .to_string()
    });
    SyncEligibility {
        synced: reason.is_none(),
        reason: reason.map(str::to_string),
        note,
    }
}

pub async fn member_view(store: &Store, key: &str) -> StoreResult<MemberView> {
    let member = store.member(key).await?;
    let account = match store.account_for_member(key).await {
        Ok(a) => Some(a),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let groups: Vec<GroupRef> = store
        .groups_of_member(key)
        .await?
        .into_iter()
        .map(|g| GroupRef {
            group_key: g.group_key,
            name: g.name,
            synced_to_higher_logic: g.hl_sync_enabled,
        })
        .collect();
    let operator = member.operator;
    let higher_logic = eligibility(operator, account.as_ref(), &groups);
    let fields = store.field_values(&member.id).await?.into_iter().collect();
    Ok(MemberView {
        member,
        operator,
        fields,
        account,
        groups,
        higher_logic,
    })
}

/// A group with its resolved members, split as the sync sees them.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub group: Group,
    pub conditions: Vec<String>,
    pub members: MemberCounts,
}

#[derive(Serialize, ToSchema)]
pub struct MemberCounts {
    pub total: usize,
    /// Members with an active user account: the ones Higher Logic receives.
    pub with_account: usize,
    pub deactivated: usize,
    /// Members without a user account: never sent to Higher Logic.
    pub without_account: usize,
    /// Up to 50 of the members, by key.
    pub sample: Vec<MemberRef>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberRef {
    pub member_key: String,
    pub name: String,
    pub account_state: Option<String>,
}

pub fn counts(members: GroupMembers) -> MemberCounts {
    let total = members.total();
    let (with_account, deactivated, without_account) = (
        members.with_account.len(),
        members.deactivated.len(),
        members.without_account.len(),
    );
    let mut all: Vec<Member> = members
        .with_account
        .into_iter()
        .chain(members.deactivated)
        .chain(members.without_account)
        .collect();
    all.sort_by(|a, b| a.member_key.cmp(&b.member_key));
    MemberCounts {
        total,
        with_account,
        deactivated,
        without_account,
        sample: all
            .into_iter()
            .take(50)
            .map(|m| MemberRef {
                name: m.display_name(),
                member_key: m.member_key,
                account_state: m.account_state,
            })
            .collect(),
    }
}

pub async fn group_view(store: &Store, key: &str) -> StoreResult<GroupView> {
    let group = store.group(key).await?;
    let members = store.group_members(key).await?;
    Ok(GroupView {
        conditions: group
            .condition_list()
            .iter()
            .map(ToString::to_string)
            .collect(),
        group,
        members: counts(members),
    })
}

/// A group's Higher Logic sync: on or off, the type, and where it stands.
#[derive(Serialize, ToSchema)]
pub struct GroupSync {
    pub group_key: String,
    pub sync_enabled: bool,
    /// The Higher Logic group type; null until sync is first saved on.
    pub group_type: Option<GroupType>,
    /// The type can no longer change: sync was saved on, and Higher Logic cannot turn a
    /// community into a security group or back.
    pub type_locked: bool,
    /// The status in words, as the console's group page shows it.
    pub message: String,
    pub status: GroupStatus,
}

pub async fn group_sync_view(store: &Store, key: &str) -> StoreResult<GroupSync> {
    let group = store.group(key).await?;
    let status = store.hl_group_status_of(&group).await?;
    Ok(GroupSync {
        message: status.message(),
        group_type: group.hl_group_type.as_deref().map(GroupType::from_stored),
        group_key: group.group_key,
        sync_enabled: group.hl_sync_enabled,
        type_locked: group.hl_type_locked,
        status,
    })
}
