//! The prompt file: one prompt's current version and metadata as TOML, made
//! to be read, edited and diffed in git.
//!
//! ```toml
//! # PromptRefine prompt file …
//! title = "Summarize"
//! type = "text"
//! tags = ["demo"]
//! note = "shorter"
//! body = '''
//! Summarize {{text}} in {{n}} sentences.
//! '''
//!
//! [settings]
//! model = "gpt-4o-mini"
//! temperature = 0.2
//! ```
//!
//! A chat prompt has `[[messages]]` tables (`role`, `content`) instead of
//! `body`; a message with tool calls, a tool's answer or content parts
//! carries them under their Chat Completions names (`tool_calls`,
//! `tool_call_id`, `content` as a list of `{type, text | image_url}`). The file name is the slug (`summarize.prompt.toml`), so it cannot
//! disagree with a field. Bodies are written as multi-line strings, literal
//! (`'''`, nothing escaped) whenever the text allows, so a one-line edit is
//! a one-line diff. Settings keys are those of the API (`maxTokens`, `topP`,
//! `responseFormat` …). Every file written is parsed back and compared
//! before it is kept: a prompt that TOML cannot carry faithfully is an error,
//! never a silent change.

use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{ChatMessage, Content, ModelSettings, PromptType, slug};
use serde::{Deserialize, Serialize};

/// What every prompt file's name ends with.
pub const SUFFIX: &str = ".prompt.toml";

/// One prompt as a file says it.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptFile {
    pub title: String,
    pub prompt_type: PromptType,
    pub tags: Vec<String>,
    /// The current version's note when pulled; a push may use it as the
    /// note of the version it saves.
    pub note: Option<String>,
    pub content: Content,
    pub settings: ModelSettings,
}

/// The file as TOML has it, before the shape is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    title: Option<String>,
    #[serde(rename = "type")]
    prompt_type: Option<PromptType>,
    #[serde(default)]
    tags: Vec<String>,
    note: Option<String>,
    body: Option<String>,
    #[serde(default)]
    settings: ModelSettings,
    messages: Option<Vec<ChatMessage>>,
}

#[derive(Serialize)]
struct SettingsTable<'a> {
    settings: &'a ModelSettings,
}

#[derive(Serialize)]
struct MessageTable<'a> {
    messages: [&'a ChatMessage; 1],
}

/// `<slug>.prompt.toml`; None for a slug that is not `[a-z0-9-]`.
pub fn file_name(slug: &str) -> Option<String> {
    slug::is_valid_slug(slug).then(|| format!("{slug}{SUFFIX}"))
}

/// The slug a file name stands for, or why the name is refused.
pub fn slug_of(name: &str) -> Result<&str, String> {
    let Some(stem) = name.strip_suffix(SUFFIX) else {
        return Err(format!("the name must end with {SUFFIX}"));
    };
    if slug::is_valid_slug(stem) {
        Ok(stem)
    } else {
        Err(format!(
            "{stem:?} is not a slug: use only a–z, 0–9 and '-', not at the start or end (at most {} characters)",
            validate::limits::SLUG_MAX_CHARS
        ))
    }
}

impl PromptFile {
    /// The file's text; Err when it would not read back as the same prompt.
    pub fn render(&self) -> Result<String, String> {
        let mut out = String::from(
            "# PromptRefine prompt file. Edit it, then run `promptrefine prompts push DIR`.\n\
             # The file name is the prompt's slug. A push saves a new version only when the\n\
             # body or the settings changed; `note` describes that version.\n",
        );
        out.push_str(&format!("title = {}\n", quoted(&self.title)));
        out.push_str(&format!("type = \"{}\"\n", self.prompt_type.as_str()));
        let tags: Vec<String> = self.tags.iter().map(|t| quoted(t)).collect();
        out.push_str(&format!("tags = [{}]\n", tags.join(", ")));
        if let Some(note) = &self.note {
            out.push_str(&format!("note = {}\n", string(note)));
        }
        if let Content::Text(body) = &self.content {
            out.push_str(&format!("body = {}\n", multiline(body)));
        }
        out.push('\n');
        let settings = toml::to_string(&SettingsTable {
            settings: &self.settings,
        })
        .map_err(|e| format!("the settings cannot be written as TOML: {e}"))?;
        out.push_str(&settings);
        if let Content::Chat(messages) = &self.content {
            for m in messages {
                let plain = m.parts.is_none()
                    && m.tool_calls.is_none()
                    && m.tool_call_id.is_none()
                    && m.name.is_none();
                if plain {
                    out.push_str(&format!(
                        "\n[[messages]]\nrole = \"{}\"\ncontent = {}\n",
                        m.role.as_str(),
                        multiline(&m.content)
                    ));
                } else {
                    // Tool calls, tool answers and content parts: the
                    // message's own (Chat Completions) shape, as TOML tables.
                    let table = toml::to_string(&MessageTable { messages: [m] })
                        .map_err(|e| format!("a message cannot be written as TOML: {e}"))?;
                    out.push('\n');
                    out.push_str(&table);
                }
            }
        }
        match PromptFile::parse("x", &out) {
            Ok(back) if &back == self => Ok(out),
            _ => Err("this prompt cannot be written as a TOML file without changing it".into()),
        }
    }

