//! B0: the yardstick. A bare axum handler answering a constant JSON body of
//! the same size as B1's answer, in its own process like the real server, so
//! both share the machine with the load generator the same way.

use axum::Router;
use axum::http::header;
use axum::routing::get;

/// A JSON body of exactly `bytes` bytes (at least the empty envelope).
pub(crate) fn body(bytes: usize) -> String {
    let head = r#"{"data":{"pad":""#;
    let tail = r#""},"error":null}"#;
    let pad = bytes.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

/// Serves the constant body on every path until killed; prints its URL first.
pub(crate) async fn serve(bytes: usize) -> anyhow::Result<()> {
    let body = axum::body::Bytes::from(body(bytes));
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_baseline_body_has_the_asked_size_and_is_json() {
        for n in [40, 500, 2048] {
            let b = super::body(n);
            assert_eq!(b.len(), n);
            serde_json::from_str::<serde_json::Value>(&b).unwrap();
        }
    }
}
