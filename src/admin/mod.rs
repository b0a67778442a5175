//! The administrator's surfaces: the JSON admin API for scripts (and, with it, the tokens that
//! authenticate them and the audit log).

pub mod api;
pub mod api_tokens;
pub mod console;
pub mod integrations;
pub mod sso;
pub mod views;
