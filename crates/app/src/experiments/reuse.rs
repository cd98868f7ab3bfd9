//! Finding a finished experiment whose cells can stand in for one variant of
//! a new one — the CI gate's baseline, which rarely changes between runs.
//!
//! Reusable means the old cells ran exactly what new ones would: the same
//! prompt and pinned dataset version, the same repeats and evaluators (as
//! stored, in their canonical form), a variant with the same version,
//! provider, model and settings, and every cell of the experiment ended
//! succeeded (a baseline with failed or cancelled cells would compare
//! against holes).

use promptrefine_core::{Experiment, ExperimentStatus};
use promptrefine_store::{Cursor, ExperimentFilter, NewExperiment};

use super::CreateExperiment;
use crate::App;
use crate::error::{AppError, Result};

/// How many of the newest experiments on the prompt and dataset are looked
/// at; an older match is not worth a longer scan (the gate just runs it).
const SCAN_LIMIT: usize = 200;
const PAGE: usize = 50;

/// A finished experiment and which of its variants matches.
#[derive(Clone, Debug)]
pub struct Reusable {
    pub experiment: Experiment,
    pub variant: i64,
}

impl App {
    /// The newest finished experiment that already ran variant `variant` of
    /// `input` (as `create_experiment` would resolve it today), if any.
    /// `Err` when `input` itself is invalid, as creating it would be.
    pub async fn find_reusable_variant(
        &self,
        input: &CreateExperiment,
        variant: usize,
    ) -> Result<Option<Reusable>> {
        let planned = self.plan_experiment(input).await?;
        if variant >= planned.variants.len() {
            return Err(AppError::invalid(
                "variant",
                "range",
                format!(
                    "variant must be less than the number of variants ({})",
                    planned.variants.len()
                ),
            ));
        }
        let filter = ExperimentFilter {
            prompt_id: Some(planned.prompt_id),
            dataset_id: Some(planned.dataset_id),
        };
        let mut cursor: Option<Cursor> = None;
        let mut seen = 0;
        while seen < SCAN_LIMIT {
            let page = self.store.experiments().list(&filter, cursor, PAGE).await?;
            seen += page.items.len();
            if let Some(found) = page
                .items
                .into_iter()
                .find_map(|e| reusable(e, &planned, variant))
            {
                return Ok(Some(found));
            }
            cursor = match page.next_cursor.as_deref().and_then(Cursor::decode) {
                Some(c) => Some(c),
                None => break,
            };
        }
        Ok(None)
    }
}

fn reusable(old: Experiment, planned: &NewExperiment, variant: usize) -> Option<Reusable> {
    let want = &planned.variants[variant];
    let p = &old.progress;
    let complete =
        old.status == ExperimentStatus::Succeeded && p.succeeded == p.total && p.total > 0;
    if !complete
        || old.dataset_version != planned.dataset_version
        || old.repeats != planned.repeats
        || old.evaluators != planned.evaluators
    {
        return None;
    }
    let index = old.variants.iter().position(|v| {
        v.version_id == want.version_id
            && v.provider == want.provider
            && v.model == want.model
            && v.params == want.params
    })?;
    Some(Reusable {
        experiment: old,
        variant: index as i64,
    })
}
