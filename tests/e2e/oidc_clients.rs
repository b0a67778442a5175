//! Client registration on SQLite and PostgreSQL: secrets shown once and stored keyed-hashed,
//! exact redirect URIs, the PKCE rule, and `guildgate client`.

use crate::support::oidc::pepper;
use crate::support::{cli_err, cli_line, cli_ok, TestDb};
use guildgate::db::{Store, StoreError};
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::secrets::Pepper;
use serde_json::Value;

const HL_REDIRECT: &str =
    "https://community.example.org/HigherLogic/Security/OAuth/Authentication.aspx";

/// Whether `secret` authenticates the client `id` under `pepper`.
async fn authenticates(store: &Store, pepper: &Pepper, id: &str, secret: &str) -> bool {
    let client = store.authenticate_client(pepper, id, secret).await.unwrap();
    client.is_some()
}

both_engines!(
    secrets_are_shown_once_and_stored_hashed,
    |db: TestDb| async move {
        let store = db.store().await;
        let pepper = pepper(&db, &store).await;
        let mut new = NewClient::new("Higher Logic", ClientType::Confidential, &[HL_REDIRECT]);
        new.client_id = Some("higher-logic".into());
        new.require_pkce = false;
        new.allowed_scopes = vec!["openid".into(), "profile".into()];
        let (client, secret) = store.add_client("test", &pepper, new).await.unwrap();
        let secret = secret.expect("confidential clients get a secret");
        assert_eq!(secret.len(), 43);
        assert!(!client.require_pkce);
        assert!(client.has_redirect_uri(HL_REDIRECT));
        // Exact string match: no trailing slash, case or query variations.
        for variant in [
            &format!("{HL_REDIRECT}/"),
            &HL_REDIRECT.to_uppercase(),
            &format!("{HL_REDIRECT}?x=1"),
            &HL_REDIRECT.replace("https", "http"),
        ] {
            assert!(!client.has_redirect_uri(variant), "{variant}");
        }
        assert!(client.allows_scope("profile") && !client.allows_scope("email"));

        // The secret itself is nowhere in the database.
        let (stored,): (String,) =
            sqlx::query_as("SELECT secret_hash FROM oidc_clients WHERE client_id = 'higher-logic'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_ne!(stored, secret);
        let (log,): (String,) =
            sqlx::query_as("SELECT detail FROM change_log WHERE entity = 'oidc_client'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(!log.contains(&secret) && !log.contains(&stored));

        let ok = store
            .authenticate_client(&pepper, "higher-logic", &secret)
            .await
            .unwrap();
        assert_eq!(ok.unwrap().client_id, "higher-logic");
        assert!(!authenticates(&store, &pepper, "higher-logic", "wrong").await);
        assert!(!authenticates(&store, &pepper, "nobody", &secret).await);
        // The same secret under another pepper does not verify.
        let other = Pepper::from_bytes([1; 32]);
        assert!(!authenticates(&store, &other, "higher-logic", &secret).await);

        let new_secret = store
            .rotate_client_secret("test", &pepper, "higher-logic")
            .await
            .unwrap();
        assert_ne!(new_secret, secret);
        assert!(!authenticates(&store, &pepper, "higher-logic", &secret).await);
        assert!(authenticates(&store, &pepper, "higher-logic", &new_secret).await);

        // Taken ids are refused.
        let mut dup = NewClient::new("Again", ClientType::Confidential, &[HL_REDIRECT]);
        dup.client_id = Some("higher-logic".into());
        assert!(matches!(
            store.add_client("test", &pepper, dup).await,
            Err(StoreError::Conflict(_))
        ));

        store.remove_client("test", "higher-logic").await.unwrap();
        assert!(store.find_client("higher-logic").await.unwrap().is_none());
        let actions: Vec<String> = store
            .recent_changes(10, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.entity == "oidc_client")
            .map(|c| c.action)
            .collect();
        assert_eq!(actions, ["removed", "secret_rotated", "created"]);
    }
);

both_engines!(
    public_clients_keep_pkce_and_have_no_secret,
    |db: TestDb| async move {
        let store = db.store().await;
        let pepper = pepper(&db, &store).await;
        let mut new = NewClient::new("App", ClientType::Public, &["http://127.0.0.1:7000/cb"]);
        new.require_pkce = false;
        let err = store
            .add_client("test", &pepper, new.clone())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("only for confidential clients"),
            "{err}"
        );

        new.require_pkce = true;
        let (client, secret) = store.add_client("test", &pepper, new).await.unwrap();
        assert!(secret.is_none());
        assert!(client.is_public() && client.require_pkce);
        assert_eq!(client.token_endpoint_auth_methods.len(), 1);
        assert!(!client.secret_matches(&pepper, ""));
        assert!(!authenticates(&store, &pepper, &client.client_id, "").await);
        assert!(store
            .rotate_client_secret("test", &pepper, &client.client_id)
            .await
            .is_err());
        // Defaults: PKCE on, both secret methods, standard scopes.
        let (conf, _) = store
            .add_client(
                "test",
                &pepper,
                NewClient::new(
                    "Site",
                    ClientType::Confidential,
                    &["https://site.example/cb"],
                ),
            )
            .await
            .unwrap();
        assert!(conf.require_pkce);
        assert_eq!(conf.allowed_scopes, ["openid", "profile", "email"]);
        assert_eq!(conf.token_endpoint_auth_methods.len(), 2);

        // The database enforces the rule too, whatever writes to it.
        let r =
            sqlx::query("UPDATE oidc_clients SET require_pkce = 0 WHERE client_type = 'public'")
                .execute(store.pool())
                .await;
        assert!(r.is_err());

        for bad in [
            "http://example.org/cb",
            "https://x.example/cb#frag",
            "not a url",
        ] {
            let err = store
                .add_client(
                    "test",
                    &pepper,
                    NewClient::new("Bad", ClientType::Confidential, &[bad]),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{bad}: {err}");
        }
    }
);

both_engines!(client_cli, |db: TestDb| async move {
    let out = cli_ok(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Higher Logic",
            "--client-id",
            "hl",
            "--redirect-uri",
            HL_REDIRECT,
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--no-pkce",
            "--post-logout-redirect-uri",
            "https://community.example.org/",
            "--json",
        ],
    );
    let added: Value = serde_json::from_str(&out).unwrap();
    let secret = added["client_secret"].as_str().unwrap().to_string();
    assert_eq!(added["require_pkce"], false);
    assert_eq!(
        added["token_endpoint_auth_methods"][0],
        "client_secret_basic"
    );

    let shown = cli_line(&db, "client show hl");
    assert!(
        shown.contains("not required") && shown.contains(HL_REDIRECT),
        "{shown}"
    );
    assert!(!shown.contains(&secret));
    let listed = cli_line(&db, "client list");
    assert!(listed.contains("Higher Logic") && !listed.contains(&secret));
    let json: Value = serde_json::from_str(&cli_line(&db, "client list --json")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert!(json[0].get("secret_hash").is_none());

    let err = cli_err(
        &db,
        "client add --name SPA --type public --redirect-uri http://localhost:3000/cb --no-pkce",
    );
    assert!(err.contains("only for confidential clients"), "{err}");

    let rotated: Value =
        serde_json::from_str(&cli_line(&db, "client rotate-secret hl --json")).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let store = db.store().await;
    let pepper = pepper(&db, &store).await;
    assert!(authenticates(&store, &pepper, "hl", new_secret).await);
    assert!(!authenticates(&store, &pepper, "hl", &secret).await);

    cli_line(&db, "client remove hl");
    let err = cli_err(&db, "client show hl");
    assert!(err.contains("client hl not found"), "{err}");
});
