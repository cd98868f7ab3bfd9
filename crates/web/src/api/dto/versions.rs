//! Bodies of `/api/prompts/{id}/versions`, restore and diff.

use promptrefine_app::prompts as app;
use promptrefine_core::diff::VersionDiff;
use promptrefine_core::{Content, ModelSettings, Version, VersionId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /api/prompts/{id}/versions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaveVersion {
    pub content: Content,
    #[serde(default)]
    pub settings: ModelSettings,
    #[serde(default)]
    pub note: Option<String>,
}

impl From<SaveVersion> for app::SaveVersion {
    fn from(b: SaveVersion) -> Self {
        app::SaveVersion {
            content: b.content,
            settings: b.settings,
            note: b.note,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionPage {
    pub items: Vec<Version>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreRequest {
    pub version_id: VersionId,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version number.
    pub from: i64,
    /// The newer version number; default: the current version.
    pub to: Option<i64>,
}

/// The answer of a diff: which versions, and the line diffs.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    pub from: i64,
    pub to: i64,
    #[serde(flatten)]
    pub diff: VersionDiff,
}

impl From<app::DiffResult> for DiffResult {
    fn from(d: app::DiffResult) -> Self {
        DiffResult {
            from: d.from,
            to: d.to,
            diff: d.diff,
        }
    }
}
