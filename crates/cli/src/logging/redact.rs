//! Scrubbing secrets from log lines, as the last step before they are written.
//!
//! Redacting the finished line (rather than each field) catches secrets
//! wherever they hide: in a message, a `Debug` dump, an error chain from a
//! library, a span field. Three nets, applied in order:
//!
//! 1. every configured secret value, registered at start-up with
//!    [`register_secret`] (also in its `Debug`- and JSON-escaped spellings);
//! 2. shapes of credentials: `Bearer …` and `Basic …`, the password in a
//!    URL's user-info (`https://user:PASS@host`), our API tokens (`pr_…`),
//!    vendor keys (OpenAI and Anthropic `sk-…`, Groq `gsk_…`, Google
//!    `AIza…`, Hugging Face `hf_…`, xAI `xai-…`, GitHub `ghp_…`, AWS
//!    `AKIA…`), session cookies (`pr_session=…`, `__Host-pr_session=…`);
//! 3. the value of any key *ending* in password, passwd, pwd, secret,
//!    api_key, apikey, token, authorization, cookie or set-cookie, in
//!    `key=value`, `key: value` and JSON `"key":"value"` forms; and of the
//!    short query/parameter names `key=`, `sig=`, `signature=` (signed URLs,
//!    Google's `?key=`), matched as whole names only. Keys that only contain
//!    such a word (`prompt_tokens`, `token_count`) are left alone, so usage
//!    figures stay readable.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{LazyLock, RwLock};

use regex::{Captures, Regex};
use tracing_subscriber::fmt::MakeWriter;

pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not registered: replacing them everywhere
/// would blank out ordinary words and make logs useless.
pub(super) const MIN_SECRET_CHARS: usize = 6;

#[derive(Default)]
struct Registry {
    values: Vec<String>,
    matcher: Option<Regex>,
}

static SECRETS: LazyLock<RwLock<Registry>> = LazyLock::new(|| RwLock::new(Registry::default()));

/// Adds a value to scrub from every log line from now on.
pub fn register_secret(secret: &str) {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let debug = format!("{secret:?}");
    let debug = &debug[1..debug.len() - 1];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .get(1..json.len().saturating_sub(1))
        .unwrap_or_default();
    let json_of_debug = serde_json::to_string(debug).unwrap_or_default();
    let json_of_debug = json_of_debug
        .get(1..json_of_debug.len().saturating_sub(1))
        .unwrap_or_default();

    let mut reg = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for spelling in [secret, debug, json, json_of_debug] {
        if !spelling.is_empty() && !reg.values.iter().any(|v| v == spelling) {
            reg.values.push(spelling.to_string());
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    reg.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let alternation: Vec<String> = reg.values.iter().map(|v| regex::escape(v)).collect();
    reg.matcher = Regex::new(&alternation.join("|")).ok();
}

static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(bearer)\s+[^\s"'\\,;]+"#).unwrap());
/// `Basic` + base64 of `user:password`; at least 8 characters, so prose
/// ("a basic set-up") keeps its next word.
static BASIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(basic)\s+[A-Za-z0-9+/_-]{8,}={0,2}").unwrap());
/// `scheme://user:PASSWORD@host`: the password goes, the user stays.
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:"'<>]*:)[^\s/?#@"'<>]+@"#).unwrap()
});
/// Short parameter names that carry a credential in query strings; whole
/// names only (`monkey=`, `sign=` are not matched).
static SHORT_PARAMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?P<pre>^|[?&;\s,(])(?P<name>key|sig|signature)=(?P<value>[^\s&"'#,;)]+)"#)
        .unwrap()
});
static SESSION_COOKIE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"((?:__Host-)?pr_session=)[^\s"'\\,;]+"#).unwrap());
static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\bpr_[A-Za-z0-9_-]{10,}",
        r"|\bsk-(?:ant-)?[A-Za-z0-9_-]{10,}",
        r"|\bgsk_[A-Za-z0-9]{20,}",
        r"|\bAIza[0-9A-Za-z_-]{30,}",
        r"|\bhf_[A-Za-z0-9]{20,}",
        r"|\bxai-[A-Za-z0-9]{20,}",
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
    ))
    .unwrap()
});
/// `key` (maybe quoted, maybe JSON-escaped) + separator (maybe around ANSI
/// colour codes) + a value that is `\"escaped\"`, `"quoted"` or bare.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    let ansi = r"(?:\x1b\[[0-9;]*m)*";
    let words =
        r"password|passwd|pwd|secret|api[_-]?key|apikey|token|authorization|set-cookie|cookie";
    Regex::new(&format!(
        r#"(?i)(?P<key>(?P<q>\\?")?\b[\w-]*?(?:{words})\\?"?)(?P<sep>{ansi}\s*[=:]\s*{ansi})(?P<value>\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|[^\s"\\,;&)}}\]\x1b]+)"#
    ))
    .unwrap()
});

/// The text with every secret replaced by `[REDACTED]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let reg = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &reg.matcher {
            replace(&mut out, m, REDACTED);
        }
    }
    replace(&mut out, &BEARER, "${1} [REDACTED]");
    replace(&mut out, &BASIC, "${1} [REDACTED]");
    replace(&mut out, &URL_USERINFO, "${1}[REDACTED]@");
    replace(&mut out, &SHORT_PARAMS, "${pre}${name}=[REDACTED]");
    replace(&mut out, &SESSION_COOKIE, "${1}[REDACTED]");
    replace(&mut out, &TOKEN_SHAPES, REDACTED);
    if KEY_VALUE.is_match(&out) {
        let replaced = KEY_VALUE.replace_all(&out, redact_value).into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

fn replace(text: &mut Cow<'_, str>, re: &Regex, with: &str) {
    if let Cow::Owned(s) = re.replace_all(text, with) {
        *text = Cow::Owned(s);
    }
}

fn redact_value(c: &Captures<'_>) -> String {
    let (key, sep, value) = (&c["key"], &c["sep"], &c["value"]);
    let json_key = c.name("q").is_some();
    let new_value = if value.starts_with(REDACTED)
        || value.eq_ignore_ascii_case("bearer")
        || value.eq_ignore_ascii_case("basic")
    {
        // Already scrubbed by an earlier net (or the scheme word before one).
        value.to_string()
    } else if value.starts_with("\\\"") {
        format!("\\\"{REDACTED}\\\"")
    } else if value.starts_with('"') {
        format!("\"{REDACTED}\"")
    } else if json_key && matches!(value, "null" | "true" | "false") {
        value.to_string()
    } else if json_key {
        // A bare JSON number: keep the line valid JSON.
        format!("\"{REDACTED}\"")
    } else {
        REDACTED.to_string()
    };
    format!("{key}{sep}{new_value}")
}

/// A `MakeWriter` whose writers collect one formatted event and write it,
/// redacted, when dropped (tracing's fmt layer formats each event into a
/// buffer and hands it over in one write, then drops the writer).
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    pub fn new(inner: M) -> Self {
        RedactingMakeWriter { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer_for(meta),
            buf: Vec::new(),
        }
    }
}

pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = redact(&text);
        let result = self
            .inner
            .write_all(clean.as_bytes())
            .and_then(|()| self.inner.flush());
        self.buf.clear();
        result
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}
