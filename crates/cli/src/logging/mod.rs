//! Logs: JSON lines for machines, readable lines for people, and never a
//! secret in either.
//!
//! JSON lines carry the fields of every enclosing span (`spans`), so the
//! `request_id` of the request span is on every line a request logs, however
//! deeply nested. Every line goes through [`redact`] on its way out.

mod redact;

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::LogFormat;
pub use redact::{REDACTED, RedactingMakeWriter, redact, register_secret};

/// Which stream logs go to: the server logs to stdout (what log collectors
/// read); one-shot commands log to stderr so their stdout stays their output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, filter: &str, target: Target) -> anyhow::Result<()> {
    let terminal = match target {
        Target::Stdout => std::io::stdout().is_terminal(),
        Target::Stderr => std::io::stderr().is_terminal(),
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !terminal,
    };
    let filter = EnvFilter::builder().parse(filter)?;
    match target {
        Target::Stdout => tracing::subscriber::set_global_default(subscriber(
            json,
            terminal,
            filter,
            std::io::stdout,
        ))?,
        Target::Stderr => tracing::subscriber::set_global_default(subscriber(
            json,
            terminal,
            filter,
            std::io::stderr,
        ))?,
    }
    Ok(())
}

/// The subscriber, writing through the redactor to `writer`.
pub fn subscriber<W>(
    json: bool,
    ansi: bool,
    filter: EnvFilter,
    writer: W,
) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let writer = RedactingMakeWriter::new(writer);
    let layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed()
    };
    tracing_subscriber::registry().with(filter).with(layer)
}

#[cfg(test)]
mod tests;
