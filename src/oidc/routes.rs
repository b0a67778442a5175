//! The provider's routes. Browser-facing ones (authorize, login, logout) carry the session
//! layer; every route carries the security headers.

use axum::routing::{get, post};
use axum::Router;

use crate::oidc::{
    account_page, account_two_factor, authorize, discovery, forgot_password, invitations,
    known_device, logout, new_password_step, second_factor, set_password, token, userinfo,
};
use crate::server::AppState;
use crate::web::headers::{security_headers, PROVIDER_CSP};
use crate::web::{csrf, look, sessions};

pub fn router(state: &AppState) -> Router<AppState> {
    let browser = Router::new()
        .route(
            "/authorize",
            get(authorize::authorize_endpoint).post(authorize::authorize_endpoint),
        )
        .route("/login", post(authorize::login))
        .route(
            new_password_step::NEW_PASSWORD_PATH,
            get(new_password_step::form).post(new_password_step::submit),
        )
        .route(
            second_factor::SECOND_FACTOR_PATH,
            get(second_factor::form).post(second_factor::submit),
        )
        .route(
            second_factor::CONTINUE_PATH,
            post(second_factor::continue_after_codes),
        )
        .route(
            "/logout",
            get(logout::logout_endpoint).post(logout::logout_endpoint),
        )
        .route(account_page::ACCOUNT_PATH, get(account_page::show))
        .route("/account/login", post(account_page::sign_in))
        .route("/account/password", post(account_page::change_password))
        .route(
            "/account/sign-out-everywhere",
            post(account_page::sign_out_everywhere),
        )
        .route("/account/sign-out", post(account_page::sign_out))
        .route(
            account_two_factor::ENROL_PATH,
            post(account_two_factor::enrol),
        )
        .route(
            account_two_factor::CONFIRM_PATH,
            post(account_two_factor::confirm),
        )
        .route(
            account_two_factor::DISABLE_PATH,
            post(account_two_factor::disable),
        )
        .route(
            account_two_factor::RECOVERY_CODES_PATH,
            post(account_two_factor::renew_recovery_codes),
        )
        .route(
            forgot_password::FORGOT_PASSWORD_PATH,
            get(forgot_password::form).post(forgot_password::submit),
        )
        .route(
            invitations::SET_PASSWORD_PATH,
            get(set_password::form).post(set_password::submit),
        );
    let browser = with_browser_state(browser, state).layer(axum::middleware::from_fn_with_state(
        state.store.clone(),
        look::layer,
    ));
    let back_channel = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/jwks", get(discovery::jwks))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo_get).post(userinfo::userinfo_post),
        )
        .route("/revoke", post(token::revoke))
        .route("/introspect", post(token::introspect));
    browser
        .merge(back_channel)
        .layer(security_headers(PROVIDER_CSP))
}

/// The layers of every browser page (the provider's and the console's): the known-device
/// cookie, the session, and the signed cookie holding an anonymous visitor's CSRF secret.
pub fn with_browser_state(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            known_device::layer,
        ))
        .layer(sessions::layer(&state.store, &state.settings))
        .layer(axum::middleware::from_fn_with_state(
            csrf::CookieSettings {
                pepper: state.oidc.keys.pepper().clone(),
                secure: !state.settings.insecure_loopback(),
            },
            csrf::layer,
        ))
}
