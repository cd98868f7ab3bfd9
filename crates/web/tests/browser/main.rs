//! Browser tests: the real pages in headless Chromium (Debian's `chromium` +
//! `chromium-driver`, driven by fantoccini), against the real server on a
//! fresh SQLite database and the mock OpenAI server. Each flow saves a
//! screenshot of its last page under `target/test-output/screenshots/`.
//! `pages` holds plain HTTP checks of every page (no browser).

mod dataset_pages;
mod experiment_flows;
mod experiment_pages;
mod flows;
mod pages;
mod preset_pages;
mod provider_pages;
mod support;

use std::future::Future;
use std::time::Duration;

/// Every test is bounded in time.
pub async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("the test took longer than 150 s");
}
