//! The effective configuration, from (highest first) flags, environment
//! variables, a `.env` file in the current folder, the TOML file, defaults.
//!
//! Everything is parsed and checked here, once, at start-up: a bad value
//! stops the process with one line naming the key (exit code 2) instead of
//! failing later in the middle of a request. Secrets are held in
//! [`SecretString`] and listed by [`Config::secrets`] so the log redactor can
//! scrub them.
//!
//! Other layers do not read this struct's keys themselves: they get their own
//! settings from the builders ([`Config::web_config`], [`Config::auth_policy`],
//! [`Config::store_options`], [`Config::llm_providers`],
//! [`Config::llm_client_settings`]).

pub mod keys;
pub mod parse;
pub mod providers;
pub mod sources;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promptrefine_app::auth::AuthPolicy;
use promptrefine_llm::{ClientSettings, ProviderConfig};
use promptrefine_store::StoreOptions;
use promptrefine_web::{CookieSecure, WebConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::cli::ConfigArgs;
use keys::Kind;
pub use providers::ProviderSettings;
use sources::Layers;
pub use sources::Source;

/// A configuration problem, worded for the person starting the process.
/// Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where the logs go and how they look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when the log stream is not a terminal, else human-readable.
    Auto,
    Json,
    Pretty,
}

/// One effective setting, for `check`: the value as it may be shown.
#[derive(Clone, Debug)]
pub struct Setting {
    pub key: &'static str,
    pub shown: String,
    pub source: Source,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: SecretString,
    pub bind: String,
    pub public_url: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub cookie_secure: CookieSecure,
    pub trust_proxy: bool,
    pub body_limit_bytes: usize,
    pub import_limit_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Every provider, the built-in `openai` one first.
    pub providers: Vec<ProviderSettings>,
    /// Cap on model runs executing at once in this process.
    pub runs_max_in_flight: usize,
    /// Experiment calls in flight at once in this process.
    pub experiments_max_in_flight: usize,
    /// Prices of models beyond the built-in list, USD per million tokens.
    pub prices: Vec<(String, f64, f64)>,
    /// Hosts `http` evaluators may call; empty: none.
    pub evaluator_http_hosts: Vec<String>,
    /// The server key for stored providers' secrets (`SECRET_KEY`); when
    /// `None`, the key file is used (see [`Config::secret_key_path`]).
    pub secret_key: Option<promptrefine_app::secrets::SecretKey>,
    pub secret_key_file: Option<PathBuf>,
    /// Stored providers may use link-local / metadata addresses.
    pub providers_allow_link_local: bool,
    /// This process's name among replicas (default: `host:port`).
    pub instance_name: Option<String>,
    /// How long this process's lease on its runs lasts without renewal.
    pub instance_lease: Duration,
    pub llm_client: ClientSettings,
    pub metrics_enabled: bool,
    pub metrics_token: Option<SecretString>,
    pub log_format: LogFormat,
    /// An `EnvFilter` directive list.
    pub log_filter: String,
    pub migrate_on_start: bool,
    /// The TOML file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Every key's effective value (secrets masked) and its source.
    pub settings: Vec<Setting>,
}

impl Config {
    /// The built-in list prices with `PRICES` on top.
    pub fn price_table(&self) -> promptrefine_llm::PriceTable {
        promptrefine_llm::PriceTable::default().with_overrides(
            self.prices
                .iter()
                .map(|(m, i, o)| (m.clone(), promptrefine_llm::Price::usd(*i, *o))),
        )
    }

