//! HTTP: the JSON API under `/api` ([`api`]), the HTML pages ([`pages`]), auth
//! ([`auth`]) and middleware. Both surfaces call the same `app` functions;
//! neither contains SQL.

#![warn(clippy::unwrap_used)]

pub mod api;
pub mod auth;
pub mod config;
mod launch;
pub mod middleware;
pub mod pages;
mod server;
mod state;
pub mod telemetry;

pub use config::{CookieSecure, WebConfig};
pub use launch::{LaunchConfig, LaunchError, Stopped, launch};
pub use server::{HEADER_READ_TIMEOUT, router, shutdown_signal};
pub use state::AppState;
