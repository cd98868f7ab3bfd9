//! `prompts pull DIR` / `prompts push DIR`: prompts as files, so a team can
//! keep them in git, review changes as diffs, and push them back.
//!
//! * **pull** writes each prompt's current version and metadata to
//!   `DIR/<slug>.prompt.toml` ([`file`] describes the format), replacing
//!   what is there; it deletes nothing.
//! * **push** reads every `*.prompt.toml` directly in DIR (or only the files
//!   named), checks them all, and only then writes: a missing prompt is
//!   created; a changed body or settings saves one new version; a changed
//!   title or tags updates the prompt; anything else adds nothing, so
//!   pull → push is a no-op and a push can be repeated safely.
//!
//! Everything goes through the app's use cases (the same validation as the
//! API); no SQL here. File names are slugs (`[a-z0-9-]`), so a name can never
//! point outside DIR, and a symbolic link that leads out of DIR is refused.

pub mod file;
mod push;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use promptrefine_app::prompts::ListPrompts;

use crate::config::Config;
use crate::database;
use file::PromptFile;

pub use push::push;

pub async fn pull(cfg: &Config, dir: &Path) -> anyhow::Result<ExitCode> {
    let app = database::open_app(cfg).await?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (mut written, mut skipped) = (0, 0);
    let mut cursor = None;
    loop {
        let page = app
            .list_prompts(ListPrompts {
                cursor,
                limit: Some(100),
                ..Default::default()
            })
            .await?;
        for prompt in page.items {
            let detail = app.get_prompt(prompt.id).await?;
            let Some(version) = detail.current_version else {
                println!("skipped   {} (no saved version yet)", prompt.slug);
                skipped += 1;
                continue;
            };
            let Some(name) = file::file_name(&prompt.slug) else {
                println!(
                    "skipped   {:?} (not a slug that can be a file name)",
                    prompt.slug
                );
                skipped += 1;
                continue;
            };
            let text = PromptFile {
                title: prompt.title,
                prompt_type: prompt.prompt_type,
                tags: prompt.tags,
                note: version.note,
                content: version.content,
                settings: version.settings,
            }
            .render()
            .map_err(|e| anyhow::anyhow!("{}: {e}", prompt.slug))?;
            write_atomically(&dir.join(&name), &text)?;
            println!("wrote     {name} (version {})", version.version);
            written += 1;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    app.store().close().await;
    println!(
        "pulled {written} prompts into {}; {skipped} skipped",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a fresh temporary file in the same folder and renames it over
/// `path`, so a reader (or a crash) never sees half a file, and a symbolic
/// link at `path` is replaced rather than followed out of the folder. The
/// temporary gets a random name and is created with `O_EXCL` (the
/// `tempfile` crate), so nothing planted in DIR beforehand can redirect the
/// write.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".pull-").suffix(".tmp");
    // Prompt files are ordinary files for git: readable like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
