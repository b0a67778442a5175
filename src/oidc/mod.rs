//! The OpenID Connect provider.

pub mod clients;
pub mod commands;
pub mod keys;
pub mod throttle;
