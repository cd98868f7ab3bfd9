//! Bodies of `/api/prompts/{id}/labels`.

use promptrefine_core::VersionId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetLabel {
    pub version_id: VersionId,
}

#[derive(Serialize, ToSchema)]
pub struct Removed {
    pub removed: bool,
}
