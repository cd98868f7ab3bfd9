//! Repository tests: every body runs on SQLite and on PostgreSQL
//! (`sqlite::name` and `postgres::name`), each on a fresh database.

mod datasets;
mod experiments;
mod instances;
mod migrations;
mod presets;
mod prompts;
mod providers;
mod runs;
mod sessions;
mod transfer;
mod versions;

use promptrefine_core::{Content, ModelSettings, PromptType};
use promptrefine_store::{NewPrompt, NewVersion, Store, StoreOptions, migrate};
use promptrefine_testkit::TestDb;

/// Opens the test database and migrates it up.
pub async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&StoreOptions::new(db.url()))
        .await
        .expect("connect");
    migrate::up(&store).await.expect("migrate up");
    store
}

pub fn text_version(body: &str) -> NewVersion {
    NewVersion {
        content: Content::Text(body.to_string()),
        settings: ModelSettings::default(),
        variables: promptrefine_core::template::variables(body),
        note: None,
        author_id: None,
    }
}

/// A prompt with one saved text version per body, in order.
pub async fn prompt_with<const N: usize>(
    store: &Store,
    title: &str,
    slug: &str,
    bodies: [&str; N],
) -> (promptrefine_core::Prompt, [promptrefine_core::Version; N]) {
    let (p, _) = store
        .prompts()
        .create(new_prompt(title, slug, &[]))
        .await
        .unwrap();
    let mut versions = Vec::with_capacity(N);
    for body in bodies {
        versions.push(
            store
                .versions()
                .save(p.id, text_version(body))
                .await
                .unwrap(),
        );
    }
    let versions: [promptrefine_core::Version; N] =
        versions.try_into().unwrap_or_else(|_| unreachable!());
    (p, versions)
}

pub fn new_prompt(title: &str, slug: &str, tags: &[&str]) -> NewPrompt {
    NewPrompt {
        title: title.to_string(),
        slug: slug.to_string(),
        prompt_type: PromptType::Text,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        first_version: None,
    }
}
