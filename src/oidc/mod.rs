//! The OpenID Connect provider.

pub mod account_page;
pub mod authorize;
pub mod claims;
pub mod clients;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod forgot_password;
pub mod grants;
pub mod invitations;
pub mod janitor;
pub mod keys;
pub mod logout;
pub mod metrics;
pub mod new_password_step;
pub mod pages;
pub mod params;
pub mod provider;
pub mod routes;
pub mod set_password;
pub mod settings;
pub mod throttle;
pub mod token;
pub mod userinfo;
