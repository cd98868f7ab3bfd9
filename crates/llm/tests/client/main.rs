//! The provider client against the mock OpenAI server, over real HTTP on
//! loopback: one test per outcome the client must map.

mod helpers;

mod failures;
mod models;
mod requests;
mod retries;
mod secrets;
mod success;
