use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// A writer into a shared buffer, to read back what was logged.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

const REGISTERED: &str = "correct \"horse\" battery staple";

/// Logs every kind of secret through a real subscriber and returns the output.
fn log_secrets(json: bool, ansi: bool) -> String {
    register_secret(REGISTERED);
    register_secret("tiny"); // too short to register: must not blank the word out
    let buf = Buffer::default();
    let sub = subscriber(json, ansi, EnvFilter::new("trace"), buf.clone());
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!(
            "request",
            request_id = "req-123",
            authorization = "Bearer span-secret-aaa"
        );
        let _g = span.enter();
        tracing::info!(password = "field-password-1", "signing in");
        tracing::info!(admin_password = %"display-password-2", api_key = ?"debug-api-key-3", "settings");
        tracing::info!("configured with password={REGISTERED:?} and token: tok-secret-4");
        tracing::info!("header authorization: Bearer bearer-secret-5 sent");
        tracing::info!("cookie pr_session=cookie-secret-6; __Host-pr_session=cookie-secret-7");
        tracing::info!(
            key = "sk-proj-abcdefghijklmnop8",
            token = "pr_abcdefghijklmnop9",
            "keys"
        );
        tracing::info!(
            body = r#"{"api_key":"json-secret-10","Set-Cookie": "json-secret-11","n":1}"#,
            "upstream"
        );
        tracing::warn!(error = %format!("failed: secret={REGISTERED}"), "raw registered secret");
        tracing::info!(
            prompt_tokens = 15,
            completion_tokens = 7,
            token_count = 3,
            "usage tiny"
        );
    });
    buf.text()
}

fn assert_clean(out: &str) {
    for leaked in [
        "span-secret-aaa",
        "field-password-1",
        "display-password-2",
        "debug-api-key-3",
        "horse",
        "tok-secret-4",
        "bearer-secret-5",
        "cookie-secret-6",
        "cookie-secret-7",
        "abcdefghijklmnop8",
        "abcdefghijklmnop9",
        "json-secret-10",
        "json-secret-11",
    ] {
        assert!(!out.contains(leaked), "{leaked} leaked into:\n{out}");
    }
    assert!(out.contains(REDACTED));
    // Not over-eager: usage figures, short words and ids survive.
    for kept in [
        "prompt_tokens",
        "15",
        "completion_tokens",
        "token_count",
        "usage tiny",
        "req-123",
    ] {
        assert!(out.contains(kept), "{kept} was lost from:\n{out}");
    }
}

#[test]
fn json_lines_carry_no_secret_and_stay_valid_json() {
    let out = log_secrets(true, false);
    assert_clean(&out);
    for line in out.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["spans"][0]["request_id"], "req-123", "{line}");
    }
}

#[test]
fn readable_lines_carry_no_secret() {
    assert_clean(&log_secrets(false, false));
}

#[test]
fn coloured_lines_carry_no_secret() {
    assert_clean(&log_secrets(false, true));
}

#[test]
fn redact_leaves_ordinary_text_alone() {
    let text = "listening on http://127.0.0.1:3000 with max_tokens=200 and prompt_tokens: 5";
    assert_eq!(redact(text), text);
}

/// Asserts that `secret` is gone from `redact(text)` and `kept` survives.
fn scrubbed(text: &str, secret: &str, kept: &str) {
    let out = redact(text);
    assert!(!out.contains(secret), "{secret} leaked: {out}");
    assert!(out.contains(REDACTED), "nothing redacted: {out}");
    assert!(out.contains(kept), "{kept} was lost: {out}");
}

#[test]
fn basic_authorization_headers_are_redacted() {
    scrubbed(
        "sent Authorization: Basic dXNlcjpodW50ZXIy to upstream",
        "dXNlcjpodW50ZXIy",
        "to upstream",
    );
    scrubbed(
        r#"{"headers":{"authorization":"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}}"#,
        "YWxhZGRpbjpvcGVuc2VzYW1l",
        "headers",
    );
    // Prose with the word keeps its next (short) word.
    assert_eq!(redact("a basic setup"), "a basic setup");
}

#[test]
fn passwords_in_url_user_info_are_redacted_and_the_user_kept() {
    scrubbed(
        "cannot reach https://alice:s3cr3t-pass@proxy.example.com:8080/v1",
        "s3cr3t-pass",
        "https://alice:",
    );
    scrubbed(
        "error connecting to postgres://app:pg-pass-123@db:5432/app",
        "pg-pass-123",
        "@db:5432/app",
    );
}

#[test]
fn key_pwd_and_sig_parameters_are_redacted() {
    scrubbed(
        "GET https://generativelanguage.googleapis.com/v1/models?key=plain-google-key-1 failed",
        "plain-google-key-1",
        "failed",
    );
    scrubbed(
        "blob https://x.blob.core.windows.net/c?sv=2022&sig=azure-sas-sig-2&se=1",
        "azure-sas-sig-2",
        "sv=2022",
    );
    scrubbed(
        "Server=db;User=sa;Pwd=odbc-pwd-secret-3;",
        "odbc-pwd-secret-3",
        "User=sa",
    );
    scrubbed("connect db_pwd=pwd-value-4 now", "pwd-value-4", "now");
    // Whole names only: these are not credentials.
    let kept = "monkey=banana sign=up keys=3";
    assert_eq!(redact(kept), kept);
}

#[test]
fn vendor_key_shapes_are_redacted() {
    for key in [
        "gsk_abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        "AIzaSyA1bcdefghijklmnopqrstuvwxyz012345",
        "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "xai-abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    ] {
        scrubbed(&format!("upstream said: invalid {key} (401)"), key, "(401)");
    }
}