    /// Reads a file's text (`slug` is the default title) and checks it with
    /// the same rules the API applies, so a push refuses a bad file before
    /// it writes anything.
    pub fn parse(slug: &str, text: &str) -> Result<PromptFile, String> {
        // A checkout with CRLF line ends must not turn every body into a change.
        let text = text.replace("\r\n", "\n");
        let raw: Raw = toml::from_str(&text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let content = match (raw.body, raw.messages) {
            (Some(body), None) => Content::Text(body),
            (None, Some(messages)) => Content::Chat(messages),
            (Some(_), Some(_)) => {
                return Err(
                    "has both `body` and `[[messages]]`: a text prompt has a body, a chat prompt messages"
                        .into(),
                );
            }
            (None, None) => {
                return Err(
                    "has neither `body` (a text prompt) nor `[[messages]]` (a chat prompt)".into(),
                );
            }
        };
        let prompt_type = raw.prompt_type.unwrap_or(content.prompt_type());
        let file = PromptFile {
            title: raw.title.unwrap_or_else(|| slug.to_owned()),
            prompt_type,
            tags: raw.tags,
            note: raw.note,
            content,
            settings: raw.settings,
        };
        let mut v = Violations::default();
        validate::title(&mut v, "title", &file.title);
        validate::tags(&mut v, "tags", &file.tags);
        validate::note(&mut v, "note", file.note.as_deref());
        let field = match prompt_type {
            PromptType::Text => "body",
            PromptType::Chat => "messages",
        };
        validate::content(&mut v, field, &file.content, prompt_type);
        validate::settings(&mut v, "settings", &file.settings);
        if v.is_empty() {
            Ok(file)
        } else {
            let problems: Vec<String> = v.into_iter().map(|e| e.message).collect();
            Err(problems.join("; "))
        }
    }
}

/// A one-line basic string, escaped as TOML requires.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A note or body: multi-line when it has line breaks.
fn string(s: &str) -> String {
    if s.contains('\n') {
        multiline(s)
    } else {
        quoted(s)
    }
}

/// A multi-line string starting on the next line: literal (`'''`, read
/// exactly as written) when the text allows it, else basic (`"""`) with
/// only `\`, `"` and control characters escaped.
fn multiline(s: &str) -> String {
    let literal_ok = !s.contains("'''")
        && !s.ends_with('\'')
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if literal_ok {
        return format!("'''\n{s}'''");
    }
    let mut out = String::from("\"\"\"\n");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("\"\"\"");
    out
}

#[cfg(test)]
mod tests {
    use promptrefine_core::Role;

    use super::*;

