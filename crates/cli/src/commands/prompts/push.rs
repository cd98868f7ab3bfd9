//! `prompts push DIR [FILE…]`: find the files, check every one, then write.
//! Nothing is written while any file has a problem, so a typo in one file
//! does not leave the others half pushed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use promptrefine_app::prompts::{CreatePrompt, PromptDetail, SaveVersion, UpdatePrompt};
use promptrefine_app::{App, AppError};
use promptrefine_core::PromptId;

use super::file::{self, PromptFile, SUFFIX};
use crate::config::Config;

/// What a push will do with one file.
enum Plan {
    Create(CreatePrompt),
    Change {
        id: PromptId,
        version: Option<SaveVersion>,
        meta: Option<UpdatePrompt>,
    },
    Unchanged,
}

/// One file, read and checked.
struct Found {
    name: String,
    slug: String,
    file: PromptFile,
}

pub async fn push(
    cfg: &Config,
    dir: &Path,
    only: &[String],
    message: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let root = dir
        .canonicalize()
        .ok()
        .filter(|d| d.is_dir())
        .with_context(|| format!("{} is not a folder", dir.display()))?;
    let names = match only {
        [] => all_prompt_files(&root)?,
        only => match only.iter().map(|a| name_in(&root, a)).collect() {
            Ok(names) => names,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(crate::EXIT_CONFIG));
            }
        },
    };
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for name in names {
        match read(&root, &name) {
            Ok(f) => found.push(f),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Ok(refuse(&problems));
    }

    let app = crate::database::open_app(cfg).await?;
    let mut plans = Vec::with_capacity(found.len());
    for f in &found {
        match plan(&app, f, message).await {
            Ok(p) => plans.push(p),
            Err(e) => problems.push(format!("{}: {e}", f.name)),
        }
    }
    if !problems.is_empty() {
        return Ok(refuse(&problems));
    }

    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for (f, plan) in found.iter().zip(plans) {
        let done = apply(&app, plan).await.map_err(|e| {
            anyhow::anyhow!(
                "{}: {}; the {} file(s) before it were pushed (pushing again is safe)",
                f.name,
                describe(&e),
                created + updated + unchanged
            )
        })?;
        match done {
            Done::Created(v) => {
                created += 1;
                println!("created   {} (version {v})", f.name);
            }
            Done::Updated { version, meta } => {
                updated += 1;
                let mut what = Vec::new();
                if let Some(v) = version {
                    what.push(format!("version {v}"));
                }
                if meta {
                    what.push("title/tags".to_owned());
                }
                println!("updated   {} ({})", f.name, what.join(", "));
            }
            Done::Unchanged => {
                unchanged += 1;
                println!("unchanged {}", f.name);
            }
        }
    }
    app.store().close().await;
    println!("pushed {created} created, {updated} updated, {unchanged} unchanged");
    Ok(ExitCode::SUCCESS)
}

fn refuse(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("problem: {p}");
    }
    eprintln!("nothing was pushed");
    ExitCode::FAILURE
}

