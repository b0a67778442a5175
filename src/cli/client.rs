//! `guildgate client ...`: OpenID Connect clients.

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{print_json, print_list, time_text};
use crate::db::Store;
use crate::oidc::clients::{AuthMethod, Client, ClientType, NewClient};
use crate::oidc::keys::Alg;
use crate::secrets::Pepper;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum ClientCmd {
    /// Register a client; a confidential client's secret is printed once.
    Add {
        #[arg(long)]
        name: String,
        /// The client id (generated when absent).
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long = "type", value_enum, default_value = "confidential")]
        client_type: ClientType,
        /// A redirect URI, matched as an exact string (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A URI `/logout` may send the browser back to (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// An allowed scope (repeatable; default: openid profile email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A token endpoint authentication method (repeatable; default: both secret methods,
        /// or none for public clients).
        #[arg(long = "auth-method", value_enum)]
        auth_methods: Vec<AuthMethod>,
        /// Do not require PKCE (confidential clients only; Higher Logic sends none).
        #[arg(long)]
        no_pkce: bool,
        /// Algorithm of the client's ID tokens.
        #[arg(long, default_value = "RS256")]
        id_token_alg: Alg,
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace a confidential client's secret (the old one stops working at once).
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a client.
    Remove { client_id: String },
}

async fn pepper(settings: &Settings, store: &Store) -> anyhow::Result<Pepper> {
    Pepper::load_or_init(store, &settings.keys_dir)
        .await
        .context("client secrets need the pepper in the keys folder")
}

#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    client: &'a Client,
    /// Shown once.
    client_secret: Option<&'a str>,
}

fn print_client(c: &Client, secret: Option<&str>) {
    println!("client {} ({})", c.name, c.client_id);
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(" ")
        }
    };
    println!("  {:<28}{}", "type", c.client_type.as_str());
    println!("  {:<28}{}", "redirect URIs", list(&c.redirect_uris));
    println!(
        "  {:<28}{}",
        "post-logout redirect URIs",
        list(&c.post_logout_redirect_uris)
    );
    println!("  {:<28}{}", "allowed scopes", list(&c.allowed_scopes));
    println!(
        "  {:<28}{}",
        "token endpoint auth",
        c.token_endpoint_auth_methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  {:<28}{}",
        "PKCE (S256)",
        if c.require_pkce {
            "required"
        } else {
            "not required (confidential client registered without PKCE)"
        }
    );
    println!(
        "  {:<28}{}",
        "ID token algorithm", c.id_token_signed_response_alg
    );
    if let Some(at) = c.secret_set_at {
        println!("  {:<28}{}", "secret set", time_text(at));
    }
    if let Some(secret) = secret {
        println!();
        println!("  client secret: {secret}");
        println!("  Store it now: it is not kept and cannot be shown again.");
    }
}

pub async fn run(
    cmd: ClientCmd,
    settings: &Settings,
    store: &Store,
    actor: &str,
) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Add {
            name,
            client_id,
            client_type,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            auth_methods,
            no_pkce,
            id_token_alg,
            json,
        } => {
            let pepper = pepper(settings, store).await?;
            let new = NewClient {
                client_id,
                name,
                client_type,
                redirect_uris,
                post_logout_redirect_uris,
                allowed_scopes: scopes,
                token_endpoint_auth_methods: auth_methods,
                require_pkce: !no_pkce,
                id_token_signed_response_alg: id_token_alg,
            };
            let (client, secret) = store.add_client(actor, &pepper, new).await?;
            if json {
                return print_json(&WithSecret {
                    client: &client,
                    client_secret: secret.as_deref(),
                });
            }
            print_client(&client, secret.as_deref());
            Ok(())
        }
        ClientCmd::List { json } => print_list(
            &store.list_clients().await?,
            json,
            &[
                "client id",
                "name",
                "type",
                "redirect URIs",
                "scopes",
                "PKCE",
            ],
            |c| {
                vec![
                    c.client_id.clone(),
                    c.name.clone(),
                    c.client_type.as_str().into(),
                    c.redirect_uris.join("\n"),
                    c.allowed_scopes.join(" "),
                    if c.require_pkce { "required" } else { "off" }.into(),
                ]
            },
        ),
        ClientCmd::Show { client_id, json } => {
            let client = store.client(&client_id).await?;
            if json {
                return print_json(&client);
            }
            print_client(&client, None);
            Ok(())
        }
        ClientCmd::RotateSecret { client_id, json } => {
            let pepper = pepper(settings, store).await?;
            let secret = store
                .rotate_client_secret(actor, &pepper, &client_id)
                .await?;
            if json {
                return print_json(&serde_json::json!({
                    "client_id": client_id,
                    "client_secret": secret,
                }));
            }
            println!("client {client_id}: new secret: {secret}");
            println!("Store it now: it is not kept and cannot be shown again. The old secret no longer works.");
            Ok(())
        }
        ClientCmd::Remove { client_id } => {
            store.remove_client(actor, &client_id).await?;
            println!("client {client_id} removed");
            Ok(())
        }
    }
}
