//! Server-rendered HTML pages (askama templates, auto-escaped).
//!
//! Pages call the same app use cases as `api/`, never the API itself. Forms
//! work without JavaScript (POST, then redirect with a fixed flash code);
//! `assets/app.js` adds streaming runs, shortcuts and live variable lists.
//! Datasets (`/app/datasets…`) are in [`datasets`], experiments
//! (`/app/experiments…`, launched from a prompt) in [`experiments`].
//! Every form post passes [`support::PostForm`]: same-site origin AND the
//! session's CSRF token.

mod assets;
mod datasets;
mod experiments;
mod login;
mod params;
mod prompts;
mod runs;
mod settings;
mod support;
mod versions;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use experiments::{display_name as experiments_display_name, verdict_word};
pub use support::{PageUser, safe_next};

/// What the layout needs on every page.
pub struct Chrome {
    pub asset: &'static assets::AssetUrls,
    /// Empty when signed out.
    pub email: String,
    pub csrf: String,
    pub flash: Option<&'static str>,
}

impl Chrome {
    pub fn signed_out() -> Chrome {
        Chrome {
            asset: assets::urls(),
            email: String::new(),
            csrf: String::new(),
            flash: None,
        }
    }

    pub fn for_user(user: &PageUser, flash: Option<&str>) -> Chrome {
        Chrome {
            asset: assets::urls(),
            email: user.email.clone(),
            csrf: user.csrf.clone(),
            flash: support::flash(flash),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app") }))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route("/favicon.ico", get(assets::icon))
        .route("/favicon.svg", get(assets::icon))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/setup", get(login::setup_show).post(login::setup_submit))
        .route("/app", get(prompts::list))
        .route("/app/prompts", post(prompts::create))
        .route("/app/prompts/{id}", get(prompts::show))
        .route("/app/prompts/{id}/versions", post(prompts::save))
        .route("/app/prompts/{id}/details", post(prompts::rename))
        .route(
            "/app/prompts/{id}/delete",
            get(prompts::confirm_delete).post(prompts::delete),
        )
        .route("/app/prompts/{id}/versions/{n}", get(versions::show))
        .route(
            "/app/prompts/{id}/versions/{n}/restore",
            post(versions::restore),
        )
        .route("/app/prompts/{id}/labels", post(versions::set_label))
        .route(
            "/app/prompts/{id}/labels/{label}/remove",
            post(versions::remove_label),
        )
        .route("/app/prompts/{id}/diff", get(versions::diff))
        .route("/app/runs/compare", get(runs::compare))
        .route("/app/runs/{id}", get(runs::show))
        .route("/app/runs/{id}/to-dataset", post(runs::to_dataset))
        .route("/app/datasets", get(datasets::list).post(datasets::create))
        .route("/app/datasets/{id}", get(datasets::show))
        .route("/app/datasets/{id}/items", post(datasets::add_item))
        .route(
            "/app/datasets/{id}/items/{item}/edit",
            post(datasets::edit_item),
        )
        .route(
            "/app/datasets/{id}/items/{item}/delete",
            post(datasets::delete_item),
        )
        .route("/app/datasets/{id}/import", post(datasets::import))
        .route("/app/prompts/{id}/experiments/new", get(experiments::new))
        .route("/app/prompts/{id}/experiments", post(experiments::create))
        .route("/app/experiments", get(experiments::list))
        .route("/app/experiments/compare", get(experiments::compare))
        .route("/app/experiments/{id}", get(experiments::show))
        .route(
            "/app/experiments/{id}/results",
            get(experiments::results_fragment),
        )
        .route("/app/experiments/{id}/pause", post(experiments::pause))
        .route("/app/experiments/{id}/resume", post(experiments::resume))
        .route("/app/experiments/{id}/cancel", post(experiments::cancel))
        .route(
            "/app/experiments/{id}/cells/{position}/{variant}/{repeat}",
            get(experiments::cell),
        )
        .route("/app/settings", get(settings::show))
        .route("/app/settings/tokens", post(settings::create_token))
        .route(
            "/app/settings/tokens/{id}/revoke",
            post(settings::revoke_token),
        )
        .route(
            "/app/settings/providers",
            get(settings::providers::list).post(settings::providers::create),
        )
        .route(
            "/app/settings/providers/{id}",
            get(settings::providers::edit).post(settings::providers::update),
        )
        .route(
            "/app/settings/providers/{id}/delete",
            post(settings::providers::delete),
        )
        .route(
            "/app/settings/providers/{id}/test",
            post(settings::providers::test),
        )
        .route(
            "/app/settings/presets",
            get(settings::presets::list).post(settings::presets::create),
        )
        .route(
            "/app/settings/presets/{id}",
            get(settings::presets::edit).post(settings::presets::update),
        )
        .route(
            "/app/settings/presets/{id}/delete",
            post(settings::presets::delete),
        )
}

pub fn not_found() -> Response {
    support::PageError::from_status(StatusCode::NOT_FOUND).into_response()
}
