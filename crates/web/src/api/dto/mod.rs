//! The wire contract of the JSON API: every request and response body and
//! query string, one module per resource. Field names (camelCase), unknown
//! field rejection and the OpenAPI schemas live here and only here; each
//! type maps to or from the plain inputs and read models of `app`, so a
//! change to a JSON field touches this crate alone.
//!
//! The type names are part of the contract too: they are the schema names
//! in `/api/openapi.json` (a snapshot test keeps the document unchanged).

pub mod datasets;
pub mod evaluations;
pub mod experiments;
pub mod labels;
pub mod models;
pub mod presets;
pub mod prompts;
pub mod providers;
pub mod versions;

use serde::{Deserialize, Deserializer};

/// A field that was sent, possibly as null (`Some(None)`), told apart from
/// one that was not (`None`, through `#[serde(default)]`): what PATCH bodies
/// need to tell "remove" from "keep".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
