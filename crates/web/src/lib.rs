//! HTTP: the JSON API under `/api` ([`api`]), the HTML pages ([`pages`]), auth
//! ([`auth`]) and middleware. Both surfaces call the same `app` functions;
//! neither contains SQL.

pub mod api;
pub mod auth;
pub mod config;
pub mod middleware;
pub mod pages;
mod server;
mod state;
pub mod telemetry;

pub use config::{CookieSecure, WebConfig};
pub use server::{
    HEADER_READ_TIMEOUT, router, router_with, serve, serve_router, serve_router_with,
    shutdown_signal,
};
pub use state::AppState;
