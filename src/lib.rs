//! Guildgate: the sign-in (OpenID Connect) and data bridge an association runs beside its
//! member database so that members log in once for its site and its Higher Logic community.

pub mod accounts;
pub mod activity;
pub mod admin;
pub mod branding;
pub mod change_log;
pub mod cli;
pub mod config;
pub mod custom_fields;
pub mod db;
pub mod groups;
pub mod higher_logic;
pub mod import;
pub mod mail;
pub mod members;
pub mod oidc;
pub mod passwords;
pub mod private_files;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod two_factor;
pub mod web;

#[cfg(test)]
mod layering;
