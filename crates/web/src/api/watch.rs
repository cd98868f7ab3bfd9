//! `GET /api/prompts/by-slug/{slug}/watch?label=…`: a Server-Sent Events
//! stream of what the label resolves to. The first event carries the
//! current ETag at once (unless `Last-Event-ID` already names it: a client
//! that resumes gets only news), then one event per change. Each event's
//! `id` is the ETag, so a reconnecting client resumes where it was. Comment
//! heartbeats keep proxies from closing an idle stream.
//!
//! A watcher costs a receiver of the key's shared channel (see
//! `app::delivery::watch`) and this stream; nothing polls.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use promptrefine_app::delivery::watch::Watched;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::prompts::{WatchEvent, WatchQuery};
use super::envelope::{ApiError, ErrorEnvelope};
use super::extract::ApiQuery;
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(watch_by_slug))
}

/// Streams the ETag of what a label resolves to: now, and at every change
/// (`text/event-stream`, events named `prompt` with a `WatchEvent` body and
/// the ETag as `id`; `Last-Event-ID` resumes).
#[utoipa::path(get, path = "/api/prompts/by-slug/{slug}/watch", tag = "prompts",
    params(("slug" = String, Path), WatchQuery, ("Last-Event-ID" = Option<String>, Header)),
    responses((status = 200, description = "An event stream of `WatchEvent`s", content_type = "text/event-stream", body = WatchEvent),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn watch_by_slug(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(q): ApiQuery<WatchQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let rx = state.app.watch(&slug, q.label.as_deref()).await?;
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let closing = state.app.delivery().closing();
    let stream = futures::stream::unfold(
        (rx, Phase::First(last_seen), closing),
        |(mut rx, phase, closing)| async move {
            if let Phase::First(seen) = phase {
                let current = rx.borrow_and_update().clone();
                if seen.as_deref() != current.etag.as_deref() {
                    return Some((Ok(event(&current)), (rx, Phase::Next, closing)));
                }
            }
            let next = changed(&mut rx, &closing).await?;
            Some((Ok(event(&next)), (rx, Phase::Next, closing)))
        },
    );
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.config.watch_heartbeat)
            .text("heartbeat"),
    ))
}

enum Phase {
    /// Nothing sent yet; the client's `Last-Event-ID`, if any.
    First(Option<String>),
    Next,
}

/// The next value that differs from the last one sent; `None` ends the
/// stream (the server is shutting down).
async fn changed(
    rx: &mut watch::Receiver<Watched>,
    closing: &CancellationToken,
) -> Option<Watched> {
    tokio::select! {
        _ = closing.cancelled() => None,
        r = rx.changed() => {
            r.ok()?;
            Some(rx.borrow_and_update().clone())
        }
    }
}

fn event(w: &Watched) -> Event {
    let body = WatchEvent {
        etag: w.etag.clone(),
        version: w.version,
    };
    Event::default()
        .event("prompt")
        // An empty id resets the client's last event id: a deleted label
        // has no ETag to resume from.
        .id(w.etag.clone().unwrap_or_default())
        .json_data(body)
        .expect("a watch event serializes")
}
