//! The end-to-end suite, one binary: the store, the command line, the provider, the console
//! and the Higher Logic sync, each on SQLite and PostgreSQL. Most tests run the application
//! in process ([`support::TestApp`]); those that need the real binary (its commands, its
//! logs, a `kill -9`, two instances) start it ([`support::Server`]).

#[macro_use]
mod support;

mod admin_api;
mod admin_browser;
mod admin_console;
mod admin_members_browser;
mod admin_sso;
mod anonymous_sessions;
mod backup_restore;
mod branding;
mod cli;
mod doctor;
mod grafana_dashboard;
mod janitor;
mod member_browser;
mod oidc_account_page;
mod oidc_clients;
mod oidc_conformance;
mod oidc_deactivation;
mod oidc_flow;
mod oidc_forgot_password;
mod oidc_invitations;
mod oidc_keys;
mod oidc_metrics;
mod oidc_multi_instance;
mod oidc_negative;
mod oidc_new_password_step;
mod oidc_password_change;
mod oidc_props;
mod oidc_set_password;
mod oidc_sign_in_storm;
mod oidc_throttle;
mod security_headers;
mod store;
mod sync;
mod sync_cli;
mod two_factor;
