//! `guildgate restore FILE`: puts back what `guildgate backup` saved (the format is described in
//! `backup.rs`). On SQLite the database file and the keys folder; on PostgreSQL the keys folder,
//! after the database was restored from its `pg_dump` (the restore checks that the two belong
//! together). It refuses to replace a database or a keys file that holds something else
//! without `--force`, and checks the archive (the snapshot's integrity, the pepper opening the
//! signing keys) before it replaces anything. Every instance must be stopped while it runs.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use super::backup::{
    create_private_file, sqlite_path, Kind, Manifest, WorkDir, DATABASE, FORMAT, KEYS_PREFIX,
    MANIFEST, MAX_KEY_FILE,
};
use crate::db::Store;
use crate::oidc::keys::KeyRing;
use crate::secrets::{ensure_private_dir, write_secret_file, Pepper, PEPPER_FILE};
use crate::settings::Settings;

#[derive(Args)]
pub struct RestoreArgs {
    /// The archive written by `guildgate backup`.
    pub file: PathBuf,
    /// Replace a database that holds data, and keys files that differ (what they held is lost).
    #[arg(long)]
    pub force: bool,
}

/// What was read from the archive: the manifest, the keys files, and where the snapshot went.
struct Unpacked {
    manifest: Manifest,
    keys: Vec<(String, Vec<u8>)>,
    database: Option<PathBuf>,
}

/// Reads the archive, the snapshot into `work`. Only the entries `backup` writes are accepted.
fn unpack(file: &Path, work: &Path) -> anyhow::Result<Unpacked> {
    let archive = std::fs::File::open(file)
        .with_context(|| format!("cannot open the archive {}", file.display()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(archive));
    let mut manifest: Option<Manifest> = None;
    let mut keys = Vec::new();
    let mut database = None;
    let not_ours = || {
        format!(
            "{} is not an archive written by `guildgate backup`",
            file.display()
        )
    };
    for entry in tar.entries().with_context(not_ours)? {
        let mut entry = entry.with_context(not_ours)?;
        let name = entry.path().with_context(not_ours)?.display().to_string();
        if !entry.header().entry_type().is_file() {
            bail!("{}: unexpected entry {name:?}", not_ours());
        }
        if manifest.is_none() && name != MANIFEST {
            bail!("{}: it does not start with {MANIFEST}", not_ours());
        }
        if name == MANIFEST {
            let mut text = String::new();
            entry
                .by_ref()
                .take(MAX_KEY_FILE)
                .read_to_string(&mut text)?;
            let read: Manifest = serde_json::from_str(&text)
                .with_context(|| format!("{}: unreadable {MANIFEST}", not_ours()))?;
            if read.format != FORMAT {
                bail!(
                    "the archive is of format {}, this guildgate reads format {FORMAT}",
                    read.format
                );
            }
            manifest = Some(read);
        } else if name == DATABASE {
            let path = work.join(DATABASE);
            let mut out = create_private_file(&path)?;
            std::io::copy(&mut entry, &mut out).context("cannot unpack the database")?;
            out.sync_all()?;
            database = Some(path);
        } else if let Some(key) = name.strip_prefix(KEYS_PREFIX) {
            // A plain file name: nothing may land outside the keys folder.
            let plain = !key.is_empty()
                && !key.starts_with('.')
                && !key.contains(['/', '\\'])
                && key != "..";
            if !plain || entry.header().size()? > MAX_KEY_FILE {
                bail!("{}: unexpected entry {name:?}", not_ours());
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            keys.push((key.to_string(), bytes));
        } else {
            bail!("{}: unexpected entry {name:?}", not_ours());
        }
    }
    let manifest = manifest.ok_or_else(|| anyhow::anyhow!("{}: it is empty", not_ours()))?;
    if manifest.database_included != database.is_some() {
        bail!("{}: the database is missing", not_ours());
    }
    if !keys.iter().any(|(name, _)| name == PEPPER_FILE) {
        bail!("{}: it holds no {PEPPER_FILE}", not_ours());
    }
    Ok(Unpacked {
        manifest,
        keys,
        database,
    })
}

/// What the SQLite database at `path` holds, when it holds anything (members, accounts,
/// signing keys); `None` for no file, an empty file, or a database without the tables.
async fn sqlite_contents(path: &Path) -> anyhow::Result<Option<String>> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(None);
    }
    let store = Store::connect(&format!("sqlite://{}", path.display()), 1).await?;
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('members', 'accounts', 'oidc_signing_keys')",
    )
    .fetch_one(store.pool())
    .await?;
    let counts: Option<(i64, i64, i64)> = if tables == 3 {
        Some(
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM members), (SELECT COUNT(*) FROM accounts), \
                 (SELECT COUNT(*) FROM oidc_signing_keys)",
            )
            .fetch_one(store.pool())
            .await?,
        )
    } else {
        None
    };
    store.close().await;
    Ok(match counts {
        Some((0, 0, 0)) | None => None,
        Some((members, accounts, keys)) => Some(format!(
            "{members} member(s), {accounts} account(s) and {keys} signing key(s)"
        )),
    })
}

