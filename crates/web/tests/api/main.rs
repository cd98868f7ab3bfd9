//! API tests: the real server on a random port, per-test databases, real HTTP.
//! Every body runs on SQLite and PostgreSQL.

mod helpers;

mod auth;
mod faults;
mod foundation;
mod hostile;
mod launch;
mod metrics;
mod prompts;
mod request_span;
mod routes;
mod runs;
