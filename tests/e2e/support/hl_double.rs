//! A test double of Higher Logic's Push API V1, speaking the contract described in
//! `src/higher_logic/records.rs` and `client.rs`: `POST /push/v1/members` with `x-api-key`,
//! body `{"TenantCode", "Items"}`, answer `{"success", "count", "errorMessage"}`.
//!
//! It keeps an in-memory model of contacts, groups and memberships with full-record semantics
//! (each item replaces the contact and its group list), honours the tenant switches for bio,
//! profile image and social media (off: those fields are ignored, not refused), refuses to
//! attach a pushed group key to a group that exists in Higher Logic from elsewhere, and can be
//! told to fail: a share of 500s, 429 with `Retry-After`, slow answers, dropped connections
//! (before or after applying the push), rejected records, and the answers of a Higher Logic
//! misbehaving: every batch refused with one batch-level message (`success: false`), 413 above
//! a number of items, a short `count` (a record left out once), a 200 that is not JSON, and a
//! hang after the batch was applied.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::Rng;
use serde_json::{json, Map, Value};

pub const PUSH_PATH: &str = "/push/v1/members";
const DROP_PANIC: &str = "hl_double: dropping the connection";

/// Failure injection; shares are probabilities per request.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub error_500: f64,
    pub rate_429: f64,
    pub retry_after_secs: u64,
    pub slow: f64,
    pub slow_ms: u64,
    /// Connections dropped without an answer (half of them after applying the push).
    pub drop: f64,
    /// Contacts (by LegacyContactKey) whose records are refused with 400.
    pub reject_keys: HashSet<String>,
    /// Every request answered 200 `success: false` with this message (nothing applied), as a
    /// Higher Logic broken on its side or mid-migration does.
    pub refuse_all: Option<String>,
    /// Requests with more items than this are answered 413.
    pub max_items: Option<usize>,
    /// Contacts left out of the next batch holding them, answered `success: true` with a
    /// `count` one short per contact left out (each only once).
    pub skip_once: HashSet<String>,
    /// The next this many requests are answered 200 with an HTML page (nothing applied).
    pub non_json_200: u32,
    /// The next this many requests are applied, then answered only after `slow_ms` (beyond the
    /// client's timeout: the push went through but the client cannot know).
    pub hang_after_apply: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlGroup {
    pub name: String,
    /// `community` or `security`.
    pub kind: String,
    /// Made inside Higher Logic (or by another system), not by this integration's pushes.
    pub native: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Contact {
    /// MemberDetails as stored (ignored fields left out).
    pub details: Map<String, Value>,
    pub demographics: Vec<Value>,
    pub pushes: u64,
    pub last_push: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct DoubleState {
    pub tenant_code: String,
    pub api_key: String,
    pub integrate_bio: bool,
    pub integrate_profile_image: bool,
    pub integrate_social: bool,
    pub contacts: BTreeMap<String, Contact>,
    pub groups: BTreeMap<String, HlGroup>,
    /// (group key, contact key)
    pub memberships: BTreeSet<(String, String)>,
    /// contact key -> its group keys: the same memberships, indexed for a push's replacement
    /// (so that a first sync of 100,000 contacts does not scan every membership per contact).
    groups_by_contact: BTreeMap<String, BTreeSet<String>>,
    pub faults: Faults,
    pub requests: u64,
    pub accepted_requests: u64,
    pub items_applied: u64,
    /// How many times a group came into being (a duplicate would show as more than one per key).
    pub group_creations: BTreeMap<String, u64>,
    pub largest_batch: usize,
    /// Requests answered 413.
    pub too_large: u64,
    /// Requests refused whole by `refuse_all`.
    pub refused_all: u64,
}

impl DoubleState {
    pub fn members_of(&self, group_key: &str) -> BTreeSet<String> {
        self.memberships
            .iter()
            .filter(|(g, _)| g == group_key)
            .map(|(_, c)| c.clone())
            .collect()
    }

    pub fn groups_of(&self, contact_key: &str) -> BTreeSet<String> {
        self.memberships
            .iter()
            .filter(|(_, c)| c == contact_key)
            .map(|(g, _)| g.clone())
            .collect()
    }

    pub fn detail(&self, contact_key: &str, field: &str) -> Option<String> {
        self.contacts
            .get(contact_key)?
            .details
            .get(field)?
            .as_str()
            .map(str::to_string)
    }
}

#[derive(Clone)]
pub struct HlDouble {
    pub base_url: String,
    pub state: Arc<Mutex<DoubleState>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for HlDouble {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

fn quiet_drop_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .unwrap_or_default();
            if msg != DROP_PANIC {
                previous(info);
            }
        }));
    });
}