/// The keys files of the archive that would replace a different file in `dir`.
fn differing_keys(dir: &Path, keys: &[(String, Vec<u8>)]) -> Vec<String> {
    keys.iter()
        .filter(|(name, bytes)| {
            std::fs::read(dir.join(name)).is_ok_and(|current| current != *bytes)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Checks the snapshot before it replaces anything: SQLite's integrity check, the archive's
/// pepper being the one the snapshot was set up with, and its signing keys opening.
async fn check_snapshot(
    snapshot: &Path,
    keys_dir: &Path,
    settings: &Settings,
) -> anyhow::Result<()> {
    let store = Store::connect(&format!("sqlite://{}", snapshot.display()), 1)
        .await
        .context("cannot open the database in the archive")?;
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await?;
    if check != "ok" {
        bail!("the database in the archive is damaged: {check}");
    }
    // An older snapshot gets the newer migrations here, before it is put in place.
    store.migrate().await?;
    check_keys_belong(&store, keys_dir, settings).await?;
    store.close().await;
    Ok(())
}

/// Whether the keys folder `dir` opens the database `store`: the pepper is the one it knows,
/// and every signing key that signs opens with it.
async fn check_keys_belong(store: &Store, dir: &Path, settings: &Settings) -> anyhow::Result<()> {
    Pepper::load_or_init(store, dir)
        .await
        .context("the archive's pepper is not the one of its database")?;
    KeyRing::load_existing(store, dir, settings.issuer(), &settings.signing)
        .await
        .context("the signing keys in the database do not open with the archive's pepper")?;
    Ok(())
}

/// Writes the archive's keys files into the keys folder; a differing file is replaced
/// (the caller checked `--force`).
fn restore_keys(dir: &Path, keys: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    ensure_private_dir(dir)?;
    for (name, bytes) in keys {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(current) if current == *bytes => continue,
            Ok(_) => std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?,
            Err(_) => {}
        }
        write_secret_file(&path, bytes)?;
    }
    Ok(())
}

/// Puts the snapshot in place of the database file (and its journal).
fn replace_database(snapshot: &Path, target: &Path) -> anyhow::Result<()> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(PathBuf::from(side)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("cannot remove the old database journal"),
        }
    }
    // Same folder, so a rename: the file is either the old one or the restored one.
    std::fs::rename(snapshot, target)
        .with_context(|| format!("cannot put the database in place at {}", target.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// `guildgate restore FILE [--force]`.
pub async fn run(args: RestoreArgs, settings: &Settings) -> anyhow::Result<()> {
    let kind = Kind::of(settings);
    let near = match kind {
        Kind::Sqlite => sqlite_path(settings)?,
        Kind::Postgres => settings.keys_dir.join("x"),
    };
    let work = WorkDir::beside(&near)?;
    let unpacked = unpack(&args.file, work.path())?;
    let manifest = &unpacked.manifest;
    if manifest.engine != kind.name() {
        bail!(
            "the archive is of a {} installation and database_url names {}: restore it into \
             the same kind of database",
            manifest.engine,
            kind.name()
        );
    }

    // What would be replaced, before anything is.
    let mut in_the_way = Vec::new();
    if kind == Kind::Sqlite {
        if let Some(contents) = sqlite_contents(&near).await? {
            in_the_way.push(format!("the database {} holds {contents}", near.display()));
        }
    }
    let differing = differing_keys(&settings.keys_dir, &unpacked.keys);
    if !differing.is_empty() {
        in_the_way.push(format!(
            "the keys folder {} holds a different {}",
            settings.keys_dir.display(),
            differing.join(", ")
        ));
    }
    if !in_the_way.is_empty() && !args.force {
        bail!(
            "refusing to restore over a non-empty installation: {}. Restore into an empty \
             installation, or pass --force to replace them (what they hold is lost)",
            in_the_way.join("; ")
        );
    }

    let staged_keys = work.path().join("keys");
    restore_keys(&staged_keys, &unpacked.keys)?;
    match (kind, &unpacked.database) {
        (Kind::Sqlite, Some(snapshot)) => {
            check_snapshot(snapshot, &staged_keys, settings).await?;
            replace_database(snapshot, &near)?;
            restore_keys(&settings.keys_dir, &unpacked.keys)?;
            println!(
                "restored the database {} and the keys folder {} ({}) from the backup of {}",
                near.display(),
                settings.keys_dir.display(),
                manifest.keys.join(", "),
                super::time_text(manifest.created_at)
            );
        }
        (Kind::Postgres, _) => {
            // The database came back with pg_restore; it must know this pepper.
            let store = Store::connect(&settings.database_url, 2)
                .await
                .context("cannot open the database (restore it with pg_restore first)")?;
            let known: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM oidc_key_material WHERE name = 'client-secret-pepper'",
            )
            .fetch_one(store.pool())
            .await
            .context(
                "the database has no Guildgate tables: restore it from its pg_dump with \
                 pg_restore first, then run this again",
            )?;
            if known.0 == 0 {
                bail!(
                    "the database was never set up with a pepper: restore it from the pg_dump \
                     taken with this archive (pg_restore) first, then run this again"
                );
            }
            check_keys_belong(&store, &staged_keys, settings).await?;
            store.close().await;
            restore_keys(&settings.keys_dir, &unpacked.keys)?;
            println!(
                "restored the keys folder {} ({}) from the backup of {}; the database is the \
                 one pg_restore put back, and it opens with these keys",
                settings.keys_dir.display(),
                manifest.keys.join(", "),
                super::time_text(manifest.created_at)
            );
        }
        (Kind::Sqlite, None) => bail!("the archive holds no database"),
    }
    println!("Start `guildgate serve`: it applies the migrations of this version if needed.");
    Ok(())
}