    fn text(body: &str) -> PromptFile {
        PromptFile {
            title: "Summarize \"this\"".into(),
            prompt_type: PromptType::Text,
            tags: vec!["demo".into(), "a b".into()],
            note: Some("first".into()),
            content: Content::Text(body.into()),
            settings: ModelSettings {
                model: Some("gpt-4o-mini".into()),
                temperature: Some(0.2),
                max_tokens: Some(200),
                stop: Some(vec!["###".into()]),
                response_format: Some(serde_json::json!({ "type": "json_object" })),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_text_prompt_reads_back_as_written_with_its_body_verbatim() {
        let file = text("Summarize {{text}}.\n\nIn {{n}} sentences.\n");
        let out = file.render().unwrap();
        assert!(
            out.contains("body = '''\nSummarize {{text}}.\n\nIn {{n}} sentences.\n'''"),
            "{out}"
        );
        assert!(out.contains("[settings]\nmodel = \"gpt-4o-mini\""), "{out}");
        assert_eq!(PromptFile::parse("s", &out).unwrap(), file);
    }

    #[test]
    fn awkward_bodies_survive_the_round_trip() {
        for body in [
            "no final newline",
            "\nstarts with a newline",
            "quotes ''' and \"\"\" and a backslash \\n",
            "ends with a quote'",
            "a tab\tand a carriage return\r\nand a bell \u{7}",
            "unicode: héllo → 世界",
        ] {
            let file = text(body);
            let out = file.render().unwrap();
            assert_eq!(PromptFile::parse("s", &out).unwrap(), file, "{out}");
        }
    }

    #[test]
    fn a_chat_prompt_is_written_as_messages_tables() {
        let file = PromptFile {
            title: "Support".into(),
            prompt_type: PromptType::Chat,
            tags: vec![],
            note: None,
            content: Content::Chat(vec![
                ChatMessage {
                    role: Role::System,
                    content: "Be brief.".into(),
                    ..Default::default()
                },
                ChatMessage {
                    role: Role::User,
                    content: "{{question}}\n".into(),
                    ..Default::default()
                },
            ]),
            settings: ModelSettings::default(),
        };
        let out = file.render().unwrap();
        assert!(
            out.contains("[[messages]]\nrole = \"system\"\ncontent = '''\nBe brief.'''"),
            "{out}"
        );
        assert!(!out.contains("body ="), "{out}");
        assert_eq!(PromptFile::parse("support", &out).unwrap(), file);
    }

    #[test]
    fn every_field_of_the_recipe_survives_the_round_trip() {
        let settings: ModelSettings = serde_json::from_value(serde_json::json!({
            "model": "gpt-4o-mini", "seed": 3, "maxCompletionTokens": 50,
            "frequencyPenalty": 0.5, "presencePenalty": -0.5, "logitBias": {"50256": -100},
            "reasoningEffort": "low", "parallelToolCalls": false, "toolChoice": "auto",
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "d",
                "parameters": {"type": "object", "properties": {"q": {"type": "string", "minLength": 1}}, "required": ["q"]}}}],
            "responseFormat": {"type": "json_schema", "json_schema": {"name": "out", "strict": true,
                "schema": {"type": "object", "properties": {"a": {"type": "number"}}}}},
            "extra": {"top_k": 40, "provider": {"order": ["x"]}}
        }))
        .unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(serde_json::json!([
            {"role": "system", "content": "Use tools."},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            {"role": "user", "content": [
                {"type": "text", "text": "Look at {{thing}}"},
                {"type": "image_url", "image_url": {"url": "{{image}}", "detail": "low"}}]}
        ]))
        .unwrap();
        let file = PromptFile {
            title: "Tools".into(),
            prompt_type: PromptType::Chat,
            tags: vec![],
            note: None,
            content: Content::Chat(messages),
            settings,
        };
        let out = file.render().unwrap();
        assert!(out.contains("tool_call_id = \"call_1\""), "{out}");
        assert_eq!(PromptFile::parse("tools", &out).unwrap(), file, "{out}");
    }

    #[test]
    fn a_minimal_file_takes_its_title_from_the_slug_and_its_type_from_the_body() {
        let f = PromptFile::parse("hello", "body = \"Hi {{name}}\"\n").unwrap();
        assert_eq!(
            (f.title.as_str(), f.prompt_type, f.tags.len()),
            ("hello", PromptType::Text, 0)
        );
        let f = PromptFile::parse("c", "[[messages]]\nrole = \"user\"\ncontent = \"x\"\n").unwrap();
        assert_eq!(f.prompt_type, PromptType::Chat);
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        let bad = [
            ("title = \"x\"\n", "neither"),
            (
                "body = \"a\"\n[[messages]]\nrole = \"user\"\ncontent = \"b\"\n",
                "both",
            ),
            ("type = \"chat\"\nbody = \"a\"\n", "list of messages"),
            ("body = \"a\"\ncolour = \"red\"\n", "unknown field"),
            ("body = \"   \"\n", "must not be empty"),
            (
                "body = \"a\"\n[settings]\ntemperature = 9.0\n",
                "temperature",
            ),
            ("body = 'unterminated\n", "line 1"),
        ];
        for (text, reason) in bad {
            let err = PromptFile::parse("x", text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn only_slug_file_names_are_prompt_files() {
        assert_eq!(slug_of("summarize-v2.prompt.toml"), Ok("summarize-v2"));
        for name in [
            "../x.prompt.toml",
            "Upper.prompt.toml",
            "a_b.prompt.toml",
            "-a.prompt.toml",
            ".prompt.toml",
            "x.toml",
        ] {
            assert!(slug_of(name).is_err(), "{name}");
        }
        assert_eq!(file_name("ok-1").as_deref(), Some("ok-1.prompt.toml"));
        assert_eq!(file_name("../etc"), None);
    }
}
