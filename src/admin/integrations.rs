//! Integrations > Higher Logic: what the console and the admin API say about the connection.
//! "Test connection" sends Higher Logic an empty batch (no records, so nothing changes there):
//! the answer tells whether the address, tenant code and API key work, and is put in words.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Store, StoreResult};
use crate::higher_logic::client::{PushClient, PushOutcome, PushV1};

/// What a connection test found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    /// In words, for the administrator.
    pub message: String,
}

/// Tests the saved settings; needs only the store, so the CLI can run it too.
pub async fn test_connection(store: &Store) -> StoreResult<ConnectionTest> {
    let settings = store.hl_settings().await?;
    if !settings.is_configured() {
        return Ok(ConnectionTest {
            ok: false,
            message: "Enter the tenant code and the API key first.".into(),
        });
    }
    let client = match PushV1::new(Duration::from_secs(15)) {
        Ok(c) => c,
        Err(e) => {
            return Ok(ConnectionTest {
                ok: false,
                message: format!("Could not prepare the connection: {e}."),
            })
        }
    };
    let (ok, message) = match client.push(&settings, &[]).await {
        // An empty batch: any count covers it.
        PushOutcome::Accepted | PushOutcome::ShortCount(_) => (
            true,
            format!(
                "Higher Logic accepted the tenant code {} and the API key at {}.",
                settings.tenant_code, settings.base_url
            ),
        ),
        PushOutcome::Unauthorized(detail) => (
            false,
            format!("Higher Logic refused the API key or the tenant code ({detail}). Check both with Higher Logic."),
        ),
        PushOutcome::Rejected(detail) | PushOutcome::TooLarge(detail) => (
            false,
            format!("Higher Logic answered but refused the request: {detail}."),
        ),
        PushOutcome::RateLimited(wait) => (
            false,
            format!(
                "Higher Logic is limiting requests right now; try again in {} seconds.",
                wait.as_secs().max(1)
            ),
        ),
        PushOutcome::Unavailable(detail) => (
            false,
            format!("Could not reach Higher Logic at {}: {detail}.", settings.base_url),
        ),
    };
    Ok(ConnectionTest { ok, message })
}
