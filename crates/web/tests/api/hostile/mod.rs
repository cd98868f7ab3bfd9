//! Hostile and broken input, each a test on both backends: what a careless or
//! malicious client can send, at the connection level ([`transport`]: body
//! limits on a kept-alive connection, huge headers, slowloris, truncated
//! bodies), in bodies ([`input`]: broken JSON, deep nesting, 10,000
//! variables, metacharacters, labels), in query strings and path segments
//! ([`urls`]: limits, forged cursors, traversal-like ids, each with its exact
//! status and error code), and into
//! the pages ([`pages`]: HTML/JS in every field rendered inert, security
//! headers on every route). The rule everywhere: a 4xx in the envelope or a
//! correct answer, never a 5xx, and the server keeps serving others.

mod input;
mod pages;
mod transport;
mod urls;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw HTTP/1.1 connection, for what reqwest will not send.
pub(crate) struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One response read off a [`RawConn`].
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawConn {
    pub(crate) async fn open(addr: &str) -> RawConn {
        let host = addr.trim_start_matches("http://");
        RawConn {
            stream: TcpStream::connect(host).await.unwrap(),
            buf: vec![],
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response (Content-Length bodies only, which is all we send
    /// for); None when the server closed the connection first.
    pub(crate) async fn read_response(&mut self) -> Option<RawResponse> {
        let deadline = Duration::from_secs(20);
        tokio::time::timeout(deadline, self.read_response_inner())
            .await
            .expect("a response within 20 s")
    }

    async fn read_response_inner(&mut self) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while self.buf.len() < head_end + len {
            if !self.fill().await {
                return None;
            }
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Some(RawResponse { status, head, body })
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Ends our sending half (the server sees EOF).
    pub(crate) async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Whether the server has closed the connection (reads EOF or an error
    /// within `wait`).
    pub(crate) async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue, // e.g. a 408 before the close
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A GET with a bearer token, ready to write to a [`RawConn`].
pub(crate) fn raw_get(path: &str, token: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

/// A JSON POST with a bearer token and an exact body.
pub(crate) fn raw_post(path: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}
