//! Value parsers. Each returns the reason a value is wrong ("expected …");
//! the caller adds the key name, the value (unless secret) and the source.

use std::time::Duration;

pub fn bool_word(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false (or on/off, yes/no, 1/0)".into()),
    }
}

pub fn count(v: &str, min: u64) -> Result<u64, String> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("expected a whole number, at least {min}")),
    }
}

pub fn duration(v: &str, unit_secs: u64, min: u64) -> Result<Duration, String> {
    let n = count(v, min)?;
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| "the number is too large".to_string())
}

/// `host:port`, `[v6]:port` or `ip:port`; the host is resolved at bind time.
pub fn bind(v: &str) -> Result<String, String> {
    const WHY: &str = "expected host:port";
    let v = v.trim();
    let (host, port) = v.rsplit_once(':').ok_or(WHY)?;
    port.parse::<u16>().map_err(|_| WHY)?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if host_ok {
        Ok(v.to_string())
    } else {
        Err(WHY.into())
    }
}

/// An http(s) URL without a trailing slash.
pub fn http_url(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or("expected a URL starting with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || v.chars().any(char::is_whitespace) {
        return Err("expected a URL with a host, e.g. https://example.com".into());
    }
    Ok(v.to_string())
}

pub fn database_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    let ok =
        v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://");
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected sqlite://FILE or postgres://…".into())
    }
}

pub fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The URL with any password replaced by `****`, for display: the one in
/// the user-info (`user:****@host`) and the value of every query parameter
/// whose name says it holds a credential (`password=`, `key=`, `sig=`, …).
pub fn mask_url(url: &str) -> String {
    mask(url, false)
}

/// Like [`mask_url`], and a user-info without a password is masked too: in
/// a provider's base URL (`https://TOKEN@host/v1`) it is the credential.
pub fn mask_url_credentials(url: &str) -> String {
    mask(url, true)
}

fn mask(url: &str, hide_user: bool) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url[..scheme_end].to_string();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => out.push_str(&format!("{user}:****@{host}")),
            None if hide_user => out.push_str(&format!("****@{host}")),
            None => out.push_str(&format!("{userinfo}@{host}")),
        },
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query
                .split_once('#')
                .map_or((query, None), |(q, f)| (q, Some(f)));
            let masked: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) if secret_param(k) && !v.is_empty() => format!("{k}=****"),
                    _ => kv.to_string(),
                })
                .collect();
            out.push_str(&format!("{path}?{}", masked.join("&")));
            if let Some(f) = fragment {
                out.push_str(&format!("#{f}"));
            }
        }
        None => out.push_str(tail),
    }
    out
}

/// A query parameter name that carries a credential.
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let exact = ["key", "sig", "signature", "pwd", "auth", "code"];
    let endings = [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "access_key",
    ];
    exact.contains(&n.as_str()) || endings.iter().any(|e| n.ends_with(e))
}

/// The password inside a URL, if any, so it can be registered for redaction.
pub fn url_password(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

/// Every credential a URL carries (user-info and secret query values), to
/// register with the log redactor.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out: Vec<String> = url_password(url).into_iter().collect();
    if let Some((_, query)) = url.split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for kv in query.split('&') {
            if let Some((k, v)) = kv.split_once('=')
                && secret_param(k)
                && !v.is_empty()
            {
                out.push(v.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_need_a_host_and_a_port() {
        for ok in [
            "127.0.0.1:3000",
            "0.0.0.0:0",
            "localhost:80",
            "[::1]:3000",
            "my-host.internal:8080",
        ] {
            assert!(bind(ok).is_ok(), "{ok}");
        }
        for bad in [
            "abc",
            "3000",
            ":3000",
            "host:",
            "host:99999",
            "[::1:3000",
            "a b:1",
        ] {
            assert_eq!(bind(bad), Err("expected host:port".to_string()), "{bad}");
        }
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://u:secret@h:5432/db?sslmode=require"),
            "postgres://u:****@h:5432/db?sslmode=require"
        );
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            mask_url("postgres://h/db?user=u&password=pw"),
            "postgres://h/db?user=u&password=****"
        );
        assert_eq!(
            mask_url("sqlite://data/promptrefine.db"),
            "sqlite://data/promptrefine.db"
        );
        assert_eq!(
            url_password("postgres://u:p%40ss@h/db").as_deref(),
            Some("p%40ss")
        );
        assert_eq!(url_password("postgres://u@h/db"), None);
    }

    #[test]
    fn provider_urls_lose_user_info_and_secret_query_values() {
        assert_eq!(
            mask_url_credentials("https://bob:hunter22@proxy.example.com/v1"),
            "https://bob:****@proxy.example.com/v1"
        );
        assert_eq!(
            mask_url_credentials("https://tok123456@gw.example.com/v1"),
            "https://****@gw.example.com/v1"
        );
        assert_eq!(
            mask_url_credentials(
                "https://x.example.com/v1?api-version=2024-06-01&api-key=azkey&sig=abc#frag"
            ),
            "https://x.example.com/v1?api-version=2024-06-01&api-key=****&sig=****#frag"
        );
        assert_eq!(
            mask_url("https://g.example.com/v1beta?key=AIzaXYZ&alt=sse"),
            "https://g.example.com/v1beta?key=****&alt=sse"
        );
        assert_eq!(
            url_secrets("https://u:pw-1@h/v1?key=k-2&alt=sse&access_token=t-3"),
            ["pw-1", "k-2", "t-3"]
        );
        let plain = "http://localhost:11434/v1";
        assert_eq!(mask_url_credentials(plain), plain);
        assert!(url_secrets(plain).is_empty());
    }

    #[test]
    fn booleans_accept_the_usual_words() {
        for t in ["true", "ON", "yes", "1"] {
            assert_eq!(bool_word(t), Ok(true));
        }
        for f in ["false", "off", "No", "0"] {
            assert_eq!(bool_word(f), Ok(false));
        }
        assert!(bool_word("maybe").is_err());
    }

    #[test]
    fn urls_lose_their_trailing_slash() {
        assert_eq!(
            http_url("http://localhost:11434/v1/").unwrap(),
            "http://localhost:11434/v1"
        );
        assert!(http_url("ftp://x").is_err());
        assert!(http_url("https://").is_err());
    }
}
