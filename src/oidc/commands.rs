//! `guildgate keys ...` and `guildgate client ...`.

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use crate::cli::{print_json, print_table};
use crate::db::{now_ms, Store};
use crate::oidc::clients::{AuthMethod, Client, ClientType, NewClient};
use crate::oidc::keys::{self, Alg, KeyRing};
use crate::secrets::Pepper;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// List the signing keys and their state (pending, active, retiring, retired).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a new key: published now, signing after the JWKS cache lifetime; the key it replaces
    /// stays published until the tokens it signed have expired.
    Rotate {
        /// The algorithm to rotate (default: both).
        #[arg(long)]
        alg: Option<Alg>,
        #[arg(long)]
        json: bool,
    },
}

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

fn time_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

pub async fn keys(
    cmd: KeysCmd,
    settings: &Settings,
    store: &Store,
    actor: &str,
) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::List { json } => {
            // Creates the first keys on a fresh installation, as `serve` would.
            let ring = KeyRing::load_or_init(
                store,
                &settings.keys_dir,
                settings.issuer(),
                &settings.signing,
            )
            .await?;
            let infos = ring.key_infos();
            let states = keys::key_states(&infos, now_ms());
            if json {
                #[derive(Serialize)]
                struct Row<'a> {
                    #[serde(flatten)]
                    info: &'a keys::KeyInfo,
                    state: keys::KeyState,
                }
                let rows: Vec<Row> = infos
                    .iter()
                    .zip(states)
                    .map(|(info, state)| Row { info, state })
                    .collect();
                return print_json(&rows);
            }
            let rows = infos
                .iter()
                .zip(states)
                .map(|(k, s)| {
                    vec![
                        k.kid.clone(),
                        k.alg.clone(),
                        s.to_string(),
                        time_text(k.created_at),
                        time_text(k.activates_at),
                        k.retire_at.map(time_text).unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &["kid", "alg", "state", "published", "signs from", "retires"],
                rows,
            );
            Ok(())
        }
        KeysCmd::Rotate { alg, json } => {
            // Make sure the current keys are sound before adding one.
            KeyRing::load_or_init(
                store,
                &settings.keys_dir,
                settings.issuer(),
                &settings.signing,
            )
            .await?;
            let algs = match alg {
                Some(a) => vec![a],
                None => Alg::ALL.to_vec(),
            };
            let mut done = Vec::new();
            for alg in algs {
                done.push(
                    keys::rotate(
                        store,
                        &settings.keys_dir,
                        &settings.signing,
                        actor,
                        alg,
                        now_ms(),
                    )
                    .await?,
                );
            }
            if json {
                return print_json(&done);
            }
            for r in &done {
                println!(
                    "{}: new key {} published now, signs from {}",
                    r.alg,
                    r.new_kid,
                    time_text(r.activates_at)
                );
                for file in &r.removed_files {
                    println!("    deleted the retired key file {}", file.display());
                }
                if let Some((old, retire)) = &r.replaced {
                    println!(
                        "    replaces {old}, which stays published until {}",
                        time_text(*retire)
                    );
                }
            }
            println!(
                "Instances pick the new key up within {} s; copy the keys folder to every instance \
                 that does not share it.",
                settings.signing.reload_secs
            );
            Ok(())
        }
    }
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

pub async fn client(
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
        ClientCmd::List { json } => {
            let clients = store.list_clients().await?;
            if json {
                return print_json(&clients);
            }
            let rows = clients
                .iter()
                .map(|c| {
                    vec![
                        c.client_id.clone(),
                        c.name.clone(),
                        c.client_type.as_str().into(),
                        c.redirect_uris.join("\n"),
                        c.allowed_scopes.join(" "),
                        if c.require_pkce { "required" } else { "off" }.into(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "client id",
                    "name",
                    "type",
                    "redirect URIs",
                    "scopes",
                    "PKCE",
                ],
                rows,
            );
            Ok(())
        }
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

/// `guildgate member invite KEY [--reset]`.
pub async fn invite(
    settings: &Settings,
    store: &Store,
    actor: &str,
    member_key: &str,
    reset: bool,
) -> anyhow::Result<()> {
    use crate::oidc::invitations::{send_link, InvitationError, Purpose};
    let mailer = crate::mail::Mailer::new(&settings.mail, &settings.data_dir)?;
    let purpose = if reset {
        Purpose::PasswordReset
    } else {
        Purpose::Invitation
    };
    let sent = match send_link(
        store,
        &mailer,
        settings.issuer(),
        actor,
        member_key,
        purpose,
    )
    .await
    {
        Err(InvitationError::AccountNotActive) => {
            anyhow::bail!("{member_key}: the account is deactivated; reactivate it first")
        }
        other => other?,
    };
    match sent.delivery {
        crate::mail::Delivery::Smtp => println!("{member_key}: {purpose} sent to {}", sent.to),
        crate::mail::Delivery::File(path) => println!(
            "{member_key}: {purpose} for {} written to {} (no SMTP server configured)",
            sent.to,
            path.display()
        ),
    }
    println!("The link works once, until {}.", time_text(sent.expires_at));
    Ok(())
}
