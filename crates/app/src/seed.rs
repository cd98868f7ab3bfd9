//! Demo data for `promptrefine seed`: a few prompts of both types with several
//! versions, labels, variables and finished runs of every final status.
//!
//! Idempotent: every demo prompt has a fixed slug, and a prompt whose slug
//! exists is left alone, so running it twice adds nothing.

use std::collections::BTreeMap;

use promptrefine_core::template::content_variables;
use promptrefine_core::{ChatMessage, Content, ModelSettings, PromptType, Role, RunId, RunStatus};
use promptrefine_store::{NewPrompt, NewRun, NewVersion, RunOutcome};

use crate::{App, Result};

/// What a seed run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub prompts_created: usize,
    pub prompts_skipped: usize,
    pub versions: usize,
    pub runs: usize,
}

struct Demo {
    slug: &'static str,
    title: &'static str,
    tags: &'static [&'static str],
    versions: Vec<(Content, &'static str)>,
    variables: &'static [(&'static str, &'static str)],
}

fn text(s: &str) -> Content {
    Content::Text(s.to_string())
}

fn chat(messages: &[(Role, &str)]) -> Content {
    Content::Chat(
        messages
            .iter()
            .map(|(role, c)| ChatMessage {
                role: *role,
                content: c.to_string(),
                ..Default::default()
            })
            .collect(),
    )
}

fn demos() -> Vec<Demo> {
    vec![
        Demo {
            slug: "demo-support-reply",
            title: "Support reply",
            tags: &["demo", "support"],
            versions: vec![
                (
                    chat(&[
                        (Role::System, "You answer support emails for {{company}}."),
                        (Role::User, "{{email}}"),
                    ]),
                    "first draft",
                ),
                (
                    chat(&[
                        (
                            Role::System,
                            "You answer support emails for {{company}}. Be brief and kind.",
                        ),
                        (Role::User, "Customer {{customer.name}} wrote:\n{{email}}"),
                    ]),
                    "tone and customer name",
                ),
                (
                    chat(&[
                        (
                            Role::System,
                            "You answer support emails for {{company}}. Be brief and kind. Never promise refunds.",
                        ),
                        (Role::User, "Customer {{customer.name}} wrote:\n{{email}}"),
                    ]),
                    "no refund promises",
                ),
            ],
            variables: &[
                ("company", "ACME"),
                ("customer.name", "Ada"),
                ("email", "My order is late."),
            ],
        },
        Demo {
            slug: "demo-summarize",
            title: "Summarize an article",
            tags: &["demo", "writing"],
            versions: vec![
                (
                    text("Summarize in {{sentences}} sentences:\n\n{{article}}"),
                    "first draft",
                ),
                (
                    text(
                        "Summarize the article below in {{sentences}} plain sentences for {{audience}}.\n\n{{article}}",
                    ),
                    "audience",
                ),
            ],
            variables: &[
                ("sentences", "2"),
                ("audience", "busy engineers"),
                ("article", "Rust 2024 is out."),
            ],
        },
        Demo {
            slug: "demo-sql-explainer",
            title: "Explain a SQL query",
            tags: &["demo", "engineering"],
            versions: vec![(
                text("Explain what this query does, step by step:\n\n```sql\n{{query}}\n```"),
                "first draft",
            )],
            variables: &[(
                "query",
                "select count(*) from prompts where slug like 'demo-%'",
            )],
        },
    ]
}

impl App {
    pub async fn seed_demo(&self) -> Result<SeedReport> {
        let mut report = SeedReport::default();
        for demo in demos() {
            if self.store.prompts().slug_exists(demo.slug).await? {
                report.prompts_skipped += 1;
                continue;
            }
            let prompt_type = demo.versions[0].0.prompt_type();
            let mut versions = demo.versions.into_iter().map(|(content, note)| NewVersion {
                variables: content_variables(&content),
                content,
                settings: ModelSettings {
                    model: Some("mock-echo".into()),
                    temperature: Some(0.2),
                    ..Default::default()
                },
                note: Some(note.to_string()),
                author_id: None,
            });
            let (prompt, first) = self
                .store
                .prompts()
                .create(NewPrompt {
                    title: demo.title.to_string(),
                    slug: demo.slug.to_string(),
                    prompt_type,
                    tags: demo.tags.iter().map(|t| t.to_string()).collect(),
                    first_version: versions.next(),
                })
                .await?;
            let mut saved = vec![first.expect("a first version was given")];
            for v in versions {
                saved.push(self.store.versions().save(prompt.id, v).await?);
            }
            report.prompts_created += 1;
            report.versions += saved.len();
            self.store
                .labels()
                .set(prompt.id, "production", saved[0].id)
                .await?;
            if saved.len() > 1 {
                self.store
                    .labels()
                    .set(prompt.id, "staging", saved[saved.len() - 1].id)
                    .await?;
            }

            let variables: BTreeMap<String, String> = demo
                .variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let outcomes = [
                (RunStatus::Succeeded, None),
                (
                    RunStatus::Failed,
                    Some((
                        "rate_limited",
                        "the provider answered 429 Too Many Requests",
                    )),
                ),
                (RunStatus::Cancelled, None),
                (
                    RunStatus::Interrupted,
                    Some((
                        "interrupted",
                        "the server stopped while this run was in flight",
                    )),
                ),
            ];
            for (i, (status, error)) in outcomes.into_iter().enumerate() {
                let version = &saved[i % saved.len()];
                let input = crate::prompts::render(&version.content, &variables)?.to_messages();
                let new = NewRun {
                    id: RunId::new(),
                    prompt_id: prompt.id,
                    version_id: version.id,
                    provider: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    params: version.settings.clone(),
                    variables: variables.clone(),
                    input: input.clone(),
                    request_id: None,
                    owner: self.instance_id(),
                    cell: None,
                    judge_of: None,
                    request_body: None,
                    replay_of: None,
                };
                self.store.runs().start(&new).await?;
                let output = match status {
                    RunStatus::Succeeded => format!(
                        "Echo: {}",
                        input.last().map(|m| m.content.as_str()).unwrap_or("")
                    ),
                    RunStatus::Cancelled => "Partial answer bef".to_string(),
                    _ => String::new(),
                };
                let succeeded = status == RunStatus::Succeeded;
                let outcome = RunOutcome {
                    status: Some(status),
                    output,
                    finish_reason: succeeded.then(|| "stop".to_string()),
                    error_code: error
                        .map(|e| e.0.to_string())
                        .or((status == RunStatus::Cancelled).then(|| "cancelled".into())),
                    error_message: error.map(|e| e.1.to_string()),
                    prompt_tokens: succeeded.then_some(42),
                    completion_tokens: succeeded.then_some(17),
                    total_tokens: succeeded.then_some(59),
                    tokens_estimated: false,
                    cost_micro_usd: succeeded.then_some(17),
                    latency_ms: Some(850 + 40 * i as i64),
                    ttft_ms: succeeded.then_some(210),
                    ..Default::default()
                };
                self.store.runs().finish(new.id, &outcome).await?;
                report.runs += 1;
            }
        }
        Ok(report)
    }
}

/// The prompt types the demo data covers (for tests).
pub fn demo_types() -> Vec<PromptType> {
    demos()
        .iter()
        .map(|d| d.versions[0].0.prompt_type())
        .collect()
}
