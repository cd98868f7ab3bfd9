//! API tests: the real server on a random port, per-test databases, real HTTP.
//! Every body runs on SQLite and PostgreSQL.

mod helpers;

mod assets;
mod auth;
mod datasets;
mod delivery;
mod evaluations;
mod evaluator_calls;
mod experiments;
mod faults;
mod foundation;
pub(crate) mod hostile;
mod launch;
mod metrics;
mod openapi;
mod presets;
mod prompts;
mod providers;
mod queries;
mod request_span;
mod routes;
mod runs;
