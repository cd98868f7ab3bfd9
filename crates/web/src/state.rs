use std::sync::Arc;

use axum::extract::FromRef;
use promptrefine_app::App;

use crate::config::WebConfig;
use crate::telemetry::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<WebConfig>,
    /// This server's own Prometheus recorder (see [`crate::telemetry`]).
    pub metrics: Metrics,
}

impl AppState {
    /// With metrics on, `app` also reports its finished runs to this
    /// state's recorder.
    pub fn new(app: App, config: WebConfig) -> AppState {
        let (app, metrics) = if config.metrics_enabled {
            let metrics = Metrics::new();
            (app.with_run_observer(metrics.run_observer()), metrics)
        } else {
            (app, Metrics::disabled())
        };
        AppState {
            app,
            config: Arc::new(config),
            metrics,
        }
    }
}

impl FromRef<AppState> for App {
    fn from_ref(s: &AppState) -> App {
        s.app.clone()
    }
}
