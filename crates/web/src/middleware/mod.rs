//! Middleware, outermost first: request id → tracing → API error envelope →
//! timeouts and body limits (and the body-read deadline inside them) → security headers → panic catcher. Auth is an
//! extractor (`auth::CurrentUser`) so each handler states what it needs.

pub mod body_limit;
pub mod body_timeout;
pub mod request_id;
pub mod security_headers;
