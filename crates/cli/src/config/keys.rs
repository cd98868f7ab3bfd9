//! Every configuration key in one table: the source of truth for the
//! `--help` headings, `check`'s listing, the TOML key check and the test that
//! keeps `.env.example` and `docs/configuration.md` complete.

/// How a value may be shown (by `check`, in error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Shown as is.
    Plain,
    /// Shown only as `set (hidden)` / `not set`; never in an error message.
    Secret,
    /// A URL that may carry a password: shown with the password masked.
    Url,
}

/// One configuration key.
#[derive(Debug)]
pub struct Key {
    /// The environment variable name (the TOML key is the same in lower case).
    pub name: &'static str,
    /// The command-line flag; secrets have none (a flag shows in `ps`).
    pub flag: Option<&'static str>,
    pub default: Option<&'static str>,
    pub kind: Kind,
    pub meaning: &'static str,
}

const fn key(
    name: &'static str,
    flag: Option<&'static str>,
    default: Option<&'static str>,
    kind: Kind,
    meaning: &'static str,
) -> Key {
    Key {
        name,
        flag,
        default,
        kind,
        meaning,
    }
}

use Kind::{Plain, Secret, Url};

#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    key("DATABASE_URL", Some("--database-url"), Some("sqlite://data/promptrefine.db"), Url,
        "sqlite://FILE (created when missing) or postgres://USER:PASSWORD@HOST/DB"),
    key("BIND", Some("--bind"), Some("127.0.0.1:3000"), Plain,
        "host:port the web server listens on (port 0 picks a free port)"),
    key("PUBLIC_URL", Some("--public-url"), None, Url,
        "the URL people use to reach the server: the first-run setup link; an https URL turns Secure cookies and HSTS on"),
    key("AUTH_ADMIN_EMAIL", Some("--auth-admin-email"), None, Plain,
        "with AUTH_ADMIN_PASSWORD: the admin account created at first start"),
    key("AUTH_ADMIN_PASSWORD", None, None, Secret,
        "password of that admin (at least 12 characters); only used while no user exists"),
    key("SESSION_IDLE_MINUTES", Some("--session-idle-minutes"), Some("1440"), Plain,
        "a session ends after this many minutes without a request"),
    key("SESSION_ABSOLUTE_HOURS", Some("--session-absolute-hours"), Some("336"), Plain,
        "a session ends this many hours after sign-in, whatever happens"),
    key("COOKIE_SECURE", Some("--cookie-secure"), Some("auto"), Plain,
        "auto | always | never: mark the session cookie Secure (auto: when the request came over HTTPS)"),
    key("TRUST_PROXY", Some("--trust-proxy"), Some("false"), Plain,
        "trust X-Forwarded-Proto / X-Forwarded-For from a reverse proxy"),
    key("BODY_LIMIT_BYTES", Some("--body-limit-bytes"), Some("2097152"), Plain,
        "largest request body accepted (413 above)"),
    key("IMPORT_LIMIT_BYTES", Some("--import-limit-bytes"), Some("104857600"), Plain,
        "largest dataset import body (POST /api/datasets/{id}/import; 413 above)"),
    key("REQUEST_TIMEOUT_SECS", Some("--request-timeout-secs"), Some("30"), Plain,
        "time limit of one HTTP request (model runs have their own)"),
    key("SHUTDOWN_GRACE_SECS", Some("--shutdown-grace-secs"), Some("20"), Plain,
        "on SIGTERM/SIGINT, how long in-flight requests may take to finish"),
    key("OPENAI_API_KEY", None, None, Secret,
        "API key of the built-in `openai` provider"),
    key("OPENAI_BASE_URL", Some("--openai-base-url"), Some("https://api.openai.com/v1"), Url,
        "base URL of the built-in `openai` provider (any OpenAI-compatible server, with /v1)"),
    key("OPENAI_MODELS", Some("--openai-models"), Some("gpt-4o-mini,gpt-4o,gpt-4.1-mini"), Plain,
        "comma-separated models offered when the provider's model list cannot be fetched"),
    key("PROVIDERS", None, None, Plain,
        "more providers, as JSON (or [[providers]] in the TOML file); see below"),
    key("RUNS_MAX_IN_FLIGHT", Some("--runs-max-in-flight"), Some("16"), Plain,
        "model runs executing at once across the process; more are refused (429)"),
    key("EXPERIMENTS_MAX_IN_FLIGHT", None, Some("64"), Plain,
        "experiment calls executing at once in this process, all experiments together (interactive runs have their own cap)"),
    key("PRICES", None, None, Plain,
        "prices of more models, as JSON: {\"model\": [input, output]} in USD per million tokens (experiment budgets need a price for every model)"),
    key("EVALUATOR_HTTP_HOSTS", None, None, Plain,
        "comma-separated hosts that `http` evaluators may call (none by default: they are refused)"),
    key("SECRET_KEY", None, None, Secret,
        "base64 of 32 bytes: the key that provider API keys stored in the database are encrypted with; when not set, read from SECRET_KEY_FILE (created at first start). Replicas must share it"),
    key("SECRET_KEY_FILE", None, None, Plain,
        "the server key file used when SECRET_KEY is not set (default: secret.key beside the SQLite database, else data/secret.key); created with mode 0600 at first start"),
    key("PROVIDERS_ALLOW_LINK_LOCAL", None, Some("false"), Plain,
        "let providers stored in the app use link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, metadata.google.internal), refused by default"),
    key("INSTANCE_NAME", None, None, Plain,
        "this process's name among replicas sharing a database (default host:port); unique among live processes"),
    key("INSTANCE_LEASE_SECS", None, Some("30"), Plain,
        "a process's lease on its runs; the runs of one that dies are marked interrupted after it (at once when it restarts under the same name)"),
    key("LLM_CONNECT_TIMEOUT_SECS", Some("--llm-connect-timeout-secs"), Some("10"), Plain,
        "TCP + TLS connection set-up to a provider"),
    key("LLM_REQUEST_TIMEOUT_SECS", Some("--llm-request-timeout-secs"), Some("300"), Plain,
        "a whole model call, retries included"),
    key("LLM_FIRST_BYTE_TIMEOUT_SECS", Some("--llm-first-byte-timeout-secs"), Some("60"), Plain,
        "from sending a request to the provider's response headers"),
    key("LLM_IDLE_TIMEOUT_SECS", Some("--llm-idle-timeout-secs"), Some("30"), Plain,
        "longest silence inside a (streamed) response"),
    key("LLM_MAX_RETRIES", Some("--llm-max-retries"), Some("2"), Plain,
        "retries after the first attempt, on 429/5xx/connection errors before any output"),
    key("METRICS", Some("--metrics"), Some("on"), Plain,
        "on | off: serve Prometheus metrics at /metrics"),
    key("METRICS_TOKEN", None, None, Secret,
        "when set, /metrics requires `Authorization: Bearer TOKEN`"),
    key("LOG_FORMAT", Some("--log-format"), Some("auto"), Plain,
        "auto | json | pretty (auto: JSON lines when the log stream is not a terminal)"),
    key("LOG_LEVEL", Some("--log-level"), Some("info"), Plain,
        "a level or an EnvFilter directive list, e.g. `info,promptrefine_web=debug` (RUST_LOG is read when LOG_LEVEL is not set)"),
    key("MIGRATE_ON_START", Some("--migrate-on-start"), Some("true"), Plain,
        "serve applies pending migrations; when false it refuses to start with any pending"),
];

/// Looks a key up by its environment variable name.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}
