//! The prompt page's read model: the prompt with its current version and
//! labels, one page of its version history and one page of its runs, each
//! run with its version's number, and its newest experiment.
//!
//! It is built from a fixed number of queries whatever the pages hold (the
//! prompt row once, with its version counter; the current version; the
//! labels; the versions page; the runs page with the numbers joined in SQL),
//! and a web test counts them. Stitching it from the single-purpose use
//! cases read the prompt row three or four times and looked a version up
//! per run.

use promptrefine_core::{PromptId, Version, VersionNumber};
use promptrefine_store::{ListedRun, Page, RunFilter};

use super::PromptDetail;
use super::versions::number_cursor;
use crate::error::{OrNotFound, Result};
use crate::runs::run_query;
use crate::{App, page_limit};

/// What the prompt page shows, as the person chose it (empty means "any").
#[derive(Clone, Debug, Default)]
pub struct OverviewFilters {
    /// The version history's page (`next_cursor` of the previous one).
    pub version_cursor: Option<String>,
    pub versions_limit: Option<i64>,
    /// Runs of the version with this number, `3` or `v3`; text that is not
    /// a version number matches no run.
    pub run_version: Option<String>,
    /// One of the run statuses.
    pub run_status: Option<String>,
    pub run_cursor: Option<String>,
    pub runs_limit: Option<i64>,
}

/// A prompt as its page shows it.
#[derive(Clone, Debug)]
pub struct PromptOverview {
    pub detail: PromptDetail,
    /// The newest version's number, wherever the history is paged to.
    pub newest_version: Option<i64>,
    pub versions: Page<Version>,
    pub runs: Page<ListedRun>,
    /// The newest experiment of the prompt, with its verdict once ended.
    pub latest_experiment: Option<crate::experiments::browse::LatestExperiment>,
}

impl App {
    pub async fn prompt_overview(
        &self,
        id: PromptId,
        filters: OverviewFilters,
    ) -> Result<PromptOverview> {
        let versions_limit = page_limit(filters.versions_limit)?;
        let version_cursor = number_cursor(filters.version_cursor.as_deref())?;
        let (status, run_cursor, runs_limit) = run_query(
            filters.run_status.as_deref(),
            filters.run_cursor.as_deref(),
            filters.runs_limit,
        )?;
        let run_version = match filters.run_version.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => VersionNumber::parse(text.trim_start_matches('v'))
                .map(|n| Some(n.get()))
                .ok_or(()),
        };

        let (prompt, newest) = self
            .store
            .prompts()
            .get_with_newest_number(id)
            .await
            .or_not_found("prompt")?;
        let detail = self.detail(prompt).await?;
        let versions = self
            .store
            .versions()
            .list(id, version_cursor, versions_limit)
            .await?;
        let runs = match run_version {
            Err(()) => Page {
                items: vec![],
                next_cursor: None,
            },
            Ok(version_number) => {
                let filter = RunFilter {
                    version_id: None,
                    version_number,
                    experiment_id: None,
                    status,
                };
                self.store
                    .runs()
                    .list_for_prompt(id, &filter, run_cursor, runs_limit)
                    .await?
            }
        };
        // One more query (two more reads and the statistics once the
        // newest experiment has ended with two variants).
        let latest_experiment = self.latest_experiment(id).await?;
        Ok(PromptOverview {
            latest_experiment,
            detail,
            newest_version: (newest > 0).then_some(newest),
            versions,
            runs,
        })
    }
}
