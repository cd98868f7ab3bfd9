//! Finding JSON objects in a model's free text.

use serde_json::{Map, Value};

/// Answers longer than this are only searched in their first part: a judge
/// answer is a sentence or two, and the scan must stay cheap.
const SCAN_MAX_BYTES: usize = 64 * 1024;
/// At most this many `{` are tried as the start of an object.
const STARTS_MAX: usize = 64;

/// The JSON objects in `text`, most trustworthy first: the whole text, then
/// the contents of each ``` fence, then each balanced `{…}` in order of its
/// opening brace (nested ones included, so `{"note": {"score": 1}}` prose
/// still yields the inner object after the outer one).
pub(super) fn json_objects(text: &str) -> Vec<Map<String, Value>> {
    let text = cut(text, SCAN_MAX_BYTES);
    let mut out = Vec::new();
    let mut push = |s: &str| {
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s.trim()) {
            out.push(o);
        }
    };
    push(text);
    for block in fences(text) {
        push(block);
    }
    let bytes = text.as_bytes();
    let starts = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'{')
        .map(|(i, _)| i);
    for start in starts.take(STARTS_MAX) {
        if let Some(end) = matching_brace(bytes, start) {
            push(&text[start..=end]);
        }
    }
    out
}

/// The contents of each ``` fence, without its language tag line.
fn fences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(close) = after.find("```") else {
            break;
        };
        let body = &after[..close];
        // ```json\n{...}``` — drop the tag (a first line without a brace).
        let body = match body.split_once('\n') {
            Some((tag, tail)) if !tag.contains('{') => tail,
            _ => body,
        };
        out.push(body);
        rest = &after[close + 3..];
    }
    out
}

/// The index of the `}` closing the `{` at `start`, skipping braces inside
/// JSON strings.
fn matching_brace(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The first 120 characters of an answer, for an error message.
pub(super) fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 120 {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(120).collect();
        s.push('…');
        s
    }
}
