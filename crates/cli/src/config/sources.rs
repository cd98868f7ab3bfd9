//! Where a setting can come from, and which wins: flag > environment >
//! `.env` > TOML file > default.
//!
//! The layers are read into maps instead of being copied into the process
//! environment: `set_var` is `unsafe` in edition 2024 (other threads may read
//! the environment), and keeping each layer apart is what lets `check` say
//! where every effective value came from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

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

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::DotEnv => ".env",
            Source::File => "config file",
            Source::Default => "default",
        })
    }
}

/// Every layer, read once at start-up.
#[derive(Default)]
pub struct Layers {
    flags: HashMap<String, String>,
    env: HashMap<String, String>,
    dotenv: HashMap<String, String>,
    /// Scalar TOML values, keyed by the upper-case environment name.
    file: HashMap<String, String>,
    /// `[[providers]]` from the TOML file, when present.
    pub file_providers: Option<Vec<ProviderSpec>>,
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
        let mut layers = Layers {
            flags: flags.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            env: env.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            ..Layers::default()
        };
        let dotenv_path = cwd.join(".env");
        if dotenv_path.is_file() {
            layers.dotenv = read_dotenv(&dotenv_path)?;
        }
        let explicit = config_flag.map(Path::to_path_buf).or_else(|| {
            layers
                .lookup("PROMPTREFINE_CONFIG")
                .map(|(v, _)| PathBuf::from(v))
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
        if let Some(path) = path {
            layers.read_toml(&path)?;
            layers.config_file = Some(path);
        }
        Ok(layers)
    }

    /// The winning value of a key and its source; empty values count as unset.
    pub fn get(&self, key: &str) -> Option<(String, Source)> {
        if let Some(v) = self.flags.get(key) {
            return Some((v.clone(), Source::Flag));
        }
        self.lookup(key)
            .or_else(|| self.file.get(key).map(|v| (v.clone(), Source::File)))
    }

    /// Environment, then `.env` (for names that are not configuration keys,
    /// such as a provider's `api_key_env`, and for `PROMPTREFINE_CONFIG`).
    fn lookup(&self, key: &str) -> Option<(String, Source)> {
        if let Some(v) = self.env.get(key) {
            return Some((v.clone(), Source::Env));
        }
        self.dotenv.get(key).map(|v| (v.clone(), Source::DotEnv))
    }

    /// A provider key: environment, `.env`, then the file (under its
    /// lower-case name, like every other key).
    pub fn secret_var(&self, name: &str) -> Option<(String, Source)> {
        self.lookup(name)
            .or_else(|| self.file.get(name).map(|v| (v.clone(), Source::File)))
    }

    fn read_toml(&mut self, path: &Path) -> Result<(), ConfigError> {
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
        for (name, value) in table {
            if name == "providers" {
                let specs: Vec<ProviderSpec> = value.try_into().map_err(|e: toml::de::Error| {
                    ConfigError(format!(
                        "invalid [[providers]] in {shown}: {}",
                        e.message().trim()
                    ))
                })?;
                referenced.extend(specs.iter().filter_map(|p| p.api_key_env.clone()));
                self.file_providers = Some(specs);
                continue;
            }
            let upper = name.to_ascii_uppercase();
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
                self.file.insert(upper, text);
            }
        }
        // Catch typos: every key must be a known setting or a provider's key variable.
        let known = |k: &str| {
            keys::find(k).is_some() || referenced.iter().any(|r| r.eq_ignore_ascii_case(k))
        };
        let mut unknown: Vec<&String> = self.file.keys().filter(|k| !known(k)).collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(ConfigError(format!(
                "unknown key {} in {shown} (keys are the environment variable names in lower case)",
                k.to_ascii_lowercase()
            )));
        }
        Ok(())
    }
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
