//! Is the address `check` could not bind already served by a PromptRefine?
//! One `GET /healthz` over plain HTTP/1.1 with short timeouts (no client
//! library: the answer is one small JSON body).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);
/// More than any `/healthz` answer; a server that sends more is not ours.
const MAX_ANSWER: u64 = 16 * 1024;

/// True when `bind` (as configured, `host:port`) answers `/healthz` the
/// way PromptRefine does: 200, an `x-request-id` header and the JSON
/// envelope `{"data":{"status":"ok"},"error":null}`.
pub(super) fn is_promptrefine(bind: &str) -> bool {
    let Some(addr) = reachable_addr(bind) else {
        return false;
    };
    answer(addr).is_some_and(|raw| looks_like_healthz(&raw))
}

/// The address to connect to: a wildcard bind (`0.0.0.0`, `[::]`) is
/// reached on loopback.
fn reachable_addr(bind: &str) -> Option<SocketAddr> {
    let mut addr = bind.to_socket_addrs().ok()?.next()?;
    if addr.ip().is_unspecified() {
        let loopback = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    Some(addr)
}

fn answer(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(TIMEOUT)).ok()?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\naccept: application/json\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut raw).ok()?;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

fn looks_like_healthz(raw: &str) -> bool {
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return false;
    };
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("HTTP/1.1 200"));
    let request_id = head.lines().skip(1).any(|l| {
        l.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("x-request-id"))
    });
    // A chunked body would put a size line first; axum sends a length.
    let json: Option<serde_json::Value> = serde_json::from_str(body.trim()).ok();
    let envelope = json.is_some_and(|v| {
        v["data"]["status"] == "ok" && v.get("error").is_some_and(serde_json::Value::is_null)
    });
    status_ok && request_id && envelope
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_promptrefine_health_answer_counts() {
        let ours = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: 0193\r\n\r\n{\"data\":{\"status\":\"ok\"},\"error\":null}";
        assert!(looks_like_healthz(ours));
        let other = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"status\":\"ok\"}";
        assert!(!looks_like_healthz(other));
        let missing = ours.replace("200 OK", "404 Not Found");
        assert!(!looks_like_healthz(&missing));
        assert!(!looks_like_healthz("SSH-2.0-OpenSSH_9.6\r\n"));
    }

    #[test]
    fn a_wildcard_bind_is_probed_on_loopback() {
        assert_eq!(
            reachable_addr("0.0.0.0:3000"),
            Some("127.0.0.1:3000".parse().unwrap())
        );
        assert_eq!(
            reachable_addr("[::]:3000"),
            Some("[::1]:3000".parse().unwrap())
        );
    }
}
