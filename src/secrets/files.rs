//! Files that hold secrets (the pepper, private keys): owner-only, written once and atomically.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A secret file or folder that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("keys folder {path}: {message}")]
pub struct SecretFileError {
    pub path: PathBuf,
    pub message: String,
}

impl SecretFileError {
    pub fn new(path: &Path, e: impl fmt::Display) -> SecretFileError {
        SecretFileError {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// Creates `dir` (mode 0700) when it does not exist.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SecretFileError> {
    crate::private_files::create_dir(dir).map_err(|e| SecretFileError::new(dir, e))
}

/// Writes `contents` to `path` with mode 0600, only if `path` does not exist yet, atomically
/// (a temporary file hard-linked into place), so that instances starting together on a shared
/// folder never read a half-written file. Returns false when the file existed.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<bool, SecretFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options
            .open(&tmp)
            .map_err(|e| SecretFileError::new(&tmp, e))?;
        file.write_all(contents)
            .map_err(|e| SecretFileError::new(&tmp, e))?;
        file.sync_all().map_err(|e| SecretFileError::new(&tmp, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(SecretFileError::new(path, e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The file's contents, or `None` when it does not exist. Warns when others may read it.
pub fn read_private_file(path: &Path) -> Result<Option<String>, SecretFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(path) {
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), "secret file is readable by others; chmod 600 it");
                    }
                }
            }
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SecretFileError::new(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(write_secret_file(&path, b"one").unwrap());
        assert!(!write_secret_file(&path, b"two").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