impl HlDouble {
    pub async fn start(tenant_code: &str, api_key: &str) -> HlDouble {
        quiet_drop_panics();
        let state = Arc::new(Mutex::new(DoubleState {
            tenant_code: tenant_code.into(),
            api_key: api_key.into(),
            ..Default::default()
        }));
        let app = Router::new()
            .route(PUSH_PATH, post(push))
            .layer(DefaultBodyLimit::max(20 * 1024 * 1024))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind double");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HlDouble {
            base_url: format!("http://{addr}{PUSH_PATH}"),
            state,
            task: Arc::new(task),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut DoubleState) -> R) -> R {
        f(&mut self.state.lock().expect("double state"))
    }

    pub fn set_faults(&self, faults: Faults) {
        self.with(|s| s.faults = faults);
    }

    /// A group that exists in Higher Logic already (made there, not by this integration).
    pub fn add_native_group(&self, key: &str, name: &str, kind: &str) {
        self.with(|s| {
            s.groups.insert(
                key.into(),
                HlGroup {
                    name: name.into(),
                    kind: kind.into(),
                    native: true,
                },
            )
        });
    }
}

fn answer(status: StatusCode, success: bool, count: usize, error: &str) -> Response {
    (
        status,
        Json(json!({ "success": success, "count": count, "errorMessage": error })),
    )
        .into_response()
}

const BOOL_FIELDS: &[&str] = &["IsActive", "IsMember", "IsOrganization"];
const SOCIAL_FIELDS: &[&str] = &["LinkedInURL", "TwitterURL", "FacebookURL"];

/// Checks one item against the contract; the error names the record.
fn check_item(state: &DoubleState, index: usize, item: &Value) -> Result<(), String> {
    let details = item
        .get("MemberDetails")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("item {index}: MemberDetails is required"))?;
    let key = details
        .get("LegacyContactKey")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("item {index}: LegacyContactKey is required"))?;
    for f in BOOL_FIELDS {
        match details.get(*f) {
            None => {}
            Some(Value::String(s)) if s == "True" || s == "False" => {}
            Some(other) => {
                return Err(format!(
                    "contact {key}: {f} must be \"True\" or \"False\", not {other}"
                ))
            }
        }
    }
    if state.faults.reject_keys.contains(key) {
        return Err(format!("contact {key}: record failed validation"));
    }
    for (list, kind) in [
        ("CommunityGroups", "community"),
        ("SecurityGroups", "security"),
    ] {
        let groups = match item.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(format!("contact {key}: {list} must be an array")),
        };
        for g in groups {
            let gkey = g
                .get("GroupKey")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| format!("contact {key}: a group in {list} has no GroupKey"))?;
            if g.get("GroupName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                return Err(format!("contact {key}: group {gkey} has no GroupName"));
            }
            if let Some(existing) = state.groups.get(gkey) {
                if existing.native {
                    return Err(format!(
                        "contact {key}: GroupKey {gkey} belongs to an existing Higher Logic group \
                         that this integration did not create; it cannot be attached"
                    ));
                }
                if existing.kind != kind {
                    return Err(format!(
                        "contact {key}: group {gkey} is a {} group, not {kind}",
                        existing.kind
                    ));
                }
            }
        }
    }
    Ok(())
}

fn apply_item(state: &mut DoubleState, item: &Value) {
    let Some(details) = item.get("MemberDetails").and_then(Value::as_object) else {
        return;
    };
    let key = details
        .get("LegacyContactKey")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut stored = details.clone();
    // Properties the tenant has not activated are ignored, not refused.
    if !state.integrate_bio {
        stored.remove("Bio");
    }
    if !state.integrate_profile_image {
        stored.remove("ProfileImageURL");
    }
    if !state.integrate_social {
        for f in SOCIAL_FIELDS {
            stored.remove(*f);
        }
    }
    let contact = state.contacts.entry(key.clone()).or_default();
    contact.details = stored;
    contact.demographics = item
        .get("Demographics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    contact.pushes += 1;
    contact.last_push = Some(Instant::now());
    // Full record: the group lists replace the contact's memberships.
    for g in state.groups_by_contact.remove(&key).unwrap_or_default() {
        state.memberships.remove(&(g, key.clone()));
    }
    for (list, kind) in [
        ("CommunityGroups", "community"),
        ("SecurityGroups", "security"),
    ] {
        for g in item
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let gkey = g["GroupKey"].as_str().unwrap_or_default().to_string();
            let name = g["GroupName"].as_str().unwrap_or_default().to_string();
            match state.groups.get_mut(&gkey) {
                Some(existing) => existing.name = name,
                None => {
                    state.groups.insert(
                        gkey.clone(),
                        HlGroup {
                            name,
                            kind: kind.into(),
                            native: false,
                        },
                    );
                    *state.group_creations.entry(gkey.clone()).or_default() += 1;
                }
            }
            state
                .groups_by_contact
                .entry(key.clone())
                .or_default()
                .insert(gkey.clone());
            state.memberships.insert((gkey, key.clone()));
        }
    }
    state.items_applied += 1;
}

