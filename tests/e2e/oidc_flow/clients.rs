//! The flow for the other kinds of client: a public client with PKCE and no secret, an ES256
//! client, and a removed client.

use super::*;

both_engines!(
    public_client_uses_pkce_without_a_secret,
    |db: TestDb| async move {
        use guildgate::oidc::clients::{ClientType, NewClient};
        let store = db.store().await;
        add_member(&store).await;
        let pepper = pepper(&db, &store).await;
        let mut new = NewClient::new("Mobile app", ClientType::Public, &[REDIRECT]);
        new.client_id = Some("app".into());
        store.add_client("test", &pepper, new).await.unwrap();
        let app = TestApp::spawn(&db).await;
        let base = app.base.as_str();
        let browser = browser();
        let (code, verifier) = app.code_for(&browser, "app", &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", "app"),
        ];
        // A secret for a public client is refused; the client_id alone with PKCE works.
        let r = app.token("app", "made-up", &form).await;
        assert_eq!((r.0, r.1["error"].as_str()), (401, Some("invalid_client")));
        let r = send_form(&http(), format!("{base}/token"), &form).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            app.userinfo(body["access_token"].as_str().unwrap()).await.0,
            200
        );
    }
);

both_engines!(es256_clients_and_removed_clients, |db: TestDb| async move {
    use guildgate::oidc::clients::{ClientType, NewClient};
    use guildgate::oidc::keys::Alg;
    use openidconnect::core::CoreJwsSigningAlgorithm;
    let setup = setup(&db).await;
    let pepper = pepper(&db, &setup.store).await;
    let mut new = NewClient::new("EC client", ClientType::Confidential, &[REDIRECT]);
    new.client_id = Some("ec".into());
    new.id_token_signed_response_alg = Alg::ES256;
    let (_, ec_secret) = setup.store.add_client("test", &pepper, new).await.unwrap();
    let ec_secret = ec_secret.unwrap();
    let app = TestApp::spawn(&db).await;
    let http = http();
    let client = discovered_client(&app, "ec", &ec_secret).await;
    let (url, _, nonce, verifier) = authorization(&client, &[]);
    let browser = browser();
    let loc = app.sign_in(&browser, url.as_str()).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(query(&loc)["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().unwrap();
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ES256 ID token verifies");
    assert_eq!(claims.subject().as_str(), MEMBER_KEY);
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );

    // Removing the client ends its tokens at once.
    let access = tokens.access_token().secret().clone();
    assert_eq!(app.userinfo(&access).await.0, 200);
    setup.store.remove_client("test", "ec").await.unwrap();
    assert_eq!(app.userinfo(&access).await.0, 401);
});
