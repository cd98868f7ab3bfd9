//! Template variables: how a prompt body names the values a run fills in.
//!
//! A variable is written `{{name}}`. Spaces or other ASCII whitespace are
//! allowed inside the braces, so `{{ name }}` is the same variable. A name
//! starts with a letter or `_` and continues with letters, digits, `_` and `.`
//! (`{{customer.first_name}}`). Names are case-sensitive.
//!
//! Anything between double braces that is not a valid name — `{{}}`,
//! `{{ not valid! }}`, `{{1st}}` — is plain text and is left exactly as
//! written, so prompts that contain JSON or other brace-heavy text keep
//! working. An extra brace around a variable stays as text too: `{{{name}}}`
//! renders as `{` + the value + `}`.
//!
//! To write a literal `{{` before something that would otherwise be a
//! variable, put a backslash in front of it: `\{{name}}` renders as
//! `{{name}}`, and the backslash is dropped. Backslashes only matter directly
//! before `{{`: there, each pair `\\` renders as one `\`, and an odd backslash
//! left over makes the `{{` literal (`\\{{name}}` renders as `\` followed by
//! the value). Backslashes anywhere else are plain text.
//!
//! Values are inserted verbatim: a value that itself contains `{{x}}` is not
//! expanded again. Rendering fails if any variable has no value, and the error
//! names every missing variable at once so a form can highlight all of them.
//! The output is capped ([`DEFAULT_MAX_RENDERED_BYTES`], or the limit given
//! to the `_limited` functions): a body of 50,000 `{{a}}` and a value of
//! 256 KiB would otherwise make 13 GB. Past the cap nothing more is written.
//!
//! Parsing is a single left-to-right pass that never backtracks over more than
//! the characters it just looked at, so it runs in linear time on any input,
//! including unbalanced braces and very large bodies.

use std::collections::{BTreeMap, HashSet};

use crate::domain::{ChatMessage, Content, ContentPart};

/// The default cap on a rendered body: far above any real prompt, far
/// below what a few thousand `{{a}}` with a large value would make.
pub const DEFAULT_MAX_RENDERED_BYTES: usize = 4 * 1024 * 1024;

/// Why a template could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// These variables occur in the template but have no value; unique, in
    /// order of first appearance.
    #[error("missing values for variables: {}", .0.join(", "))]
    MissingVariables(Vec<String>),
    /// The rendered text would be larger than `limit` bytes. `by_values`:
    /// the template's own text fits, the inserted values make it too large.
    #[error("the rendered text would be larger than {limit} bytes")]
    TooLarge { limit: usize, by_values: bool },
}

/// Whether `name` is a valid variable name: a letter or `_`, then letters,
/// digits, `_` or `.`.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => bytes.all(is_name_byte),
        _ => false,
    }
}

/// The variables in `template`, unique, in order of first appearance.
pub fn variables(template: &str) -> Vec<String> {
    let mut names = UniqueNames::default();
    scan(template, |piece| {
        if let Piece::Var(name) = piece {
            names.add(name);
        }
    });
    names.into_vec()
}

/// The variables across all of a body's messages, unique, in order of first
/// appearance.
pub fn content_variables(content: &Content) -> Vec<String> {
    let mut names = UniqueNames::default();
    for text in texts(content) {
        scan(text, |piece| {
            if let Piece::Var(name) = piece {
                names.add(name);
            }
        });
    }
    names.into_vec()
}

/// `template` with every variable replaced by its value from `vars`, at
/// most [`DEFAULT_MAX_RENDERED_BYTES`] long.
///
/// Values not used by the template are ignored.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, RenderError> {
    render_limited(template, vars, DEFAULT_MAX_RENDERED_BYTES)
}

/// [`render`] with a cap of `limit` bytes on the output.
pub fn render_limited(
    template: &str,
    vars: &BTreeMap<String, String>,
    limit: usize,
) -> Result<String, RenderError> {
    let mut missing = UniqueNames::default();
    let mut budget = Budget::new(limit);
    let out = render_into(template, vars, &mut missing, &mut budget);
    finish(missing, &budget).map(|()| out)
}

/// `content` with every variable in every message replaced by its value,
/// at most [`DEFAULT_MAX_RENDERED_BYTES`] long in all.
///
/// The error lists the missing variables of all messages together.
pub fn render_content(
    content: &Content,
    vars: &BTreeMap<String, String>,
) -> Result<Content, RenderError> {
    render_content_limited(content, vars, DEFAULT_MAX_RENDERED_BYTES)
}

/// [`render_content`] with a cap of `limit` bytes on all messages together.
pub fn render_content_limited(
    content: &Content,
    vars: &BTreeMap<String, String>,
    limit: usize,
) -> Result<Content, RenderError> {
    let mut missing = UniqueNames::default();
    let mut budget = Budget::new(limit);
    let rendered = match content {
        Content::Text(t) => Content::Text(render_into(t, vars, &mut missing, &mut budget)),
        Content::Chat(messages) => Content::Chat(
            messages
                .iter()
                .map(|m| render_message(m, vars, &mut missing, &mut budget))
                .collect(),
        ),
    };
    finish(missing, &budget).map(|()| rendered)
}

/// Missing variables first (the request is wrong whatever its size), then
/// the size.
fn finish(missing: UniqueNames, budget: &Budget) -> Result<(), RenderError> {
    missing.into_result()?;
    if budget.used > budget.limit {
        return Err(RenderError::TooLarge {
            limit: budget.limit,
            by_values: budget.text <= budget.limit,
        });
    }
    Ok(())
}

