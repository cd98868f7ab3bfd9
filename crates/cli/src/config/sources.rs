//! Where a setting can come from, and which wins: flag > environment >
//! `.env` > TOML file > default.
//!
//! The layering is [figment]'s: each layer is one figment [`Provider`]
//! named after its [`Source`], merged in order, so the winning value of a
//! key and the layer it came from (its metadata, which `check` prints) are
//! figment's answer. Reading each layer stays here, because each has a rule
//! figment's own providers do not keep: the environment is passed in (tests
//! need not touch the real one, and `set_var` is `unsafe` in edition 2024);
//! an empty value counts as unset; and a parse error must name the line,
//! never quote it (a `.env` or TOML line may hold a secret).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::ConfigError;
use super::keys;
use super::providers::ProviderSpec;

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    DotEnv,
    File,
    Default,
}

impl Source {
    const ALL: [Source; 5] = [
        Source::Flag,
        Source::Env,
        Source::DotEnv,
        Source::File,
        Source::Default,
    ];

    fn name(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::DotEnv => ".env",
            Source::File => "config file",
            Source::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One layer as a figment provider: its values keyed by the lower-case key
/// name (the TOML spelling), all in the default profile.
#[derive(Clone)]
struct Layer {
    source: Source,
    values: Dict,
}

impl Layer {
    /// String values by any-case key name; empty ones are left out.
    fn of_strings(source: Source, pairs: impl IntoIterator<Item = (String, String)>) -> Layer {
        let values = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(v)))
            .collect();
        Layer { source, values }
    }