    /// Reads every layer; `env` is the process environment, `cwd` the folder
    /// holding `.env` and the default `promptrefine.toml`.
    pub fn load(
        args: &ConfigArgs,
        env: HashMap<String, String>,
        cwd: &Path,
    ) -> Result<Config, ConfigError> {
        let layers = Layers::load(args.given(), args.config.as_deref(), env, cwd)?;
        let mut r = Reader {
            layers: &layers,
            settings: Vec::new(),
        };

        let database_url = SecretString::from(r.parse("DATABASE_URL", parse::database_url)?);
        let bind = r.parse("BIND", parse::bind)?;
        let public_url = r.optional("PUBLIC_URL", parse::http_url)?;
        let admin_email = r.optional("AUTH_ADMIN_EMAIL", |v| Ok(v.trim().to_string()))?;
        let admin_password = r.optional("AUTH_ADMIN_PASSWORD", |v| {
            if v.chars().count() < 12 {
                Err("must be at least 12 characters".into())
            } else {
                Ok(v.to_string())
            }
        })?;
        match (&admin_email, &admin_password) {
            (Some(_), None) => {
                return Err(ConfigError(
                    "AUTH_ADMIN_EMAIL is set but AUTH_ADMIN_PASSWORD is not: set both or neither"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "AUTH_ADMIN_PASSWORD is set but AUTH_ADMIN_EMAIL is not: set both or neither"
                        .into(),
                ));
            }
            _ => {}
        }
        let session_idle = r.parse("SESSION_IDLE_MINUTES", |v| parse::duration(v, 60, 1))?;
        let session_absolute =
            r.parse("SESSION_ABSOLUTE_HOURS", |v| parse::duration(v, 3600, 1))?;
        let cookie_secure = r.parse("COOKIE_SECURE", |v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "auto" => Ok(CookieSecure::Auto),
                "always" | "true" | "on" => Ok(CookieSecure::Always),
                "never" | "false" | "off" => Ok(CookieSecure::Never),
                _ => Err("expected auto, always or never".into()),
            }
        })?;
        let trust_proxy = r.parse("TRUST_PROXY", parse::bool_word)?;
        let body_limit_bytes = r.parse("BODY_LIMIT_BYTES", |v| {
            parse::count(v, 1024)
                .and_then(|n| usize::try_from(n).map_err(|_| "the number is too large".into()))
        })?;
        let import_limit_bytes = r.parse("IMPORT_LIMIT_BYTES", |v| {
            parse::count(v, 1024)
                .and_then(|n| usize::try_from(n).map_err(|_| "the number is too large".into()))
        })?;
        let request_timeout = r.parse("REQUEST_TIMEOUT_SECS", |v| parse::duration(v, 1, 1))?;
        let shutdown_grace = r.parse("SHUTDOWN_GRACE_SECS", |v| parse::duration(v, 1, 0))?;

        r.note_secret("OPENAI_API_KEY");
        let openai_base_url = r.parse("OPENAI_BASE_URL", parse::http_url)?;
        let openai_models = r.parse("OPENAI_MODELS", |v| Ok(parse::list(v)))?;
        let providers = providers::resolve(&layers, openai_base_url, openai_models)?;
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        r.note("PROVIDERS", names.join(", "));
        let runs_max_in_flight = r.parse("RUNS_MAX_IN_FLIGHT", |v| {
            parse::count(v, 1)
                .and_then(|n| usize::try_from(n).map_err(|_| "the number is too large".into()))
        })?;
        let experiments_max_in_flight = r.parse("EXPERIMENTS_MAX_IN_FLIGHT", |v| {
            parse::count(v, 1)
                .and_then(|n| usize::try_from(n).map_err(|_| "the number is too large".into()))
        })?;
        let evaluator_http_hosts = r
            .optional("EVALUATOR_HTTP_HOSTS", |v| Ok(parse::list(v)))?
            .unwrap_or_default();
        let prices = r
            .optional("PRICES", |v| {
                let map: std::collections::BTreeMap<String, (f64, f64)> = serde_json::from_str(v)
                    .map_err(|e| {
                    format!(
                        "expected {{\"model\": [input, output]}} in USD per million tokens: {e}"
                    )
                })?;
                if let Some((m, _)) = map
                    .iter()
                    .find(|(_, (i, o))| !(i.is_finite() && o.is_finite() && *i >= 0.0 && *o >= 0.0))
                {
                    return Err(format!("the price of {m} must be two numbers of 0 or more"));
                }
                Ok(map
                    .into_iter()
                    .map(|(m, (i, o))| (m, i, o))
                    .collect::<Vec<_>>())
            })?
            .unwrap_or_default();
        // Malformed is a start-up error, never a silent fallback to the file.
        let secret_key = r.optional("SECRET_KEY", |v| {
            promptrefine_app::secrets::SecretKey::from_base64(v).ok_or_else(|| {
                "expected the base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)".into()
            })
        })?;
        let secret_key_file = r.optional("SECRET_KEY_FILE", |v| match v.trim() {
            "" => Err("expected a file path".into()),
            p => Ok(PathBuf::from(p)),
        })?;
        let providers_allow_link_local = r.parse("PROVIDERS_ALLOW_LINK_LOCAL", parse::bool_word)?;
        let instance_name = r.optional("INSTANCE_NAME", |v| {
            let v = v.trim();
            if v.is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
                return Err("expected a name of 1 to 200 printable characters".into());
            }
            Ok(v.to_string())
        })?;
        let instance_lease = r.parse("INSTANCE_LEASE_SECS", |v| parse::duration(v, 1, 3))?;
        let llm_client = ClientSettings {
            connect_timeout: r.parse("LLM_CONNECT_TIMEOUT_SECS", |v| parse::duration(v, 1, 1))?,
            request_timeout: r.parse("LLM_REQUEST_TIMEOUT_SECS", |v| parse::duration(v, 1, 1))?,
            first_byte_timeout: r
                .parse("LLM_FIRST_BYTE_TIMEOUT_SECS", |v| parse::duration(v, 1, 1))?,
            idle_stream_timeout: r.parse("LLM_IDLE_TIMEOUT_SECS", |v| parse::duration(v, 1, 1))?,
            max_retries: r.parse("LLM_MAX_RETRIES", |v| {
                parse::count(v, 0)
                    .and_then(|n| u32::try_from(n).map_err(|_| "the number is too large".into()))
            })?,
            ..ClientSettings::default()
        };
        let metrics_enabled = r.parse("METRICS", parse::bool_word)?;
        let metrics_token = r.optional("METRICS_TOKEN", |v| Ok(v.to_string()))?;
        let log_format = r.parse("LOG_FORMAT", |v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "pretty" | "text" | "compact" => Ok(LogFormat::Pretty),
                _ => Err("expected auto, json or pretty".into()),
            }
        })?;
        let log_filter = r.log_filter()?;
        let migrate_on_start = r.parse("MIGRATE_ON_START", parse::bool_word)?;

        Ok(Config {
            database_url,
            bind,
            public_url,
            admin_email,
            admin_password: admin_password.map(SecretString::from),
            session_idle,
            session_absolute,
            cookie_secure,
            trust_proxy,
            body_limit_bytes,
            import_limit_bytes,
            request_timeout,
            shutdown_grace,
            providers,
            runs_max_in_flight,
            experiments_max_in_flight,
            evaluator_http_hosts,
            prices,
            secret_key,
            secret_key_file,
            providers_allow_link_local,
            instance_name,
            instance_lease,
            llm_client,
            metrics_enabled,
            metrics_token: metrics_token.map(SecretString::from),
            log_format,
            log_filter,
            migrate_on_start,
            config_file: layers.config_file.clone(),
            settings: r.settings,
        })
    }

    /// Where the server key file is: `SECRET_KEY_FILE`, else `secret.key`
    /// beside the SQLite database, else `data/secret.key`.
    pub fn secret_key_path(&self) -> PathBuf {
        if let Some(p) = &self.secret_key_file {
            return p.clone();
        }
        let url = self.database_url.expose_secret();
        let dir = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or(rest))
            .filter(|file| !file.is_empty() && !file.starts_with(':'))
            .and_then(|file| Path::new(file).parent().map(Path::to_path_buf))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("data"));
        dir.join(promptrefine_app::secrets::KEY_FILE_NAME)
    }

    /// The stored providers' settings, with the server key: `SECRET_KEY`,
    /// or the key file (created on first use).
    pub fn provider_settings(
        &self,
    ) -> anyhow::Result<promptrefine_app::providers::ProviderSettings> {
        let key = match &self.secret_key {
            Some(k) => k.clone(),
            None => {
                let path = self.secret_key_path();
                if !self.database_url.expose_secret().starts_with("sqlite") {
                    tracing::warn!(path = %path.display(), "SECRET_KEY is not set: the server key comes from a local file, which other replicas do not share");
                }
                promptrefine_app::secrets::load_or_create_key_file(&path)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            }
        };
        Ok(promptrefine_app::providers::ProviderSettings {
            key: Some(key),
            allow_link_local: self.providers_allow_link_local,
        })
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions::new(self.database_url.expose_secret())
    }

    /// `DATABASE_URL` with any password masked, for messages.
    pub fn database_url_masked(&self) -> String {
        parse::mask_url(self.database_url.expose_secret())
    }

    pub fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            session_idle: self.session_idle,
            session_absolute: self.session_absolute,
        }
    }

    pub fn web_config(&self) -> WebConfig {
        WebConfig {
            body_limit_bytes: self.body_limit_bytes,
            import_limit_bytes: self.import_limit_bytes,
            request_timeout: self.request_timeout,
            shutdown_grace: self.shutdown_grace,
            cookie_secure: self.cookie_secure,
            trust_proxy: self.trust_proxy,
            session_idle: self.session_idle,
            session_absolute: self.session_absolute,
            metrics_enabled: self.metrics_enabled,
            metrics_token: self
                .metrics_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            public_url: self.public_url.clone(),
            ..WebConfig::default()
        }
    }

    /// One `ProviderConfig` per provider, `openai` first; give each to
    /// `promptrefine_llm::Provider::new` with [`Config::llm_client_settings`].
    pub fn llm_providers(&self) -> Vec<ProviderConfig> {
        self.providers
            .iter()
            .map(ProviderSettings::to_llm)
            .collect()
    }

    pub fn llm_client_settings(&self) -> ClientSettings {
        self.llm_client.clone()
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Every secret value, to register with the log redactor.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(
            self.admin_password
                .iter()
                .map(|s| s.expose_secret().to_string()),
        );
        out.extend(
            self.metrics_token
                .iter()
                .map(|s| s.expose_secret().to_string()),
        );
        out.extend(self.secret_key.iter().map(|k| k.to_base64()));
        out.extend(parse::url_secrets(self.database_url.expose_secret()));
        for p in &self.providers {
            out.extend(parse::url_secrets(&p.base_url));
            out.extend(p.api_key.iter().map(|s| s.expose_secret().to_string()));
            out.extend(p.headers.iter().map(|(_, v)| v.expose_secret().to_string()));
        }
        out
    }
}

