//! The token endpoint (`authorization_code` and `refresh_token` grants), revocation (RFC 7009)
//! and introspection (RFC 7662).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::activity::Tally;
use crate::db::{now_ms, Transaction};
use crate::oidc::authorize::understood_scopes;
use crate::oidc::claims::{RequestedClaims, Subject};
use crate::oidc::clients::Client;
use crate::oidc::error::{ErrorCode, OidcError, OidcResult};
use crate::oidc::grants::{self, GrantInfo, NewTokens, Spent, TokenKind};
use crate::oidc::metrics;
use crate::oidc::params::Params;
use crate::server::AppState;

/// `POST /token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    match token_inner(&state, &headers, Params::new(pairs)).await {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The grant, on its span: only the two names this endpoint knows, never a client-chosen text.
fn grant_name(params: &Params) -> &'static str {
    match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some(_) => "unsupported",
        None => "none",
    }
}

#[tracing::instrument(
    name = "token",
    skip_all,
    fields(grant_type = grant_name(&params), client_id = tracing::field::Empty)
)]
async fn token_inner(state: &AppState, headers: &HeaderMap, params: Params) -> OidcResult<Value> {
    let (client, _method) = state
        .oidc
        .authenticate_client(&state.store, headers, &params)
        .await?;
    tracing::Span::current().record("client_id", client.client_id.as_str());
    if let Some(name) = params.duplicated() {
        return Err(OidcError::invalid_request(format!(
            "parameter {name} is repeated"
        )));
    }
    match params.get("grant_type") {
        None => Err(OidcError::invalid_request("grant_type is required")),
        Some("authorization_code") => authorization_code(state, &client, &params).await,
        Some("refresh_token") => refresh(state, &client, &params).await,
        Some(_) => Err(OidcError::oauth(
            ErrorCode::UnsupportedGrantType,
            "supported grant types: authorization_code, refresh_token",
        )),
    }
}

