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

pub use config::{CookieSecure, WebConfig};
pub use server::{router, router_with, serve, serve_router, shutdown_signal};
pub use state::AppState;