/// Reads keys through the layers, recording each effective value for `check`.
struct Reader<'a> {
    layers: &'a Layers,
    settings: Vec<Setting>,
}

impl Reader<'_> {
    fn kind(key: &str) -> Kind {
        keys::find(key).map_or(Kind::Plain, |k| k.kind)
    }

    fn record(&mut self, key: &'static str, value: Option<&str>, source: Source) {
        let shown = match (Self::kind(key), value) {
            (Kind::Secret, Some(_)) => "set (hidden)".to_string(),
            (_, None) => "not set".to_string(),
            (Kind::Url, Some(v)) => parse::mask_url(v),
            (Kind::Plain, Some(v)) => v.to_string(),
        };
        self.settings.push(Setting { key, shown, source });
    }

    fn note(&mut self, key: &'static str, shown: String) {
        let source = self.layers.source(key);
        self.settings.push(Setting { key, shown, source });
    }

    fn note_secret(&mut self, key: &'static str) {
        match self.layers.get(key) {
            Some((v, source)) => self.record(key, Some(&v), source),
            None => self.record(key, None, Source::Default),
        }
    }

    fn invalid(key: &str, value: &str, source: Source, why: &str) -> ConfigError {
        let from = match source {
            Source::Default => String::new(),
            s => format!(" (from {s})"),
        };
        if Self::kind(key) == Kind::Secret {
            ConfigError(format!("invalid {key}: {why}{from}"))
        } else {
            let shown = parse::mask_url(value);
            let shown: String = shown.chars().take(200).collect();
            ConfigError(format!("invalid {key} {shown:?}: {why}{from}"))
        }
    }

    /// A key with a default from the key table.
    fn parse<T>(
        &mut self,
        key: &'static str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        // Every key read here has a default in the key table, and the
        // defaults are figment's lowest layer.
        let (value, source) = self
            .layers
            .get(key)
            .unwrap_or_else(|| (String::new(), Source::Default));
        let parsed = f(&value).map_err(|why| Self::invalid(key, &value, source, &why))?;
        self.record(key, Some(&value), source);
        Ok(parsed)
    }

    /// A key without a default.
    fn optional<T>(
        &mut self,
        key: &'static str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.layers.get(key) {
            Some((value, source)) => {
                let parsed = f(&value).map_err(|why| Self::invalid(key, &value, source, &why))?;
                self.record(key, Some(&value), source);
                Ok(Some(parsed))
            }
            None => {
                self.record(key, None, Source::Default);
                Ok(None)
            }
        }
    }

    /// `LOG_LEVEL`, else `RUST_LOG`, else `info`; checked as an EnvFilter.
    fn log_filter(&mut self) -> Result<String, ConfigError> {
        let (value, source) = self
            .layers
            .get_set("LOG_LEVEL")
            .or_else(|| self.layers.get_set("RUST_LOG"))
            .or_else(|| self.layers.get("LOG_LEVEL"))
            .unwrap_or_else(|| ("info".into(), Source::Default));
        tracing_subscriber::EnvFilter::builder()
            .parse(&value)
            .map_err(|e| {
                Self::invalid(
                    "LOG_LEVEL",
                    &value,
                    source,
                    &format!("expected a level or filter directives ({e})"),
                )
            })?;
        self.record("LOG_LEVEL", Some(&value), source);
        // PostgreSQL's NOTICEs ("relation … already exists, skipping" on
        // every migration check) are noise at info; quiet them unless the
        // operator says something about sqlx.
        if value.contains("sqlx") {
            Ok(value)
        } else {
            Ok(format!("{value},sqlx::postgres::notice=warn"))
        }
    }
}

#[cfg(test)]
mod tests;
