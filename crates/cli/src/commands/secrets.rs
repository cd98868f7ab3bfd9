//! `secrets rotate`: a new server key for the provider secrets stored in the
//! database (docs/runbooks/incident-recovery.md, "The server key leaked").
//!
//! Order matters, so that no failure can leave secrets sealed under a key
//! that is not on disk: the new key is written (0600, synced) first; then
//! every provider is re-sealed in one transaction; only then does the new
//! key take the key file's place. A failure before the commit removes the
//! new file and changes nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use promptrefine_app::secrets::load_or_create_key_file;

use crate::config::Config;

pub async fn rotate(cfg: &Config, new_key_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let from_env = cfg.secret_key.is_some();
    let key_file = cfg.secret_key_path();
    if from_env && new_key_file.is_none() {
        bail!(
            "SECRET_KEY is set: pass --new-key-file FILE to receive the new key, then put its contents in SECRET_KEY"
        );
    }
    let old = match &cfg.secret_key {
        Some(k) => k.clone(),
        None if key_file.exists() => {
            load_or_create_key_file(&key_file).map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => bail!(
            "no server key to rotate: SECRET_KEY is not set and {} does not exist",
            key_file.display()
        ),
    };
    let new_path: PathBuf = match new_key_file {
        Some(p) => p.to_owned(),
        None => key_file.with_extension("key.new"),
    };
    if new_path.exists() {
        bail!(
            "{} already exists; remove it (a rotation that stopped halfway?) or pass another --new-key-file",
            new_path.display()
        );
    }
    let store = super::transfer::current_schema(cfg).await?;
    // Created fresh (the check above) with mode 0600, synced before use.
    let new = load_or_create_key_file(&new_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let resealed = promptrefine_app::providers::rotate_key(&store, &old, &new).await;
    store.close().await;
    let count = match resealed {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&new_path);
            return Err(anyhow::Error::new(e).context("nothing was changed"));
        }
    };
    if from_env {
        println!(
            "re-sealed {count} provider(s) under a new server key, written to {}; set SECRET_KEY to its contents on every replica and restart them",
            new_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let kept = install(&key_file, &new_path, new_key_file.is_some())?;
    println!(
        "re-sealed {count} provider(s) under a new server key in {}; the old key is kept as {} for older backups; restart every server",
        key_file.display(),
        kept.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `secret.key` → `secret.key.old-<unix seconds>`: never overwrites an
/// older key, which the backups of its time still need.
fn old_path(key_file: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = key_file.as_os_str().to_owned();
    name.push(format!(".old-{secs}"));
    PathBuf::from(name)
}

/// Puts the new key in the key file's place, keeping the old one beside it.
/// The database already holds the new sealing, so a failure here must
/// leave the new key findable: the message names where it is.
/// Where the old key went.
fn install(key_file: &Path, new_path: &Path, keep_new: bool) -> anyhow::Result<PathBuf> {
    let old = old_path(key_file);
    let moved = (|| -> std::io::Result<()> {
        // A hard link, not a rename: fails rather than replace a file.
        std::fs::hard_link(key_file, &old)?;
        std::fs::remove_file(key_file)?;
        if keep_new {
            // A file the user named stays; the key file gets its own copy.
            std::fs::hard_link(new_path, key_file)
        } else {
            std::fs::rename(new_path, key_file)
        }
    })();
    moved.with_context(|| {
        format!(
            "the providers are sealed under the new key, but it could not replace {}: it is in {} — move it there by hand",
            key_file.display(),
            new_path.display()
        )
    })?;
    Ok(old)
}
