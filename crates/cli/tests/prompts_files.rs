//! `prompts pull` / `prompts push` as a team using git runs them, on SQLite
//! and PostgreSQL: a round trip adds nothing, an edit adds exactly one
//! version, a new file is a new prompt, and names that are not slugs or that
//! lead outside the folder are refused before anything is written.

#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use promptrefine_app::App;
use promptrefine_app::auth::AuthPolicy;
use promptrefine_app::prompts::ListPrompts;
use promptrefine_store::{Store, StoreOptions};
use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, base_env, promptrefine};

both_backends!(
    sync:
    pull_then_push_adds_nothing_and_one_edit_adds_exactly_one_version,
    a_new_file_becomes_a_new_prompt_once,
    bad_names_and_paths_outside_the_folder_are_refused_and_nothing_is_written,
    a_link_planted_at_a_temporary_name_cannot_redirect_a_pull,
    a_recipe_with_tools_schemas_and_tool_messages_survives_push_pull_push,
);

fn ok(run: Run) -> Run {
    assert_eq!(run.code, Some(0), "{run:?}");
    run
}

/// A migrated database with the demo prompts (text and chat).
fn seeded(db: &TestDb, dir: &Path) -> Vec<(String, String)> {
    let env = base_env(db.url());
    ok(promptrefine(dir, &["migrate", "up"], &env));
    ok(promptrefine(dir, &["seed"], &env));
    env
}

/// Versions per prompt slug, read through the app.
fn versions(url: &str) -> BTreeMap<String, i64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
        let app = App::new(store.clone(), AuthPolicy::default());
        let page = app
            .list_prompts(ListPrompts {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut counts = BTreeMap::new();
        for p in page.items {
            let v = app.list_versions(p.id, None, Some(100)).await.unwrap();
            counts.insert(p.slug, v.items.len() as i64);
        }
        store.close().await;
        counts
    })
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn pull_then_push_adds_nothing_and_one_edit_adds_exactly_one_version(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = seeded(&db, work.path());
    let before = versions(db.url());
    let dir = work.path().join("prompts");

    let pulled = ok(promptrefine(
        work.path(),
        &["prompts", "pull", "prompts"],
        &env,
    ));
    assert!(pulled.stdout.contains("pulled 3 prompts"), "{pulled:?}");
    let summarize = dir.join("demo-summarize.prompt.toml");
    let original = std::fs::read_to_string(&summarize).unwrap();
    assert!(original.contains("type = \"text\""), "{original}");
    let chat = std::fs::read_to_string(dir.join("demo-support-reply.prompt.toml")).unwrap();
    assert!(
        chat.contains("[[messages]]") && !chat.contains("body ="),
        "{chat}"
    );

    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    assert!(
        push.stdout
            .contains("pushed 0 created, 0 updated, 3 unchanged"),
        "{push:?}"
    );
    assert_eq!(versions(db.url()), before, "an unchanged push adds nothing");

    // One body edit: one new version, of that prompt only.
    edit(&summarize, "plain sentences", "short, plain sentences");
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    assert!(
        push.stdout
            .contains("pushed 0 created, 1 updated, 2 unchanged"),
        "{push:?}"
    );
    let mut expected = before.clone();
    *expected.get_mut("demo-summarize").unwrap() += 1;
    assert_eq!(versions(db.url()), expected);

    // A title or a note alone is not a new version; pushing again adds nothing.
    edit(
        &dir.join("demo-sql-explainer.prompt.toml"),
        "title = \"Explain a SQL query\"",
        "title = \"Explain SQL\"",
    );
    edit(
        &dir.join("demo-support-reply.prompt.toml"),
        "note = ",
        "note = \"x\" # ",
    );
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    assert!(
        push.stdout
            .contains("updated   demo-sql-explainer.prompt.toml (title/tags)"),
        "{push:?}"
    );
    assert!(
        push.stdout
            .contains("pushed 0 created, 1 updated, 2 unchanged"),
        "{push:?}"
    );
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    assert!(push.stdout.contains("0 updated, 3 unchanged"), "{push:?}");
    assert_eq!(versions(db.url()), expected);

    // Pulling again gives the edited text back (the new version is current).
    ok(promptrefine(
        work.path(),
        &["prompts", "pull", "prompts"],
        &env,
    ));
    let again = std::fs::read_to_string(&summarize).unwrap();
    assert!(again.contains("short, plain sentences"), "{again}");
}

