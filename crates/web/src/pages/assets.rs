//! Our stylesheet and script, compiled into the binary. Their URLs carry a
//! content hash, so they can be cached for a year and still change on upgrade.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
/// Browsers ask for `/favicon.ico` on every first visit; answering it keeps
/// the console free of 404s. Every current browser reads an SVG icon.
const ICON: &str = include_str!("../../assets/favicon.svg");

/// The versioned URLs templates link to.
pub struct AssetUrls {
    pub css: String,
    pub js: String,
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| AssetUrls {
    css: format!("/assets/app.css?v={}", short_hash(CSS)),
    js: format!("/assets/app.js?v={}", short_hash(JS)),
});

pub(super) fn urls() -> &'static AssetUrls {
    &URLS
}

const CACHE: &str = "public, max-age=31536000, immutable";

pub(super) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
        .into_response()
}

pub(super) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
        .into_response()
}

/// `/favicon.ico` and `/favicon.svg`: cached for a day (the URL carries no hash).
pub(super) async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}
