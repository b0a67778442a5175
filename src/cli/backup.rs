//! `guildgate backup FILE`: one tar archive (mode 0600) holding what an installation needs
//! besides its configuration file:
//!
//! - `guildgate-backup.json`, what the archive holds (format, version, engine, time);
//! - `database.sqlite`, on SQLite: a consistent snapshot of the live database (`VACUUM INTO`,
//!   taken while the server runs), which holds the members, accounts, clients, sessions, the
//!   signing keys (their private halves sealed with the pepper), the sealed Higher Logic API key,
//!   the sync queue and the branding;
//! - `keys/...`, every file of the keys folder: the pepper (which opens the sealed secrets and
//!   checks client secrets) and any private key file an earlier version left there.
//!
//! On PostgreSQL the database is not in the archive: `pg_dump` saves it, and the archive holds
//! the keys part. `restore` (see `restore.rs`) reads the same format.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::redact_url;
use crate::db::{now_ms, Store};
use crate::private_files;
use crate::secrets::{Pepper, PEPPER_FILE};
use crate::settings::Settings;

/// The archive's table of contents, its first entry.
pub(super) const MANIFEST: &str = "guildgate-backup.json";
/// The SQLite snapshot.
pub(super) const DATABASE: &str = "database.sqlite";
/// The folder of the keys folder's files.
pub(super) const KEYS_PREFIX: &str = "keys/";
/// The archive format this build writes and reads.
pub(super) const FORMAT: u32 = 1;
/// The largest keys-folder file an archive may hold (a pepper is 45 bytes, a key file ~2 KB).
pub(super) const MAX_KEY_FILE: u64 = 64 * 1024;

/// What an archive holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub format: u32,
    pub guildgate_version: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// `sqlite` or `postgres`: the engine of the installation backed up.
    pub engine: String,
    /// Whether `database.sqlite` is in the archive (SQLite); on PostgreSQL the database is
    /// saved with `pg_dump`.
    pub database_included: bool,
    /// The files of the keys folder, by name.
    pub keys: Vec<String>,
}

#[derive(Args)]
pub struct BackupArgs {
    /// The archive to write (a tar file; it must not exist yet).
    pub file: PathBuf,
}

/// The installation's database engine, from `database_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn of(settings: &Settings) -> Kind {
        if settings.database_url.starts_with("sqlite:") {
            Kind::Sqlite
        } else {
            Kind::Postgres
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// The SQLite database file `database_url` names.
pub(super) fn sqlite_path(settings: &Settings) -> anyhow::Result<PathBuf> {
    let url = &settings.database_url;
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        bail!("database_url {url:?} names no database file");
    }
    Ok(PathBuf::from(path))
}

/// A folder of work files next to `near` (mode 0700), removed with everything in it when
/// dropped, whatever happened.
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    pub fn beside(near: &Path) -> anyhow::Result<WorkDir> {
        let parent = near
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        private_files::create_dir(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        let dir = parent.join(format!(".guildgate-work-{}", uuid::Uuid::new_v4().simple()));
        private_files::create_dir(&dir)
            .with_context(|| format!("cannot create the work folder {}", dir.display()))?;
        Ok(WorkDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The regular files of the keys folder, by name (sorted), with their contents.
pub(super) fn read_keys_folder(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the keys folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Work files of an interrupted write (`.tmp-...`) are not part of the folder.
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        files.push((name, bytes));
    }
    files.sort();
    Ok(files)
}

/// Creates `path` for writing, mode 0600, refusing to replace an existing file.
pub(super) fn create_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn tar_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(now_ms() / 1000).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Writes the archive: the manifest, the database snapshot (if any), the keys folder's files.
fn write_archive(
    path: &Path,
    manifest: &Manifest,
    database: Option<&Path>,
    keys: &[(String, Vec<u8>)],
) -> anyhow::Result<()> {
    let file = create_private_file(path)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let manifest = serde_json::to_vec_pretty(manifest)?;
    tar.append_data(
        &mut tar_header(manifest.len() as u64),
        MANIFEST,
        manifest.as_slice(),
    )?;
    if let Some(db) = database {
        let mut snapshot = std::fs::File::open(db)
            .with_context(|| format!("cannot read the snapshot {}", db.display()))?;
        let size = snapshot.metadata()?.len();
        tar.append_data(&mut tar_header(size), DATABASE, &mut snapshot)?;
    }
    for (name, bytes) in keys {
        tar.append_data(
            &mut tar_header(bytes.len() as u64),
            format!("{KEYS_PREFIX}{name}"),
            bytes.as_slice(),
        )?;
    }
    let mut out = tar.into_inner()?;
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok(())
}

/// `guildgate backup FILE`.
pub async fn run(args: BackupArgs, settings: &Settings) -> anyhow::Result<()> {
    let target = args.file;
    if target.exists() {
        bail!(
            "{} exists already: choose another name (a backup never replaces a file)",
            target.display()
        );
    }
    let kind = Kind::of(settings);
    if kind == Kind::Sqlite {
        let db = sqlite_path(settings)?;
        if !db.is_file() {
            bail!(
                "there is no database at {}: nothing to back up",
                db.display()
            );
        }
    }
    let keys = read_keys_folder(&settings.keys_dir)?;
    if !keys.iter().any(|(name, _)| name == PEPPER_FILE) {
        bail!(
            "the keys folder {} has no {PEPPER_FILE}: without it the sealed signing keys and \
             Higher Logic API key cannot be opened, so a backup would be of no use",
            settings.keys_dir.display()
        );
    }
    // Connects without migrating: a backup taken before an upgrade keeps the old schema.
    let store = Store::connect(&settings.database_url, 2)
        .await
        .context("cannot open the database")?;
    // The pepper must be the one the database was set up with, or the archive is useless.
    Pepper::load_or_init(&store, &settings.keys_dir)
        .await
        .context("the keys folder does not belong to this database")?;
    let work = WorkDir::beside(&target)?;
    let snapshot = work.path().join(DATABASE);
    if kind == Kind::Sqlite {
        // A consistent copy of the live database, in one read transaction; WAL content
        // included, free pages dropped.
        sqlx::query("VACUUM INTO $1")
            .bind(snapshot.display().to_string())
            .execute(store.pool())
            .await
            .context("taking the database snapshot (VACUUM INTO) failed")?;
    }
    store.close().await;
    let manifest = Manifest {
        format: FORMAT,
        guildgate_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: now_ms(),
        engine: kind.name().to_string(),
        database_included: kind == Kind::Sqlite,
        keys: keys.iter().map(|(name, _)| name.clone()).collect(),
    };
    // Written beside, then linked into place: no half-written archive under the name.
    let partial = work.path().join("archive.tar");
    write_archive(
        &partial,
        &manifest,
        (kind == Kind::Sqlite).then_some(snapshot.as_path()),
        &keys,
    )?;
    std::fs::hard_link(&partial, &target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    drop(work);
    let names = manifest.keys.join(", ");
    match kind {
        Kind::Sqlite => {
            let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {} ({size} bytes): the database (a snapshot of {}) and the keys folder \
                 ({names})",
                target.display(),
                sqlite_path(settings)?.display()
            );
        }
        Kind::Postgres => {
            println!("wrote {}: the keys folder ({names}).", target.display());
            println!(
                "The PostgreSQL database is not in the archive: save it now with pg_dump, and \
                 keep both together, e.g.\n  pg_dump --format=custom --file=guildgate.pgdump '{}'",
                redact_url(&settings.database_url)
            );
        }
    }
    println!("The archive holds the pepper, which opens every secret in the database: keep it as safe as the database.");
    Ok(())
}
