//! The direction of dependencies, checked: the store at the bottom never names a feature or
//! the layers above it. A lower layer tells an upper one through a typed event
//! (`change_log::Event` and its listeners), never by calling it.

/// Modules of the bottom layers: configuration, database, secrets, mail, and the member store.
const LOWER: &[&str] = &[
    "config",
    "db",
    "secrets",
    "mail",
    "passwords",
    "private_files",
    "members",
    "accounts",
    "activity",
    "groups",
    "custom_fields",
    "change_log",
    "import",
    "two_factor",
];

/// What they must not reach: the features, the web plumbing, and the top.
const UPPER: &[&str] = &[
    "oidc",
    "higher_logic",
    "admin",
    "web",
    "server",
    "cli",
    "settings",
];

/// The `crate::` paths a source text names: `crate::a::b` gives `a`, and `crate::{a, b::c}`
/// gives `a` and `b`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

/// Every `.rs` file of a lower module: `src/name.rs` and everything under `src/name/`.
fn files_of(src: &std::path::Path, module: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let single = src.join(format!("{module}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn the_store_layers_name_no_feature() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut arrows = Vec::new();
    for module in LOWER {
        let files = files_of(&src, module);
        assert!(!files.is_empty(), "no source for module {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for target in crate_paths(&text) {
                if UPPER.contains(&target.as_str()) {
                    arrows.push(format!("{} -> crate::{target}", file.display()));
                }
            }
        }
    }
    assert!(
        arrows.is_empty(),
        "upward dependencies:\n{}",
        arrows.join("\n")
    );
}

#[test]
fn crate_paths_are_read_in_both_forms() {
    let text = "use crate::db::Store;\nuse crate::{oidc::keys, config};\nx(crate::server::y)";
    assert_eq!(crate_paths(text), ["db", "oidc", "config", "server"]);
}
