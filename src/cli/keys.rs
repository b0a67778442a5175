//! `guildgate keys ...`: the token-signing keys.

use clap::Subcommand;
use serde::Serialize;

use super::{print_json, print_table, time_text};
use crate::db::{now_ms, Store};
use crate::oidc::keys::{self, Alg, KeyRing};
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

pub async fn run(
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
                for kid in &r.erased {
                    println!("    erased the private key of the retired key {kid}");
                }
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
                "The new private key is in the database, sealed with the pepper: every instance \
                 picks it up within {} s.",
                settings.signing.reload_secs
            );
            Ok(())
        }
    }
}