fn a_new_file_becomes_a_new_prompt_once(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = seeded(&db, work.path());
    let dir = work.path().join("prompts");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("greeting.prompt.toml"),
        "title = \"Greeting\"\ntags = [\"new\"]\nbody = '''\nSay hello to {{name}}.\n'''\n\n[settings]\nmodel = \"gpt-4o-mini\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("triage.prompt.toml"),
        "type = \"chat\"\n\n[[messages]]\nrole = \"system\"\ncontent = \"Sort tickets.\"\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ticket}}\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "not a prompt file\n").unwrap();

    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts", "-m", "from git"],
        &env,
    ));
    assert!(
        push.stdout
            .contains("created   greeting.prompt.toml (version 1)")
            && push
                .stdout
                .contains("created   triage.prompt.toml (version 1)")
            && push
                .stdout
                .contains("pushed 2 created, 0 updated, 0 unchanged"),
        "{push:?}"
    );
    let counts = versions(db.url());
    assert_eq!((counts["greeting"], counts["triage"]), (1, 1));
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    assert!(
        push.stdout.contains("0 created, 0 updated, 2 unchanged"),
        "{push:?}"
    );

    // Only the file named: the others are not even read.
    std::fs::write(dir.join("broken.prompt.toml"), "this is not toml").unwrap();
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts", "greeting"],
        &env,
    ));
    assert!(push.stdout.contains("0 updated, 1 unchanged"), "{push:?}");

    let out = work.path().join("out");
    ok(promptrefine(work.path(), &["prompts", "pull", "out"], &env));
    let triage = std::fs::read_to_string(out.join("triage.prompt.toml")).unwrap();
    assert!(
        triage.contains("title = \"triage\"") && triage.contains("note = \"from git\""),
        "{triage}"
    );
}

fn bad_names_and_paths_outside_the_folder_are_refused_and_nothing_is_written(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = seeded(&db, work.path());
    let before = versions(db.url());
    let dir = work.path().join("prompts");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("fine.prompt.toml"), "body = \"ok\"\n").unwrap();
    std::fs::write(work.path().join("x.prompt.toml"), "body = \"outside\"\n").unwrap();

    // A path that leads out of the folder, as an argument.
    for arg in ["../x", "../x.prompt.toml", "/etc/passwd", ".."] {
        let run = promptrefine(work.path(), &["prompts", "push", "prompts", arg], &env);
        assert_eq!(run.code, Some(2), "{arg}: {run:?}");
        assert!(
            run.stderr.contains(&format!("refusing {arg:?}"))
                && run.stderr.contains("outside it are not accepted"),
            "{arg}: {run:?}"
        );
    }

    // A file whose name is not a slug, among good ones: nothing is pushed.
    std::fs::write(dir.join("Bad_Name.prompt.toml"), "body = \"no\"\n").unwrap();
    let run = promptrefine(work.path(), &["prompts", "push", "prompts"], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("problem: Bad_Name.prompt.toml: \"Bad_Name\" is not a slug")
            && run.stderr.contains("nothing was pushed"),
        "{run:?}"
    );
    std::fs::remove_file(dir.join("Bad_Name.prompt.toml")).unwrap();

    // A symbolic link to a file outside the folder.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            work.path().join("x.prompt.toml"),
            dir.join("link.prompt.toml"),
        )
        .unwrap();
        let run = promptrefine(work.path(), &["prompts", "push", "prompts"], &env);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr
                .contains("problem: link.prompt.toml: a symbolic link")
                && run.stderr.contains("outside the folder"),
            "{run:?}"
        );
        std::fs::remove_file(dir.join("link.prompt.toml")).unwrap();
    }

    // A type change and a broken file are reported, together, by name.
    std::fs::write(
        dir.join("demo-summarize.prompt.toml"),
        "[[messages]]\nrole = \"user\"\ncontent = \"x\"\n",
    )
    .unwrap();
    let run = promptrefine(work.path(), &["prompts", "push", "prompts"], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("problem: demo-summarize.prompt.toml: demo-summarize is a text prompt, the file says chat"),
        "{run:?}"
    );
    assert_eq!(versions(db.url()), before, "nothing was written: {run:?}");
    assert!(!versions(db.url()).contains_key("fine"));
}