    fn defaults() -> Layer {
        let pairs = keys::KEYS
            .iter()
            .filter_map(|k| Some((k.name.to_string(), k.default?.to_string())));
        Layer::of_strings(Source::Default, pairs)
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.name())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// Every layer, read once at start-up and merged by figment.
pub struct Layers {
    figment: Figment,
    /// The TOML file that was read, if any.
    pub config_file: Option<PathBuf>,
}

impl Layers {
    /// Reads `.env` from `cwd` and the TOML file. `env` is the process
    /// environment (passed in so tests need not touch the real one).
    pub fn load(
        flags: Vec<(&'static str, String)>,
        config_flag: Option<&Path>,
        env: HashMap<String, String>,
        cwd: &Path,
    ) -> Result<Layers, ConfigError> {
        let env = Layer::of_strings(Source::Env, env);
        let dotenv_path = cwd.join(".env");
        let dotenv = if dotenv_path.is_file() {
            Layer::of_strings(Source::DotEnv, read_dotenv(&dotenv_path)?)
        } else {
            Layer::of_strings(Source::DotEnv, [])
        };
        // The file's own name can only come from a flag, the environment or `.env`.
        let named = Figment::new().merge(dotenv.clone()).merge(env.clone());
        let explicit = config_flag.map(Path::to_path_buf).or_else(|| {
            named
                .find_value("promptrefine_config")
                .ok()
                .and_then(|v| v.into_string())
                .map(PathBuf::from)
        });
        let path = match explicit {
            Some(p) => {
                let p = if p.is_absolute() { p } else { cwd.join(p) };
                if !p.is_file() {
                    return Err(ConfigError(format!(
                        "config file {} not found",
                        p.display()
                    )));
                }
                Some(p)
            }
            None => Some(cwd.join("promptrefine.toml")).filter(|p| p.is_file()),
        };
        let file = match &path {
            Some(path) => read_toml(path)?,
            None => Layer::of_strings(Source::File, []),
        };
        let flags = Layer::of_strings(
            Source::Flag,
            flags.into_iter().map(|(k, v)| (k.to_string(), v)),
        );
        let figment = Figment::new()
            .merge(Layer::defaults())
            .merge(file)
            .merge(dotenv)
            .merge(env)
            .merge(flags);
        Ok(Layers {
            figment,
            config_file: path,
        })
    }

    /// The winning value of a key (its environment name) and its source.
    /// Built-in defaults are a layer too: a key with a default always has a
    /// value. A provider's key variable (`api_key_env`) is found the same
    /// way: only the environment, `.env` and the file can hold it.
    pub fn get(&self, key: &str) -> Option<(String, Source)> {
        let value = self.figment.find_value(&key.to_ascii_lowercase()).ok()?;
        let source = self.source_of(&value);
        value.into_string().map(|v| (v, source))
    }

    /// Like [`Layers::get`], skipping a built-in default (for a key that
    /// falls back to another one before its default, like `LOG_LEVEL`).
    pub fn get_set(&self, key: &str) -> Option<(String, Source)> {
        self.get(key).filter(|(_, s)| *s != Source::Default)
    }

    /// Where `key`'s value came from (`Default` when it has none).
    pub fn source(&self, key: &str) -> Source {
        self.figment
            .find_value(&key.to_ascii_lowercase())
            .map_or(Source::Default, |v| self.source_of(&v))
    }

    /// The provider list: `PROVIDERS` as JSON from any layer, or the TOML
    /// file's `[[providers]]` (already checked when the file was read).
    pub fn providers(&self) -> Result<Option<Vec<ProviderSpec>>, ConfigError> {
        let Ok(value) = self.figment.find_value("providers") else {
            return Ok(None);
        };
        let source = self.source_of(&value);
        let parsed = match value.as_str() {
            Some(json) => serde_json::from_str(json).map_err(|e| {
                ConfigError(format!(
                    "invalid PROVIDERS (from {source}): expected a JSON list of {{name, base_url, api_key_env?, models?, headers?}}: {e}"
                ))
            })?,
            None => value
                .deserialize()
                .map_err(|e| ConfigError(format!("invalid [[providers]]: {e}")))?,
        };
        Ok(Some(parsed))
    }

    /// The layer a value came from, by the metadata figment keeps per value.
    fn source_of(&self, value: &Value) -> Source {
        let name = self.figment.get_metadata(value.tag()).map(|m| &m.name);
        Source::ALL
            .into_iter()
            .find(|s| name.is_some_and(|n| n == s.name()))
            .unwrap_or(Source::Default)
    }
}

/// The TOML file as a layer: scalars as text (lists of strings joined by
/// commas, as in the environment), `[[providers]]` checked and kept whole.
fn read_toml(path: &Path) -> Result<Layer, ConfigError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {shown}: {e}")))?;
    // The parser's own Display quotes the offending line, which may hold a
    // secret: report the line number and the reason only.
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
        ConfigError(format!(
            "invalid config file {shown}{at}: {}",
            e.message().trim()
        ))
    })?;
    let mut referenced = Vec::new();
    let mut values = Dict::new();
    for (name, value) in table {
        let lower = name.to_ascii_lowercase();
        if lower == "providers" && !value.is_str() {
            let specs: Vec<ProviderSpec> = value.try_into().map_err(|e: toml::de::Error| {
                ConfigError(format!(
                    "invalid [[providers]] in {shown}: {}",
                    e.message().trim()
                ))
            })?;
            referenced.extend(specs.iter().filter_map(|p| p.api_key_env.clone()));
            let kept = Value::serialize(&specs)
                .map_err(|e| ConfigError(format!("invalid [[providers]] in {shown}: {e}")))?;
            values.insert(lower, kept);
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => join_strings(&name, items, &shown)?,
            _ => {
                return Err(ConfigError(format!(
                    "invalid key {name} in {shown}: expected a string, number, boolean or list"
                )));
            }
        };
        if !text.is_empty() {
            values.insert(lower, Value::from(text));
        }
    }
    // Catch typos: every key must be a known setting or a provider's key variable.
    let known = |k: &str| {
        k == "providers"
            || keys::find(&k.to_ascii_uppercase()).is_some()
            || referenced.iter().any(|r| r.eq_ignore_ascii_case(k))
    };
    if let Some(k) = values.keys().find(|k| !known(k)) {
        return Err(ConfigError(format!(
            "unknown key {k} in {shown} (keys are the environment variable names in lower case)"
        )));
    }
    Ok(Layer {
        source: Source::File,
        values,
    })
}

fn join_strings(
    name: &str,
    items: Vec<toml::Value>,
    shown: &impl fmt::Display,
) -> Result<String, ConfigError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            toml::Value::String(s) => out.push(s),
            _ => {
                return Err(ConfigError(format!(
                    "invalid key {name} in {shown}: expected a list of strings"
                )));
            }
        }
    }
    Ok(out.join(","))
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let shown = path.display();
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| ConfigError(format!("cannot read {shown}: {e}")))?;
    let mut out = HashMap::new();
    for item in iter {
        match item {
            Ok((k, v)) if v.is_empty() => {
                out.remove(&k);
            }
            Ok((k, v)) => {
                out.insert(k, v);
            }
            // dotenvy's message quotes the whole line, which may hold a
            // secret: name the line number instead.
            Err(dotenvy::Error::LineParse(line, _)) => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let n = text
                    .lines()
                    .position(|l| l.contains(line.trim()))
                    .map(|i| i + 1);
                let at = n.map(|n| format!(" line {n}")).unwrap_or_default();
                return Err(ConfigError(format!(
                    "invalid {shown}{at}: expected KEY=VALUE"
                )));
            }
            Err(e) => return Err(ConfigError(format!("cannot read {shown}: {e}"))),
        }
    }
    Ok(out)
}
