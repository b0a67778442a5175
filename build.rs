//! Rebuilds the crate when a message catalogue is added under `locales/` (the catalogues are
//! built into the binary by `fluent_templates::static_loader!`, which sees a new language's
//! folder only when the crate compiles again).

fn main() {
    println!("cargo:rerun-if-changed=locales");
    println!("cargo:rerun-if-changed=build.rs");
}