/// RFC 7636 4.6: BASE64URL(SHA256(verifier)) == challenge, in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> OidcResult<Value> {
    let code = params
        .get("code")
        .ok_or_else(|| OidcError::invalid_request("code is required"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OidcError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier");
    if verifier.is_some_and(|v| !valid_verifier(v)) {
        return Err(OidcError::invalid_grant(
            "code_verifier must be 43 to 128 unreserved characters",
        ));
    }
    let mut tx = state.store.begin().await?;
    // The code is spent by this call whatever follows: a failed attempt burns it.
    let record = match grants::redeem_code(&mut tx, code).await? {
        Spent::First(record) => record,
        again => {
            return refuse_reuse(
                tx,
                again,
                "authorization_code",
                "the authorization code was already used; tokens issued from it are revoked",
                "the authorization code is invalid or expired",
            )
            .await
        }
    };
    let refusal = if record.client_id != client.client_id {
        Some("the authorization code was issued to another client")
    } else if record.expires_at <= now_ms() {
        Some("the authorization code is invalid or expired")
    } else if record.redirect_uri != redirect_uri {
        Some("redirect_uri differs from the one in the authorization request")
    } else {
        match (&record.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => None,
            (Some(_), Some(_)) => Some("code_verifier does not match the code_challenge"),
            (Some(_), None) => Some("code_verifier is required"),
            // A verifier for a code issued without a challenge: a PKCE downgrade.
            (None, Some(_)) => Some("code_verifier sent, but the request had no code_challenge"),
            (None, None) => None,
        }
    };
    if let Some(reason) = refusal {
        tx.commit().await?;
        return Err(OidcError::invalid_grant(reason));
    }
    let grant = GrantInfo {
        grant_id: &record.grant_id,
        client_id: &client.client_id,
        account_id: &record.account_id,
        scope: &record.scope,
        auth_time: record.auth_time,
        claims: record.claims.as_deref(),
    };
    let issued = store_tokens(state, &mut tx, &grant).await?;
    tx.commit().await?;
    let subject = subject_or_revoke(state, &grant).await?;
    issued_by(state, "authorization_code", &client.client_id);
    // Signing happens after the commit: the (SQLite) writer is not held for it.
    token_response(
        state,
        client,
        &subject,
        &grant,
        record.nonce.as_deref(),
        issued,
    )
    .await
}

/// The answer to a code or refresh token used again (the revocation of its grant committed
/// first, so that it holds) or never issued.
async fn refuse_reuse<T, R>(
    tx: Transaction,
    spent: Spent<T>,
    kind: &str,
    replayed: &str,
    unknown: &str,
) -> OidcResult<R> {
    if let Spent::Replayed = spent {
        tx.commit().await?;
        metrics::METRICS
            .reuse_detected
            .with_label_values(&[kind])
            .inc();
        return Err(OidcError::invalid_grant(replayed));
    }
    Err(OidcError::invalid_grant(unknown))
}

async fn refresh(state: &AppState, client: &Client, params: &Params) -> OidcResult<Value> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OidcError::invalid_request("refresh_token is required"))?;
    let mut tx = state.store.begin().await?;
    let record = match grants::rotate_refresh(&mut tx, token, &client.client_id).await? {
        Spent::First(record) => record,
        again => {
            return refuse_reuse(
                tx,
                again,
                "refresh_token",
                "the refresh token was already used or revoked; its whole family is revoked",
                "the refresh token is invalid",
            )
            .await
        }
    };
    if record.expires_at <= now_ms() {
        return Err(OidcError::invalid_grant("the refresh token has expired"));
    }
    // A refresh may narrow the scope, never widen it (RFC 6749 6). Values this provider does
    // not understand are ignored, as at the authorization endpoint (a client may send the scope
    // string it sent there).
    let scope = match params.get("scope") {
        None => record.scope.clone(),
        Some(requested) => {
            let granted: Vec<&str> = record.scopes().collect();
            let narrowed = understood_scopes(requested);
            if let Some(s) = narrowed.iter().find(|s| !granted.contains(s)) {
                return Err(OidcError::oauth(
                    ErrorCode::InvalidScope,
                    format!("scope '{s}' was not granted"),
                ));
            }
            if narrowed.is_empty() {
                return Err(OidcError::oauth(
                    ErrorCode::InvalidScope,
                    "scope names none of the granted scopes",
                ));
            }
            narrowed.join(" ")
        }
    };
    let grant = GrantInfo {
        grant_id: &record.grant_id,
        client_id: &client.client_id,
        account_id: &record.account_id,
        scope: &scope,
        auth_time: record.auth_time,
        // The claims request stays with the grant, whatever the new scope.
        claims: record.claims.as_deref(),
    };
    let issued = store_tokens(state, &mut tx, &grant).await?;
    tx.commit().await?;
    let subject = subject_or_revoke(state, &grant).await?;
    issued_by(state, "refresh_token", &client.client_id);
    token_response(state, client, &subject, &grant, None, issued).await
}

/// The member the new tokens are about, read after the commit: the (SQLite) writer is held for
/// spending the code or refresh token and storing its successors only, not for a read on
/// another connection. An account found deactivated gets nothing, and its grant's tokens (the
/// ones just stored among them) are revoked, as its deactivation revoked the older ones.
async fn subject_or_revoke(state: &AppState, grant: &GrantInfo<'_>) -> OidcResult<Subject> {
    if let Some(subject) = Subject::active(&state.store, grant.account_id).await? {
        return Ok(subject);
    }
    let mut tx = state.store.begin().await?;
    grants::revoke_grant(&mut tx, grant.grant_id).await?;
    tx.commit().await?;
    Err(OidcError::invalid_grant("the account is not active"))
}

/// Counts the tokens of one grant type issued to `client_id`, once committed.
fn issued_by(state: &AppState, grant_type: &str, client_id: &str) {
    metrics::METRICS
        .tokens_issued
        .with_label_values(&[grant_type])
        .inc();
    state.oidc.activity.count(Tally::TokensIssued, client_id);
}