/// Every `*.prompt.toml` directly in `root`, sorted (other files are not
/// ours, and sub-folders are not searched).
fn all_prompt_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?
    {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(SUFFIX) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// A file named on the command line, as a name inside `root`: a slug, a
/// file name, or a path whose folder is `root`. Anything else is refused.
fn name_in(root: &Path, arg: &str) -> Result<String, String> {
    if promptrefine_core::slug::is_valid_slug(arg) {
        return Ok(format!("{arg}{SUFFIX}"));
    }
    let path = Path::new(arg);
    let name = path.file_name().and_then(|n| n.to_str());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let inside = match parent {
        None => true,
        Some(p) => p.canonicalize().is_ok_and(|p| p == root),
    };
    match name {
        Some(name) if inside && name != ".." => Ok(name.to_owned()),
        _ => Err(format!(
            "refusing {arg:?}: name prompt files inside {} (SLUG or SLUG{SUFFIX}); paths outside it are not accepted",
            root.display()
        )),
    }
}

/// Reads and checks one file; the reason when it cannot be pushed.
fn read(root: &Path, name: &str) -> Result<Found, String> {
    let slug = file::slug_of(name)?.to_owned();
    let path: PathBuf = root.join(name);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("cannot read it: {e}"))?;
    if meta.file_type().is_symlink() {
        let target = path
            .canonicalize()
            .map_err(|e| format!("a symbolic link that cannot be followed: {e}"))?;
        if target.parent() != Some(root) {
            return Err(format!(
                "a symbolic link to {}, outside the folder; prompt files must be inside it",
                target.display()
            ));
        }
    }
    if !path.is_file() {
        return Err("not a regular file".into());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read it: {e}"))?;
    let file = PromptFile::parse(&slug, &text)?;
    Ok(Found {
        name: name.to_owned(),
        slug,
        file,
    })
}

/// Compares a file with the stored prompt; reads only.
async fn plan(app: &App, f: &Found, message: Option<&str>) -> Result<Plan, String> {
    let file = f.file.clone();
    let detail: PromptDetail = match app.get_prompt_by_slug(&f.slug).await {
        Ok(d) => d,
        Err(AppError::NotFound(_)) => {
            return Ok(Plan::Create(CreatePrompt {
                title: file.title,
                prompt_type: file.prompt_type,
                tags: file.tags,
                slug: Some(f.slug.clone()),
                content: Some(file.content),
                settings: Some(file.settings),
                note: message.map(str::to_owned).or(file.note),
            }));
        }
        Err(e) => return Err(describe(&e)),
    };
    let prompt = &detail.prompt;
    if prompt.prompt_type != file.prompt_type {
        return Err(format!(
            "{} is a {} prompt, the file says {}; a prompt's type cannot change (use a new slug)",
            f.slug,
            prompt.prompt_type.as_str(),
            file.prompt_type.as_str()
        ));
    }
    let current = detail.current_version.as_ref();
    let same_body =
        current.is_some_and(|v| v.content == file.content && v.settings == file.settings);
    let version = (!same_body).then(|| {
        let old_note = current.and_then(|v| v.note.as_deref());
        // The pulled note describes the version the file came from; it only
        // describes a new one if someone changed it.
        let note = match message {
            Some(m) => Some(m.to_owned()),
            None => file.note.filter(|n| Some(n.as_str()) != old_note),
        };
        SaveVersion {
            content: file.content,
            settings: file.settings,
            note,
        }
    });
    let same_meta = prompt.title == file.title && prompt.tags == file.tags;
    let meta = (!same_meta).then_some(UpdatePrompt {
        title: Some(file.title),
        slug: None,
        tags: Some(file.tags),
    });
    Ok(match (version, meta) {
        (None, None) => Plan::Unchanged,
        (version, meta) => Plan::Change {
            id: prompt.id,
            version,
            meta,
        },
    })
}

enum Done {
    Created(i64),
    Updated { version: Option<i64>, meta: bool },
    Unchanged,
}

async fn apply(app: &App, plan: Plan) -> Result<Done, AppError> {
    match plan {
        Plan::Create(input) => {
            let d = app.create_prompt(input, None).await?;
            Ok(Done::Created(d.current_version.map_or(0, |v| v.version)))
        }
        Plan::Change { id, version, meta } => {
            let has_meta = meta.is_some();
            if let Some(m) = meta {
                app.update_prompt(id, m).await?;
            }
            let version = match version {
                Some(v) => Some(app.save_version(id, v, None).await?.version),
                None => None,
            };
            Ok(Done::Updated {
                version,
                meta: has_meta,
            })
        }
        Plan::Unchanged => Ok(Done::Unchanged),
    }
}

/// An app error as one line, with each broken rule.
fn describe(e: &AppError) -> String {
    match e.violations() {
        Some(v) => v
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; "),
        None => e.to_string(),
    }
}
