//! Creating the files a command writes that may hold secrets (backups,
//! exports with password hashes): new files only, never through a name
//! planted beforehand, and readable by their owner only (0600).

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::Context;
use tempfile::NamedTempFile;

/// A new, empty file at `path`, `0600`; fails when anything (a file, a
/// symbolic link) is already there (`O_CREAT | O_EXCL`).
pub fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// A temporary with a random name in `target`'s folder (so the final
/// rename stays on one file system), `0600`, removed when dropped unless
/// persisted.
pub fn private_temp_beside(target: &Path) -> anyhow::Result<NamedTempFile> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".promptrefine-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}