/// A new access and refresh token, stored.
async fn store_tokens(
    state: &AppState,
    tx: &mut crate::db::Transaction,
    grant: &GrantInfo<'_>,
) -> OidcResult<NewTokens> {
    let lifetimes = &state.settings.oidc;
    Ok(grants::issue_tokens(
        tx,
        grant,
        lifetimes.access_token_lifetime_secs,
        lifetimes.refresh_token_lifetime_secs,
    )
    .await?)
}

/// The token response, with the signed ID token.
async fn token_response(
    state: &AppState,
    client: &Client,
    subject: &Subject,
    grant: &GrantInfo<'_>,
    nonce: Option<&str>,
    issued: NewTokens,
) -> OidcResult<Value> {
    let lifetimes = &state.settings.oidc;
    let NewTokens { access, refresh } = issued;
    // Every grant is an OpenID one: Higher Logic asks for `profile` only and still gets the
    // ID token (its `sub` is the member key either way).
    let requested = RequestedClaims::from_stored(grant.claims);
    let mut id_claims: Map<String, Value> =
        subject.claims(grant.scope.split(' '), &requested.id_token);
    let now = now_ms() / 1000;
    id_claims.insert("iss".into(), json!(state.oidc.issuer));
    id_claims.insert("aud".into(), json!(client.client_id));
    id_claims.insert("iat".into(), json!(now));
    id_claims.insert("exp".into(), json!(now + lifetimes.id_token_lifetime_secs));
    id_claims.insert("auth_time".into(), json!(grant.auth_time));
    id_claims.insert("at_hash".into(), json!(at_hash(&access)));
    if let Some(nonce) = nonce {
        id_claims.insert("nonce".into(), json!(nonce));
    }
    let id_token = state
        .oidc
        .keys
        .sign(
            client.id_token_signed_response_alg,
            &Value::Object(id_claims),
        )
        .await
        .map_err(OidcError::internal)?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetimes.access_token_lifetime_secs,
        "refresh_token": refresh,
        "id_token": id_token,
        "scope": grant.scope,
    }))
}

/// OIDC Core 3.1.3.6: the left half of SHA-256 of the access token (RS256 and ES256 both use
/// SHA-256), base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// `POST /revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let result: OidcResult<()> = async {
        let params = Params::new(pairs);
        let (client, _) = state
            .oidc
            .authenticate_client(&state.store, &headers, &params)
            .await?;
        if let Some(name) = params.duplicated() {
            return Err(OidcError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        let token = params
            .get("token")
            .ok_or_else(|| OidcError::invalid_request("token is required"))?;
        grants::revoke(&state.store, token, &client.client_id).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => no_store(().into_response()),
        Err(e) => e.into_response(),
    }
}

/// `POST /introspect` (RFC 7662), for the client the token was issued to.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let result: OidcResult<Value> = async {
        let params = Params::new(pairs);
        let (client, _) = state
            .oidc
            .authenticate_client(&state.store, &headers, &params)
            .await?;
        let token = params
            .get("token")
            .ok_or_else(|| OidcError::invalid_request("token is required"))?;
        let inactive = json!({ "active": false });
        let Some(record) = grants::find_token(&state.store, token).await? else {
            return Ok(inactive);
        };
        if record.client_id != client.client_id || !record.is_usable(now_ms()) {
            return Ok(inactive);
        }
        Ok(json!({
            "active": true,
            "scope": record.scope,
            "client_id": record.client_id,
            "sub": record.member_key,
            "aud": record.client_id,
            "iss": state.oidc.issuer,
            "exp": record.expires_at / 1000,
            "iat": record.created_at / 1000,
            "auth_time": record.auth_time,
            "token_type": if record.kind() == TokenKind::Access { "Bearer" } else { "refresh_token" },
        }))
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn at_hash_is_left_half_of_sha256() {
        // Computed independently (Python hashlib + base64.urlsafe_b64encode, padding removed).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNnnJsF6gWdgm0M4sTfG-ItnR0sGF_LjYs7RStE8ReYakuIu"),
            "Wra6ZQT6J-7Z-EB0S14Kog"
        );
    }
}
