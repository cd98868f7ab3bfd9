//! The rules a stored provider's fields follow, each broken rule a
//! violation naming its field (camelCase, as the API sends it).
//!
//! The base URL rule is also the first half of the SSRF guard: the server
//! calls this URL with a key on behalf of whoever may edit providers, so by
//! default it must not point at link-local addresses or at a cloud's
//! metadata service (which answers credentials to anyone on the machine).
//! The second half, for names that resolve there, is the resolver the
//! client uses (`ProviderConfig::refuse_link_local`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use promptrefine_core::ModelName;
use promptrefine_core::validate::{Rule, Violations};
use promptrefine_store::ModelPrice;
use url::{Host, Url};

pub(crate) const NAME_MAX_CHARS: usize = 50;
pub(crate) const BASE_URL_MAX_CHARS: usize = 2000;
pub(crate) const MODELS_MAX: usize = 500;
pub(crate) const HEADERS_MAX: usize = 20;
pub(crate) const HEADER_VALUE_MAX_BYTES: usize = 4096;
pub(crate) const API_KEY_MAX_BYTES: usize = 4096;
/// USD per million tokens; far above any real price, low enough to be a typo.
pub(crate) const PRICE_MAX: f64 = 100_000.0;

/// Host names of cloud metadata services (an IP literal is checked by address).
const METADATA_HOSTS: [&str; 1] = ["metadata.google.internal"];

/// Headers the client sets itself, or that would change what a request is.
const RESERVED_HEADERS: [&str; 7] = [
    "authorization",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "x-request-id",
];

/// Names go into run records, URLs and the environment's namespace, so
/// they follow the same rule as configured providers.
pub(crate) fn name(v: &mut Violations, field: &str, name: &str) {
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        v.push(
            field,
            Rule::Length,
            format!("{field} must be 1–{NAME_MAX_CHARS} characters"),
        );
    } else if !crate::runs::is_provider_name(name) {
        v.push(
            field,
            Rule::Format,
            format!("{field} may only contain a–z, 0–9, '-', '_' and '.'"),
        );
    }
}

/// An http(s) URL with a host and no credentials in it; with
/// `allow_link_local` false, not a link-local or metadata address.
pub(crate) fn base_url(v: &mut Violations, field: &str, text: &str, allow_link_local: bool) {
    if text.is_empty() || text.chars().count() > BASE_URL_MAX_CHARS {
        v.push(
            field,
            Rule::Length,
            format!("{field} must be 1–{BASE_URL_MAX_CHARS} characters"),
        );
        return;
    }
    let url = match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            v.push(
                field,
                Rule::Format,
                format!("{field} must be an http:// or https:// URL with a host"),
            );
            return;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        // It would be stored in clear, and shown in every listing.
        v.push(
            field,
            Rule::Format,
            format!("{field} must not carry credentials; give the key as apiKey"),
        );
    }
    if url.fragment().is_some() {
        v.push(
            field,
            Rule::Format,
            format!("{field} must not have a #fragment"),
        );
    }
    if !allow_link_local && let Some(why) = url.host().and_then(|h| refused_host(&h)) {
        v.push(
            field,
            Rule::Reserved,
            format!(
                "{field} points at {why}, which this server refuses (PROVIDERS_ALLOW_LINK_LOCAL)"
            ),
        );
    }
}

/// Why a host is refused by default, or `None`.
fn refused_host(host: &Host<&str>) -> Option<&'static str> {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            METADATA_HOSTS
                .contains(&d.as_str())
                .then_some("a cloud metadata service")
        }
        Host::Ipv4(ip) => refused_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => refused_ip(IpAddr::V6(*ip)),
    }
}

/// Link-local addresses (where cloud metadata services live:
/// 169.254.169.254, AWS's fd00:ec2::254), also written as IPv4-mapped IPv6.
pub fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    match ip {
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_ip(IpAddr::V4(v4)),
            None if v6 == AWS_METADATA_V6 => Some("a cloud metadata service"),
            None if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("a link-local address"),
            None => None,
        },
    }
}

pub(crate) fn api_key(v: &mut Violations, field: &str, key: &str) {
    if key.trim().is_empty() || key.len() > API_KEY_MAX_BYTES {
        v.push(
            field,
            Rule::Length,
            format!("{field} must be 1–{API_KEY_MAX_BYTES} bytes (send null to remove it)"),
        );
    } else if !key.trim().bytes().all(|b| (0x21..0x7f).contains(&b)) {
        v.push(
            field,
            Rule::Characters,
            format!("{field} may only contain visible ASCII characters"),
        );
    }
}

