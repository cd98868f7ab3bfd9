//! PromptRefine's domain: the types every other layer speaks in, and the pure
//! logic on them (template variables and rendering, diffs, validation rules).
//!
//! Nothing here does I/O, so everything here is unit-tested next to the code.

pub mod datasets;
pub mod diff;
pub mod domain;
pub mod experiment;
pub mod ids;
pub mod slug;
pub mod template;
pub mod validate;

pub use datasets::{Dataset, DatasetItem};
pub use domain::*;
pub use experiment::{CellStatus, CostEstimate, Experiment, ExperimentStatus, Progress, Variant};
pub use ids::*;
pub use slug::Slug;
pub use validate::{DatasetName, LabelName, ModelName, Tag, Tags, Title, VersionNumber};
