//! Repository tests: every body runs on SQLite and on PostgreSQL
//! (`sqlite::name` and `postgres::name`), each on a fresh database.

mod datasets;
mod experiments;
mod instances;
mod migrations;
mod prompts;
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

pub fn new_prompt(title: &str, slug: &str, tags: &[&str]) -> NewPrompt {
    NewPrompt {
        title: title.to_string(),
        slug: slug.to_string(),
        prompt_type: PromptType::Text,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        first_version: None,
    }
}
