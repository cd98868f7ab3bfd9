//! LLM providers: the built-in `openai` one (from the `OPENAI_*` keys) plus
//! any listed in `PROVIDERS` (JSON) or the TOML file's `[[providers]]`.
//!
//! A provider names the variable that holds its key (`api_key_env`) instead
//! of holding the key, so the TOML file and `PROVIDERS` can be committed or
//! shown without leaking anything.

use std::collections::BTreeMap;

use promptrefine_llm::ProviderConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::sources::Layers;

/// A provider as written in `PROVIDERS` or `[[providers]]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub name: String,
    pub base_url: String,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A provider with its key looked up, ready for the llm client.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    pub name: String,
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The variable the key is read from (`OPENAI_API_KEY` for `openai`).
    pub api_key_env: Option<String>,
    pub api_key: Option<SecretString>,
    /// Fallback model list, used when `GET {base}/models` fails.
    pub models: Vec<String>,
    /// Sent with every request; values are treated as secrets.
    pub headers: Vec<(String, SecretString)>,
}

impl ProviderSettings {
    /// What `promptrefine_llm::Provider::new` takes.
    pub fn to_llm(&self) -> ProviderConfig {
        ProviderConfig {
            name: self.name.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            models: self.models.clone(),
            extra_headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose_secret().to_string()))
                .collect(),
        }
    }
}

/// The provider list: `openai` first (unless `PROVIDERS` redefines it), then
/// the configured ones in order.
pub(super) fn resolve(
    layers: &Layers,
    openai_base_url: String,
    openai_models: Vec<String>,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let specs = layers.providers()?.unwrap_or_default();
    let mut out = Vec::with_capacity(specs.len() + 1);
    if !specs.iter().any(|s| s.name == "openai") {
        out.push(ProviderSettings {
            name: "openai".into(),
            base_url: openai_base_url,
            api_key_env: Some("OPENAI_API_KEY".into()),
            api_key: layers
                .get("OPENAI_API_KEY")
                .map(|(v, _)| SecretString::from(v)),
            models: openai_models,
            headers: Vec::new(),
        });
    }
    for spec in specs {
        let p = checked(spec, layers)?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(ConfigError(format!(
                "invalid PROVIDERS: the name {:?} is used twice",
                p.name
            )));
        }
        out.push(p);
    }
    Ok(out)
}

fn checked(spec: ProviderSpec, layers: &Layers) -> Result<ProviderSettings, ConfigError> {
    let name = spec.name.trim().to_string();
    let bad = |what: String| ConfigError(format!("invalid PROVIDERS entry {name:?}: {what}"));
    let name_ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        return Err(ConfigError(format!(
            "invalid PROVIDERS entry name {name:?}: expected 1-40 letters, digits, '-', '_' or '.'"
        )));
    }
    let base_url =
        super::parse::http_url(&spec.base_url).map_err(|e| bad(format!("base_url {e}")))?;
    if let Some(var) = &spec.api_key_env {
        let var_ok = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !var_ok {
            return Err(bad(format!("api_key_env {var:?} is not a variable name")));
        }
    }
    let api_key = spec
        .api_key_env
        .as_deref()
        .and_then(|var| layers.get(var))
        .map(|(v, _)| SecretString::from(v));
    let models: Vec<String> = spec
        .models
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    Ok(ProviderSettings {
        name,
        base_url,
        api_key_env: spec.api_key_env,
        api_key,
        models,
        headers: spec
            .headers
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect(),
    })
}
