//! The reading of one evaluator object's options: typed getters that
//! record a violation instead of failing, and the check for unknown keys.

use promptrefine_core::validate::{Rule, Violations};
use serde_json::{Map, Value};

use super::parse::JSON_MAX_BYTES;

/// One evaluator object being read: remembers which keys were read so the
/// rest can be reported as unknown (a misspelt `ignorecase` must not
/// silently fall back to the default).
pub(super) struct Obj<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) prefix: String,
    pub(super) used: Vec<&'static str>,
    pub(super) v: &'a mut Violations,
    /// False when the type was unknown: its keys cannot be judged.
    pub(super) check_unknown: bool,
}

impl<'a> Obj<'a> {
    pub(super) fn new(map: &'a Map<String, Value>, prefix: String, v: &'a mut Violations) -> Self {
        Obj {
            map,
            prefix,
            used: vec!["name", "type"],
            v,
            check_unknown: true,
        }
    }

    pub(super) fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    pub(super) fn push(&mut self, key: &str, rule: Rule, message: impl std::fmt::Display) {
        let field = self.field(key);
        self.v.push(&field, rule, format!("{field} {message}"));
    }

    /// The value of `key`; `null` counts as absent.
    pub(super) fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn bool(&mut self, key: &'static str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.push(key, Rule::Type, "must be true or false");
                default
            }
        }
    }

    pub(super) fn string(&mut self, key: &'static str, max_chars: usize) -> Option<&'a str> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) if s.is_empty() => {
                self.push(key, Rule::Length, "must not be empty");
                None
            }
            Some(Value::String(s)) if s.chars().count() > max_chars => {
                self.push(
                    key,
                    Rule::Length,
                    format!("must be at most {max_chars} characters"),
                );
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.push(key, Rule::Type, "must be a string");
                None
            }
        }
    }

    pub(super) fn required_string(
        &mut self,
        key: &'static str,
        max_chars: usize,
    ) -> Option<&'a str> {
        let present = self.map.get(key).is_some_and(|v| !v.is_null());
        let s = self.string(key, max_chars);
        if !present {
            self.push(key, Rule::Required, "is required");
        }
        s
    }

    pub(super) fn required<T>(&mut self, key: &'static str, value: Option<T>) -> Option<T> {
        if value.is_none() && self.map.get(key).is_none_or(Value::is_null) {
            self.push(key, Rule::Required, "is required");
        }
        value
    }

    /// A whole number in `min..=max`.
    pub(super) fn integer(&mut self, key: &'static str, min: u64, max: u64) -> Option<u64> {
        let value = self.get(key)?;
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.push(key, Rule::Range, format!("must be from {min} to {max}"));
                None
            }
            None if value.as_i64().is_some() => {
                self.push(key, Rule::Range, format!("must be from {min} to {max}"));
                None
            }
            None => {
                self.push(key, Rule::Type, "must be a whole number");
                None
            }
        }
    }

    /// A finite number in `min..=max`.
    pub(super) fn number(&mut self, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let value = self.get(key)?;
        match value.as_f64() {
            Some(x) if x.is_finite() && (min..=max).contains(&x) => Some(x),
            Some(_) => {
                self.push(key, Rule::Range, format!("must be from {min} to {max}"));
                None
            }
            None => {
                self.push(key, Rule::Type, "must be a number");
                None
            }
        }
    }

    /// One of `words` (`mode: "any"`); `None` when absent.
    pub(super) fn word<T: Copy>(&mut self, key: &'static str, words: &[(&str, T)]) -> Option<T> {
        let value = self.get(key)?;
        let found = value
            .as_str()
            .and_then(|s| words.iter().find(|(w, _)| *w == s));
        if found.is_none() {
            let allowed: Vec<_> = words.iter().map(|(w, _)| *w).collect();
            self.push(
                key,
                Rule::OneOf,
                format!("must be one of: {}", allowed.join(", ")),
            );
        }
        found.map(|(_, t)| *t)
    }

    pub(super) fn json(&mut self, key: &'static str) -> Option<&'a Value> {
        let value = self.get(key)?;
        if serde_json::to_vec(value).map_or(usize::MAX, |b| b.len()) > JSON_MAX_BYTES {
            self.push(
                key,
                Rule::Size,
                format!("must be at most {JSON_MAX_BYTES} bytes of JSON"),
            );
            return None;
        }
        Some(value)
    }

    pub(super) fn finish(self) {
        if !self.check_unknown {
            return;
        }
        let allowed: Vec<_> = self
            .used
            .iter()
            .copied()
            .filter(|k| *k != "name" && *k != "type")
            .collect();
        for key in self.map.keys() {
            if !self.used.contains(&key.as_str()) {
                let field = format!("{}.{key}", self.prefix);
                let options = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                self.v.push(
                    &field,
                    Rule::OneOf,
                    format!("{field} is not an option of this evaluator (its options: {options})"),
                );
            }
        }
    }
}