pub(crate) fn headers<'a>(
    v: &mut Violations,
    field: &str,
    headers: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    if headers.len() > HEADERS_MAX {
        v.push(
            field,
            Rule::Count,
            format!("{field} may have at most {HEADERS_MAX} headers"),
        );
        return;
    }
    for (name, value) in headers {
        let f = format!("{field}[{name:?}]");
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            v.push(
                &f,
                Rule::Format,
                "a header name is letters, digits and !#$%&'*+-.^_`|~",
            );
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            v.push(
                &f,
                Rule::Reserved,
                format!("{name} is set by the server itself (give the key as apiKey)"),
            );
        }
        if value.len() > HEADER_VALUE_MAX_BYTES {
            v.push(
                &f,
                Rule::Length,
                format!("a header value may be at most {HEADER_VALUE_MAX_BYTES} bytes"),
            );
        } else if !value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            v.push(
                &f,
                Rule::Characters,
                "a header value may only contain visible ASCII, spaces and tabs",
            );
        }
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn models(v: &mut Violations, field: &str, models: &[String]) {
    if models.len() > MODELS_MAX {
        v.push(
            field,
            Rule::Count,
            format!("{field} may have at most {MODELS_MAX} models"),
        );
        return;
    }
    for (i, m) in models.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if let Err(e) = ModelName::parse(&f, m) {
            v.extend(e);
        } else if models[..i].contains(m) {
            v.push(&f, Rule::Duplicate, format!("{m:?} is listed twice"));
        }
    }
}

pub(crate) fn prices(v: &mut Violations, field: &str, prices: &BTreeMap<String, ModelPrice>) {
    if prices.len() > MODELS_MAX {
        v.push(
            field,
            Rule::Count,
            format!("{field} may have at most {MODELS_MAX} models"),
        );
        return;
    }
    for (model, price) in prices {
        let f = format!("{field}[{model:?}]");
        if let Err(e) = ModelName::parse(&f, model) {
            v.extend(e);
        }
        for (part, value) in [("input", price.input), ("output", price.output)] {
            if !value.is_finite() || !(0.0..=PRICE_MAX).contains(&value) {
                v.push(
                    format!("{f}.{part}"),
                    Rule::Range,
                    format!("a price is from 0 to {PRICE_MAX} USD per million tokens"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_rules(text: &str, allow: bool) -> Vec<String> {
        let mut v = Violations::default();
        base_url(&mut v, "baseUrl", text, allow);
        v.0.into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn metadata_and_link_local_hosts_are_refused_by_default() {
        for url in [
            "http://169.254.169.254/latest",
            "http://169.254.1.2:8080/v1",
            "http://[fe80::1]/v1",
            "http://[febf::1]/v1",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/computeMetadata/v1",
            "http://METADATA.google.internal./",
        ] {
            assert_eq!(url_rules(url, false), ["reserved"], "{url}");
            assert!(
                url_rules(url, true).is_empty(),
                "allowed when switched on: {url}"
            );
        }
        for url in [
            "http://127.0.0.1:11434/v1",
            "https://api.openai.com/v1",
            "http://10.0.0.5/v1",
            "http://[fec0::1]/v1",
            "https://x.openai.azure.com/openai/deployments/d?api-version=2024-06-01",
        ] {
            assert!(url_rules(url, false).is_empty(), "{url}");
        }
    }

    #[test]
    fn base_urls_are_http_with_a_host_and_no_credentials() {
        assert_eq!(url_rules("ftp://example.com/", false), ["format"]);
        assert_eq!(url_rules("not a url", false), ["format"]);
        assert_eq!(url_rules("", false), ["length"]);
        assert_eq!(url_rules("https://u:p@example.com/v1", false), ["format"]);
        assert_eq!(url_rules("https://example.com/v1#x", false), ["format"]);
    }

    #[test]
    fn prices_are_non_negative_and_finite() {
        let mut v = Violations::default();
        let p = BTreeMap::from([
            (
                "ok".to_string(),
                ModelPrice {
                    input: 0.0,
                    output: 1.5,
                },
            ),
            (
                "neg".to_string(),
                ModelPrice {
                    input: -1.0,
                    output: f64::NAN,
                },
            ),
        ]);
        prices(&mut v, "prices", &p);
        let fields: Vec<&str> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["prices[\"neg\"].input", "prices[\"neg\"].output"]);
    }

    #[test]
    fn reserved_and_malformed_headers_are_named() {
        let mut v = Violations::default();
        let h = [
            ("Authorization", "x"),
            ("bad name", "x"),
            ("x-ok", "line\nbreak"),
            ("api-key", "fine"),
        ];
        headers(&mut v, "extraHeaders", h.into_iter());
        let rules: Vec<&str> = v.0.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["reserved", "format", "characters"]);
    }
}