enum Fault {
    None,
    Error500,
    RateLimited(u64),
    DropBefore,
    DropAfter,
    Slow(u64),
}

async fn push(
    State(state): State<Arc<Mutex<DoubleState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let fault = {
        let mut s = state.lock().expect("double state");
        s.requests += 1;
        let f = &s.faults;
        let mut rng = rand::thread_rng();
        let r: f64 = rng.gen();
        let mut edge = f.drop;
        if r < edge {
            if rng.gen_bool(0.5) {
                Fault::DropBefore
            } else {
                Fault::DropAfter
            }
        } else if r < {
            edge += f.error_500;
            edge
        } {
            Fault::Error500
        } else if r < {
            edge += f.rate_429;
            edge
        } {
            Fault::RateLimited(f.retry_after_secs)
        } else if r < {
            edge += f.slow;
            edge
        } {
            Fault::Slow(f.slow_ms)
        } else {
            Fault::None
        }
    };
    match fault {
        Fault::DropBefore => std::panic::panic_any(DROP_PANIC),
        Fault::Error500 => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                0,
                "internal error",
            )
        }
        Fault::RateLimited(secs) => {
            let mut r = answer(StatusCode::TOO_MANY_REQUESTS, false, 0, "too many requests");
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return r;
        }
        Fault::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Fault::None | Fault::DropAfter => {}
    }
    let mut hang = None;
    let result = {
        let mut s = state.lock().expect("double state");
        if s.faults.non_json_200 > 0 {
            s.faults.non_json_200 -= 1;
            return (
                StatusCode::OK,
                "<html><body>Service is starting</body></html>",
            )
                .into_response();
        }
        let key_ok = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|k| k == s.api_key);
        if !key_ok {
            return answer(StatusCode::UNAUTHORIZED, false, 0, "invalid API key");
        }
        let body: Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(e) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    false,
                    0,
                    &format!("invalid JSON: {e}"),
                )
            }
        };
        if body.get("TenantCode").and_then(Value::as_str) != Some(s.tenant_code.as_str()) {
            return answer(
                StatusCode::FORBIDDEN,
                false,
                0,
                "unknown TenantCode for this key",
            );
        }
        let Some(items) = body.get("Items").and_then(Value::as_array) else {
            return answer(StatusCode::BAD_REQUEST, false, 0, "Items is required");
        };
        if let Some(max) = s.faults.max_items.filter(|m| items.len() > *m) {
            s.too_large += 1;
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                false,
                0,
                &format!("Request Entity Too Large: at most {max} items"),
            );
        }
        if let Some(message) = s.faults.refuse_all.clone() {
            s.refused_all += 1;
            return answer(StatusCode::OK, false, 0, &message);
        }
        // All or nothing: one bad record refuses the batch.
        let problems: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| check_item(&s, i, item).err())
            .collect();
        if !problems.is_empty() {
            Err(problems.join("; "))
        } else {
            s.largest_batch = s.largest_batch.max(items.len());
            let mut applied = 0;
            for item in items {
                let key = item["MemberDetails"]["LegacyContactKey"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if s.faults.skip_once.remove(&key) {
                    continue;
                }
                apply_item(&mut s, item);
                applied += 1;
            }
            s.accepted_requests += 1;
            if s.faults.hang_after_apply > 0 {
                s.faults.hang_after_apply -= 1;
                hang = Some(s.faults.slow_ms);
            }
            Ok(applied)
        }
    };
    if let Some(ms) = hang {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if matches!(fault, Fault::DropAfter) {
        std::panic::panic_any(DROP_PANIC);
    }
    match result {
        Ok(n) => answer(StatusCode::OK, true, n, ""),
        Err(e) => answer(StatusCode::BAD_REQUEST, false, 0, &e),
    }
}
