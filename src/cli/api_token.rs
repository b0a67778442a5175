//! `guildgate api-token`: admin API tokens from the command line.

use clap::Subcommand;

use super::{print_json, print_list};
use crate::admin::api_tokens::{Scope, TokenGrant, DEFAULT_LIFETIME_DAYS};
use crate::db::{format_ms, now_ms, Store};

#[derive(Subcommand)]
pub enum ApiTokenCmd {
    /// Create a token; its value is printed once and cannot be shown again.
    Create {
        /// What the token is for (shown in lists and in the audit log).
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "read")]
        scope: Scope,
        /// How many days it works (at most 365).
        #[arg(long, default_value_t = DEFAULT_LIFETIME_DAYS)]
        expires_in_days: u32,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their values).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once.
    Revoke {
        /// The token's id, from `api-token list`.
        id: String,
    },
}

pub async fn run(cmd: ApiTokenCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        ApiTokenCmd::Create {
            name,
            scope,
            expires_in_days,
            json,
        } => {
            // The server's operator, not an administrator account: see `api_tokens`.
            let grant = TokenGrant {
                owner: None,
                name: &name,
                scope,
                lifetime_days: expires_in_days,
            };
            let new = store.create_api_token(actor, grant).await?;
            if json {
                return print_json(&serde_json::json!({
                    "id": new.token.id,
                    "name": new.token.name,
                    "scope": new.token.scope,
                    "token": new.secret,
                }));
            }
            println!(
                "Created API token {} ({}, {}).",
                new.token.id,
                name,
                scope.as_str()
            );
            println!("  token: {}", new.secret);
            println!("Keep it now: it is stored hashed and will not be shown again.");
            Ok(())
        }
        ApiTokenCmd::List { json } => print_list(
            &store.list_api_tokens().await?,
            json,
            &[
                "id",
                "name",
                "starts with",
                "scope",
                "owner",
                "expires",
                "last used",
                "state",
            ],
            |t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    format!("{}…", t.token_prefix),
                    t.scope.clone(),
                    t.owner.clone().unwrap_or_else(|| "(operator)".into()),
                    t.expires_at.map(format_ms).unwrap_or_default(),
                    t.last_used_at.map(format_ms).unwrap_or_default(),
                    t.state(now_ms()).into(),
                ]
            },
        ),
        ApiTokenCmd::Revoke { id } => {
            let t = store.revoke_api_token(actor, &id).await?;
            println!("API token {} ({}) is revoked.", t.id, t.name);
            Ok(())
        }
    }
}
