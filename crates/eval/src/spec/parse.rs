//! `evaluators: [...]` from JSON into [`EvaluatorSpec`]s, naming every bad
//! field with a [`Rule`] code, as the rest of the product does.

use std::collections::HashSet;

use promptrefine_core::validate::{Rule, Violations, label_name};
use serde_json::Value;

use super::allow::http_host;
use super::compiled::{CompiledRegex, CompiledSchema};
use super::fields::Obj;
use super::{EvaluatorKind, EvaluatorSpec, JudgeMode, MatchMode, SimilarityMetric};

/// At most this many evaluators per experiment: each one is a column in
/// every summary, and judges multiply the experiment's cost.
pub const EVALUATORS_MAX: usize = 20;
pub const NAME_MAX_CHARS: usize = 64;
pub const PATTERN_MAX_CHARS: usize = 2000;
/// The compiled program of a `regex` pattern (bytes): `a{1000}{1000}` is
/// short text but a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
const VALUES_MAX: usize = 100;
const TEXT_MAX_CHARS: usize = 10_000;
pub(super) const JSON_MAX_BYTES: usize = 64 * 1024;
const ID_MAX_CHARS: usize = 200;
const URL_MAX_CHARS: usize = 2048;
pub(crate) const HTTP_TIMEOUT_DEFAULT_MS: u64 = 10_000;
pub const HTTP_TIMEOUT_MAX_MS: u64 = 60_000;
pub(crate) const JUDGE_THRESHOLD_DEFAULT: f64 = 0.5;
pub(crate) const SIMILARITY_THRESHOLD_DEFAULT: f64 = 0.8;

pub(super) fn parse_list(value: &Value, prefix: &str) -> Result<Vec<EvaluatorSpec>, Violations> {
    let mut v = Violations::new();
    let Some(items) = value.as_array() else {
        v.push(prefix, Rule::Type, format!("{prefix} must be an array"));
        return Err(v);
    };
    if items.len() > EVALUATORS_MAX {
        v.push(
            prefix,
            Rule::Count,
            format!("{prefix} may hold at most {EVALUATORS_MAX} evaluators"),
        );
        return Err(v);
    }
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{prefix}[{i}]");
        let Some(map) = item.as_object() else {
            v.push(&field, Rule::Type, format!("{field} must be an object"));
            parsed.push((None, None));
            continue;
        };
        let mut obj = Obj::new(map, field, &mut v);
        let name = obj.name();
        let kind = obj.kind();
        obj.finish();
        parsed.push((name, kind));
    }
    let mut taken = HashSet::new();
    for (i, (name, _)) in parsed.iter().enumerate() {
        if let Some(name) = name
            && !taken.insert(name.clone())
        {
            let field = format!("{prefix}[{i}].name");
            v.push(
                &field,
                Rule::Duplicate,
                format!("{field}: the name {name:?} is already used"),
            );
        }
    }
    let mut specs = Vec::with_capacity(parsed.len());
    for (name, kind) in parsed {
        let (Some(kind), true) = (kind, v.is_empty()) else {
            continue;
        };
        let name = name.unwrap_or_else(|| default_name(kind.type_name(), &mut taken));
        specs.push(EvaluatorSpec { name, kind });
    }
    v.or(specs)
}

/// `contains`, then `contains_2`, `contains_3`, … skipping names in use.
fn default_name(base: &str, taken: &mut HashSet<String>) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