/// Before the fix, pull wrote through `.SLUG.prompt.toml.tmp`: a link planted
/// under that name sent the write to wherever it pointed.
fn a_link_planted_at_a_temporary_name_cannot_redirect_a_pull(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = seeded(&db, work.path());
    let dir = work.path().join("prompts");
    std::fs::create_dir(&dir).unwrap();
    let outside = work.path().join("outside.txt");
    std::fs::write(&outside, "untouched").unwrap();
    let slugs = ["demo-summarize", "demo-support-reply", "demo-sql-explainer"];
    #[cfg(unix)]
    for slug in slugs {
        std::os::unix::fs::symlink(&outside, dir.join(format!(".{slug}.prompt.toml.tmp"))).unwrap();
    }
    let pulled = ok(promptrefine(
        work.path(),
        &["prompts", "pull", "prompts"],
        &env,
    ));
    assert!(pulled.stdout.contains("pulled 3 prompts"), "{pulled:?}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
    for slug in slugs {
        let file = dir.join(format!("{slug}.prompt.toml"));
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.is_file(), "{slug} is a regular file");
        assert!(std::fs::read_to_string(&file).unwrap().contains("title = "));
    }
    // No temporary is left behind (the planted links are not ours to remove).
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pull-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

const RECIPE: &str = r#"title = "Recipe"
type = "chat"

[settings]
model = "gpt-4o-mini"
seed = 7
maxCompletionTokens = 64
frequencyPenalty = 0.5
presencePenalty = -0.5
reasoningEffort = "low"
parallelToolCalls = false
toolChoice = "required"
logitBias = { "50256" = -100 }
extra = { top_k = 40 }
responseFormat = { type = "json_schema", json_schema = { name = "out", strict = true, schema = { type = "object", properties = { a = { type = "number" } } } } }

[[settings.tools]]
type = "function"
function = { name = "lookup", description = "Find it", parameters = { type = "object", properties = { q = { type = "string" } }, required = ["q"] } }

[[messages]]
role = "user"
content = "Find {{thing}}"

[[messages]]
role = "assistant"
tool_calls = [{ id = "call_1", type = "function", function = { name = "lookup", arguments = '{"q":"x"}' } }]

[[messages]]
role = "tool"
tool_call_id = "call_1"
content = "found"

[[messages]]
role = "user"
content = [{ type = "text", text = "And {{this}}" }, { type = "image_url", image_url = { url = "{{image}}" } }]
"#;

/// The current version of prompt `slug` as the API shows it.
fn current_version(url: &str, slug: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
        let app = App::new(store.clone(), AuthPolicy::default());
        let page = app.list_prompts(ListPrompts::default()).await.unwrap();
        let p = page.items.into_iter().find(|p| p.slug == slug).unwrap();
        let v = app.list_versions(p.id, None, Some(1)).await.unwrap();
        let v = &v.items[0];
        store.close().await;
        serde_json::json!({ "content": v.content, "settings": v.settings })
    })
}

fn a_recipe_with_tools_schemas_and_tool_messages_survives_push_pull_push(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = seeded(&db, work.path());
    let dir = work.path().join("prompts");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("recipe.prompt.toml"), RECIPE).unwrap();
    ok(promptrefine(
        work.path(),
        &["prompts", "push", "prompts"],
        &env,
    ));
    let saved = current_version(db.url(), "recipe");
    let s = &saved["settings"];
    assert_eq!(
        s["tools"][0]["function"]["parameters"]["required"],
        serde_json::json!(["q"])
    );
    assert_eq!(
        s["responseFormat"]["json_schema"]["schema"]["properties"]["a"]["type"],
        "number"
    );
    assert_eq!(
        (
            s["seed"].as_i64(),
            s["maxCompletionTokens"].as_i64(),
            s["logitBias"]["50256"].as_i64()
        ),
        (Some(7), Some(64), Some(-100))
    );
    assert_eq!(s["extra"], serde_json::json!({ "top_k": 40 }));
    assert_eq!(
        saved["content"][1]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":\"x\"}"
    );
    assert!(saved["content"][1]["content"].is_null(), "{saved}");
    assert_eq!(saved["content"][2]["tool_call_id"], "call_1");
    assert_eq!(
        saved["content"][3]["content"][1]["image_url"]["url"],
        "{{image}}"
    );

    // Pulled into a fresh folder and pushed back: nothing changed, and the
    // version is the same recipe.
    ok(promptrefine(work.path(), &["prompts", "pull", "out"], &env));
    let pulled = std::fs::read_to_string(work.path().join("out/recipe.prompt.toml")).unwrap();
    assert!(pulled.contains("tool_call_id = \"call_1\""), "{pulled}");
    let push = ok(promptrefine(
        work.path(),
        &["prompts", "push", "out", "recipe"],
        &env,
    ));
    assert!(push.stdout.contains("0 updated, 1 unchanged"), "{push:?}");
    assert_eq!(current_version(db.url(), "recipe"), saved);
}
