//! The `http` evaluator's URL rule and the allow-list check.

use promptrefine_core::validate::{Rule, Violations};

use super::{EvaluatorKind, EvaluatorSpec};

/// The host of an `http://` or `https://` URL, lowercased, without port:
/// what the allow-list is checked against. `None` for anything else,
/// including URLs with user info (`http://allowed@elsewhere/` names
/// `elsewhere`, and a reader of the config could be fooled by it).
pub fn http_host(url: &str) -> Option<String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        (format!("[{inside}]"), after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':' | '_'));
    (port_ok && host_ok).then_some(host)
}

/// Refuses every `http` evaluator whose URL's host is not in
/// `allowed_hosts` (the app's configuration; compared without case and
/// port). An empty list refuses them all: calling out is off unless
/// configured. `field_prefix` is the one given to
/// [`EvaluatorSpec::parse_list`], so the field reads `evaluators[3].url`.
pub fn check_http_allowed(
    specs: &[EvaluatorSpec],
    allowed_hosts: &[String],
    field_prefix: &str,
) -> Result<(), Violations> {
    let allowed: Vec<String> = allowed_hosts
        .iter()
        .map(|h| {
            // An entry written with a port (`eval.internal:8080`) names its host.
            let h = h.trim().to_ascii_lowercase();
            http_host(&format!("http://{h}/")).unwrap_or(h)
        })
        .collect();
    let mut v = Violations::new();
    for (i, spec) in specs.iter().enumerate() {
        let EvaluatorKind::Http { url, .. } = &spec.kind else {
            continue;
        };
        let host = http_host(url).unwrap_or_default();
        if !allowed.contains(&host) {
            let field = format!("{field_prefix}[{i}].url");
            let message = if allowed.is_empty() {
                format!(
                    "{field}: http evaluators are off on this server (no allowed hosts are configured)"
                )
            } else {
                format!("{field}: the host {host:?} is not one of the allowed hosts")
            };
            v.push(&field, Rule::OneOf, message);
        }
    }
    v.into_result()
}