impl Obj<'_> {
    fn name(&mut self) -> Option<String> {
        let raw = self.string("name", usize::MAX)?;
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
            self.push(
                "name",
                Rule::Length,
                format!("must be 1–{NAME_MAX_CHARS} characters"),
            );
            None
        } else if name.chars().any(char::is_control) {
            self.push(
                "name",
                Rule::Characters,
                "must be one line without control characters",
            );
            None
        } else {
            Some(name.to_owned())
        }
    }

    fn kind(&mut self) -> Option<EvaluatorKind> {
        let errors_before = self.v.len();
        let Some(ty) = self.map.get("type") else {
            self.push("type", Rule::Required, "is required");
            // Without a type its options cannot be judged.
            self.check_unknown = false;
            return None;
        };
        let Some(ty) = ty.as_str() else {
            self.push("type", Rule::Type, "must be a string");
            self.check_unknown = false;
            return None;
        };
        let kind = match ty {
            "exact_match" => self.exact_match(),
            "contains" => {
                self.contains()
                    .map(|(values, mode, ignore_case)| EvaluatorKind::Contains {
                        values,
                        mode,
                        ignore_case,
                    })
            }
            "not_contains" => {
                self.contains()
                    .map(|(values, mode, ignore_case)| EvaluatorKind::NotContains {
                        values,
                        mode,
                        ignore_case,
                    })
            }
            "regex" => self.regex(),
            "json_valid" => Some(EvaluatorKind::JsonValid),
            "json_schema" => self.json_schema(),
            "json_equals" => self.json_equals(),
            "similarity" => self.similarity(),
            "length" => self.length(),
            "latency" => {
                let max_ms = self.integer("maxMs", 1, u64::MAX);
                self.required("maxMs", max_ms)
                    .map(|max_ms| EvaluatorKind::Latency { max_ms })
            }
            "cost" => {
                let max_usd = self.number("maxUsd", 0.0, f64::MAX);
                self.required("maxUsd", max_usd)
                    .map(|max_usd| EvaluatorKind::Cost { max_usd })
            }
            "llm_judge" => self.llm_judge(),
            "http" => self.http(),
            _ => {
                self.push(
                    "type",
                    Rule::OneOf,
                    format!("must be one of: {}", EvaluatorKind::TYPES.join(", ")),
                );
                self.check_unknown = false;
                None
            }
        };
        // Every option of a known type was read, even when one was bad.
        kind.filter(|_| self.v.len() == errors_before)
    }

    fn exact_match(&mut self) -> Option<EvaluatorKind> {
        let value = self.string("value", TEXT_MAX_CHARS).map(str::to_owned);
        Some(EvaluatorKind::ExactMatch {
            value,
            trim: self.bool("trim", true),
            ignore_case: self.bool("ignoreCase", false),
            collapse_whitespace: self.bool("collapseWhitespace", false),
        })
    }

    fn contains(&mut self) -> Option<(Vec<String>, MatchMode, bool)> {
        let mode = self.word("mode", &[("any", MatchMode::Any), ("all", MatchMode::All)]);
        let ignore_case = self.bool("ignoreCase", false);
        let values = match self.get("values") {
            None => {
                self.push("values", Rule::Required, "is required");
                None
            }
            Some(Value::Array(a)) if a.is_empty() || a.len() > VALUES_MAX => {
                self.push(
                    "values",
                    Rule::Count,
                    format!("must hold 1–{VALUES_MAX} strings"),
                );
                None
            }
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, s) in a.iter().enumerate() {
                    let field = self.field(&format!("values[{i}]"));
                    match s.as_str() {
                        Some(s) if !s.is_empty() && s.chars().count() <= TEXT_MAX_CHARS => {
                            out.push(s.to_owned());
                        }
                        Some(_) => self.v.push(
                            &field,
                            Rule::Length,
                            format!("{field} must be 1–{TEXT_MAX_CHARS} characters"),
                        ),
                        None => {
                            self.v
                                .push(&field, Rule::Type, format!("{field} must be a string"))
                        }
                    }
                }
                (out.len() == a.len()).then_some(out)
            }
            Some(_) => {
                self.push("values", Rule::Type, "must be an array of strings");
                None
            }
        };
        Some((values?, mode.unwrap_or(MatchMode::Any), ignore_case))
    }

    fn regex(&mut self) -> Option<EvaluatorKind> {
        let pattern = self.required_string("pattern", PATTERN_MAX_CHARS)?;
        match regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(regex) => Some(EvaluatorKind::Regex {
                pattern: CompiledRegex { regex },
            }),
            Err(regex::Error::CompiledTooBig(_)) => {
                self.push(
                    "pattern",
                    Rule::Size,
                    "compiles to a program that is too large",
                );
                None
            }
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_owned();
                self.push(
                    "pattern",
                    Rule::Format,
                    format!("is not a valid regular expression: {first}"),
                );
                None
            }
        }
    }

    fn json_schema(&mut self) -> Option<EvaluatorKind> {
        let schema = self.json("schema");
        let schema = self.required("schema", schema)?;
        if !schema.is_object() && !schema.is_boolean() {
            self.push("schema", Rule::Type, "must be a JSON Schema object");
            return None;
        }
        let built = jsonschema::options()
            .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(REGEX_SIZE_LIMIT))
            .build(schema);
        match built {
            Ok(validator) => Some(EvaluatorKind::JsonSchema {
                schema: CompiledSchema {
                    source: schema.clone(),
                    validator,
                },
            }),
            Err(e) => {
                self.push(
                    "schema",
                    Rule::Format,
                    format!("is not a valid JSON Schema: {e}"),
                );
                None
            }
        }
    }

    fn json_equals(&mut self) -> Option<EvaluatorKind> {
        let value = self.json("value").cloned();
        let pointer = self.string("pointer", TEXT_MAX_CHARS);
        if let Some(p) = pointer
            && !p.starts_with('/')
        {
            self.push(
                "pointer",
                Rule::Format,
                "must be a JSON pointer such as /answer/0",
            );
        }
        Some(EvaluatorKind::JsonEquals {
            value,
            pointer: pointer.map(str::to_owned),
        })
    }

    fn similarity(&mut self) -> Option<EvaluatorKind> {
        let metric = self.word(
            "metric",
            &[
                ("levenshtein", SimilarityMetric::Levenshtein),
                ("jaccard", SimilarityMetric::Jaccard),
                ("token_f1", SimilarityMetric::TokenF1),
            ],
        );
        let threshold = self.number("threshold", 0.0, 1.0);
        Some(EvaluatorKind::Similarity {
            metric: self.required("metric", metric)?,
            threshold: threshold.unwrap_or(SIMILARITY_THRESHOLD_DEFAULT),
        })
    }

    fn length(&mut self) -> Option<EvaluatorKind> {
        let min_chars = self.integer("minChars", 0, u64::MAX);
        let max_chars = self.integer("maxChars", 0, u64::MAX);
        match (min_chars, max_chars) {
            (None, None) => {
                if !self.map.contains_key("minChars") && !self.map.contains_key("maxChars") {
                    self.push("maxChars", Rule::Required, "or minChars is required");
                }
                None
            }
            (Some(lo), Some(hi)) if lo > hi => {
                self.push("maxChars", Rule::Range, "must be at least minChars");
                None
            }
            _ => Some(EvaluatorKind::Length {
                min_chars,
                max_chars,
            }),
        }
    }

    fn llm_judge(&mut self) -> Option<EvaluatorKind> {
        let prompt_id = self.required_string("promptId", ID_MAX_CHARS);
        let label = self.string("label", usize::MAX);
        if let Some(label) = label {
            let field = self.field("label");
            label_name(self.v, &field, label);
        }
        let version_id = self.string("versionId", ID_MAX_CHARS);
        if label.is_some() && version_id.is_some() {
            self.push(
                "versionId",
                Rule::OneOf,
                "and label cannot both be given: pick one",
            );
        }
        let mode = self.word(
            "mode",
            &[("score", JudgeMode::Score), ("pass", JudgeMode::Pass)],
        );
        let threshold = self.number("threshold", 0.0, 1.0);
        Some(EvaluatorKind::LlmJudge {
            prompt_id: prompt_id?.to_owned(),
            label: label.map(str::to_owned),
            version_id: version_id.map(str::to_owned),
            mode: mode.unwrap_or(JudgeMode::Score),
            threshold: threshold.unwrap_or(JUDGE_THRESHOLD_DEFAULT),
        })
    }

    fn http(&mut self) -> Option<EvaluatorKind> {
        let url = self.required_string("url", URL_MAX_CHARS);
        if let Some(url) = url
            && http_host(url).is_none()
        {
            self.push(
                "url",
                Rule::Format,
                "must be an http:// or https:// URL with a host",
            );
        }
        let timeout_ms = self.integer("timeoutMs", 1, HTTP_TIMEOUT_MAX_MS);
        Some(EvaluatorKind::Http {
            url: url?.to_owned(),
            timeout_ms: timeout_ms.unwrap_or(HTTP_TIMEOUT_DEFAULT_MS),
        })
    }
}
