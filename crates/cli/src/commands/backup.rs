//! `backup --out FILE` and `restore FILE [--force]`: same-backend copies of
//! the whole database, for disaster recovery (moving between SQLite and
//! PostgreSQL is `export`/`import`).
//!
//! SQLite: `VACUUM INTO` (the store's [`backup_sqlite_into`]) writes a
//! consistent snapshot while the server runs; restore checks the file with
//! `PRAGMA integrity_check` and swaps it in place of the configured database
//! file, so the server must be stopped. PostgreSQL: `pg_dump --format=custom`
//! and `pg_restore`, run with the password in `PGPASSWORD` rather than on
//! the command line where `ps` would show it.
//!
//! [`backup_sqlite_into`]: promptrefine_store::Store::backup_sqlite_into

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use promptrefine_store::Store;
use promptrefine_store::backup::{sqlite_integrity_check, sqlite_path};
use secrecy::ExposeSecret;

use super::files;
use crate::cli::{BackupArgs, RestoreArgs};
use crate::config::Config;
use crate::database;

pub async fn backup(cfg: &Config, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            args.out.display()
        );
    }
    // Created here, empty and 0600, so the copy is private from its first
    // byte and nothing planted under the name is followed; VACUUM INTO and
    // pg_dump both write into an existing empty file.
    drop(files::create_private(&args.out)?);
    if let Err(e) = write_backup(cfg, &args.out).await {
        let _ = std::fs::remove_file(&args.out);
        return Err(e);
    }
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({size} bytes)",
        cfg.database_url_masked(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn write_backup(cfg: &Config, out: &Path) -> anyhow::Result<()> {
    let store = database::connect(cfg).await?;
    if store.kind() == "postgres" {
        store.close().await;
        pg_tool(
            cfg,
            "pg_dump",
            &["--format=custom", "--file", path_str(out)?],
        )
        .await?;
    } else {
        let done = store.backup_sqlite_into(out).await;
        store.close().await;
        done.context("the backup failed")?;
        let check = sqlite_integrity_check(out).await?;
        if check != "ok" {
            bail!("the backup file failed its integrity check: {check}");
        }
    }
    Ok(())
}

/// What a backup file holds, from its first bytes.
#[derive(Debug, PartialEq)]
enum FileKind {
    Sqlite,
    PgCustom,
}

fn file_kind(path: &Path) -> anyhow::Result<FileKind> {
    let mut head = [0u8; 16];
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let n = f.read(&mut head)?;
    let head = &head[..n];
    if head.starts_with(b"SQLite format 3\0") {
        Ok(FileKind::Sqlite)
    } else if head.starts_with(b"PGDMP") {
        Ok(FileKind::PgCustom)
    } else if head.starts_with(b"{") {
        bail!(
            "{} looks like an export, not a backup: load it with `promptrefine import`",
            path.display()
        )
    } else {
        bail!(
            "{} is not a backup made by `promptrefine backup`",
            path.display()
        )
    }
}

pub async fn restore(cfg: &Config, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let kind = file_kind(&args.file)?;
    let url = cfg.database_url.expose_secret();
    let target_is_sqlite = url.starts_with("sqlite:");
    match (&kind, target_is_sqlite) {
        (FileKind::Sqlite, true) | (FileKind::PgCustom, false) => {}
        _ => bail!(
            "{} is a {} backup but DATABASE_URL is {}: to move between databases use `promptrefine export` and `import`",
            args.file.display(),
            if kind == FileKind::Sqlite {
                "SQLite"
            } else {
                "PostgreSQL"
            },
            cfg.database_url_masked()
        ),
    }
    if target_is_sqlite {
        let target =
            sqlite_path(url).ok_or_else(|| anyhow!("DATABASE_URL does not name a SQLite file"))?;
        let check = sqlite_integrity_check(&args.file).await?;
        if check != "ok" {
            bail!(
                "{} failed its integrity check, nothing was changed: {check}",
                args.file.display()
            );
        }
        if target.exists() {
            refuse_unless_empty(cfg, args.force).await?;
        }
        replace_sqlite_file(&args.file, &target)?;
    } else {
        refuse_unless_empty(cfg, args.force).await?;
        pg_tool(
            cfg,
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                path_str(&args.file)?,
            ],
        )
        .await?;
    }
    let store = database::connect(cfg).await?;
    let schema = database::schema(&store).await?;
    let held = store.occupancy().await.unwrap_or_default();
    store.close().await;
    println!(
        "restored {} into {}: {} users, {} prompts; schema {}",
        args.file.display(),
        cfg.database_url_masked(),
        held.users,
        held.prompts,
        schema.summary()
    );
    Ok(ExitCode::SUCCESS)
}

/// The rule shared with `import`: a database with any user or prompt is
/// replaced only when asked with `--force`.
async fn refuse_unless_empty(cfg: &Config, force: bool) -> anyhow::Result<()> {
    let store: Store = database::connect(cfg).await?;
    let schema = database::schema(&store).await?;
    let held = if schema.current() == 0 {
        Default::default()
    } else {
        store.occupancy().await?
    };
    store.close().await;
    if !held.is_empty() && !force {
        bail!(
            "{} is not empty ({} users, {} prompts); add --force to replace it",
            cfg.database_url_masked(),
            held.users,
            held.prompts
        );
    }
    Ok(())
}

/// Copies the backup beside the target, then swaps it in. The old WAL and
/// shared-memory files go first: replayed onto the new file they would
/// corrupt it.
fn replace_sqlite_file(backup: &Path, target: &Path) -> anyhow::Result<()> {
    let mut temp = target.as_os_str().to_os_string();
    temp.push(".restoring");
    let temp = PathBuf::from(temp);
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(backup, &temp)
        .with_context(|| format!("cannot copy the backup to {}", temp.display()))?;
    std::fs::File::open(&temp)?.sync_all()?;
    for suffix in ["-wal", "-shm"] {
        let mut side = target.as_os_str().to_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).context("cannot remove the old write-ahead log");
            }
            _ => {}
        }
    }
    std::fs::rename(&temp, target)
        .with_context(|| format!("cannot move the backup to {}", target.display()))?;
    Ok(())
}

/// Runs `pg_dump` or `pg_restore` against the configured database.
async fn pg_tool(cfg: &Config, tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let (url, password) = without_password(cfg.database_url.expose_secret());
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args).arg("--dbname").arg(&url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = match cmd.output().await {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => bail!(
            "{tool} is not installed (or not on PATH): install the PostgreSQL client tools of the \
             server's major version, or make a portable copy with `promptrefine export --out FILE`"
        ),
        Err(e) => return Err(e).context(format!("cannot run {tool}")),
    };
    if !out.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The URL without the password in its user part, and that password
/// (percent-decoded) for `PGPASSWORD`.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((userinfo, host)) = rest[..authority_end].rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_string(), None);
    };
    let stripped = format!(
        "{}{user}@{host}{}",
        &url[..scheme_end],
        &rest[authority_end..]
    );
    (stripped, Some(percent_decode(password)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("{} is not a UTF-8 path", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        assert_eq!(
            without_password("postgres://u:p%40ss@h:5432/db?sslmode=disable"),
            (
                "postgres://u@h:5432/db?sslmode=disable".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            without_password("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }
}