/// Counts the output as it would grow. Once over the limit nothing more is
/// written (so memory stays bounded by the limit), but the scan goes on, in
/// linear time, to find every missing variable and the template's own size.
struct Budget {
    limit: usize,
    /// Bytes the output would have.
    used: usize,
    /// Of which the template's own text.
    text: usize,
}

impl Budget {
    fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: 0,
            text: 0,
        }
    }

    /// Whether `piece` still fits; counts it either way.
    fn take(&mut self, piece: &str, is_text: bool) -> bool {
        self.used = self.used.saturating_add(piece.len());
        if is_text {
            self.text = self.text.saturating_add(piece.len());
        }
        self.used <= self.limit
    }
}

/// A message with its text rendered: the content, or each text part and
/// image URL. Tool calls and ids are kept as written (they are data the
/// model is shown, not templates).
fn render_message(
    m: &ChatMessage,
    vars: &BTreeMap<String, String>,
    missing: &mut UniqueNames,
    budget: &mut Budget,
) -> ChatMessage {
    let mut out = m.clone();
    out.content = render_into(&m.content, vars, missing, budget);
    if let Some(parts) = &mut out.parts {
        for part in parts {
            match part {
                ContentPart::Text { text } => *text = render_into(text, vars, missing, budget),
                ContentPart::ImageUrl { image_url } => {
                    image_url.url = render_into(&image_url.url, vars, missing, budget);
                }
            }
        }
    }
    out
}

fn texts(content: &Content) -> Box<dyn Iterator<Item = &str> + '_> {
    match content {
        Content::Text(t) => Box::new(std::iter::once(t.as_str())),
        Content::Chat(messages) => Box::new(messages.iter().flat_map(|m| m.texts())),
    }
}

/// Renders what it can and records the names it had no value for; the output
/// is only meaningful when nothing was missing.
fn render_into(
    template: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut UniqueNames,
    budget: &mut Budget,
) -> String {
    let mut out = String::with_capacity(template.len().min(budget.limit));
    scan(template, |piece| match piece {
        Piece::Text(text) => {
            if budget.take(text, true) {
                out.push_str(text);
            }
        }
        Piece::Var(name) => match vars.get(name) {
            Some(value) => {
                if budget.take(value, false) {
                    out.push_str(value);
                }
            }
            None => missing.add(name),
        },
    });
    out
}

/// Names in order of first appearance, without repeats, in linear time.
#[derive(Default)]
struct UniqueNames {
    seen: HashSet<String>,
    order: Vec<String>,
}

impl UniqueNames {
    fn add(&mut self, name: &str) {
        if !self.seen.contains(name) {
            self.seen.insert(name.to_owned());
            self.order.push(name.to_owned());
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.order
    }

    fn into_result(self) -> Result<(), RenderError> {
        if self.order.is_empty() {
            Ok(())
        } else {
            Err(RenderError::MissingVariables(self.order))
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// Text to output as is (escapes already resolved).
    Text(&'a str),
    /// A variable, by name.
    Var(&'a str),
}

/// Splits `template` into pieces, calling `emit` for each in order.
///
/// Why this is linear: `find` only moves forward; a failed tag parse looks at
/// whitespace and name bytes only, none of which can start the next `{{`, so
/// no byte is examined by more than one tag attempt; and the backslash run
/// before a `{{` is counted back only as far as the start of the pending text,
/// which then moves past it.
fn scan<'a>(template: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    let bytes = template.as_bytes();
    // Start of text not yet emitted, and where to look for the next `{{`.
    let mut pending = 0;
    let mut search = 0;
    while let Some(offset) = template[search..].find("{{") {
        let open = search + offset;
        let backslashes = bytes[pending..open]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        // Keep half of the backslashes; the odd one (if any) is the escape.
        let kept_end = open - backslashes + backslashes / 2;
        let escaped = backslashes % 2 == 1;
        let tag = if escaped {
            None
        } else {
            parse_tag(&template[open + 2..])
        };
        if backslashes > 0 || tag.is_some() {
            emit_text(&template[pending..kept_end], &mut emit);
            pending = open;
        }
        match tag {
            Some((name, len)) => {
                emit(Piece::Var(name));
                pending = open + 2 + len;
                search = pending;
            }
            // An escaped `{{` is taken whole, so `\{{{` does not start a tag
            // at the third brace.
            None if escaped => search = open + 2,
            // `{{{name}}}`: the first brace is text, the next may start a tag.
            None => search = open + 1,
        }
    }
    emit_text(&template[pending..], &mut emit);
}

fn emit_text<'a>(text: &'a str, emit: &mut impl FnMut(Piece<'a>)) {
    if !text.is_empty() {
        emit(Piece::Text(text));
    }
}

/// Parses what follows `{{`: optional whitespace, a name, optional whitespace
/// and `}}`. Returns the name and the number of bytes consumed, or `None` if
/// this is not a variable.
fn parse_tag(rest: &str) -> Option<(&str, usize)> {
    let bytes = rest.as_bytes();
    let start = skip_whitespace(bytes, 0);
    let end = start
        + bytes[start..]
            .iter()
            .take_while(|&&b| is_name_byte(b))
            .count();
    let name = &rest[start..end];
    if !is_variable_name(name) {
        return None;
    }
    let close = skip_whitespace(bytes, end);
    bytes[close..]
        .starts_with(b"}}")
        .then_some((name, close + 2))
}

fn skip_whitespace(bytes: &[u8], from: usize) -> usize {
    from + bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
