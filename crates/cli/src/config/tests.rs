use std::collections::HashMap;
use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(args: &ConfigArgs, pairs: &[(&str, &str)], dir: &Path) -> Result<Config, ConfigError> {
    Config::load(args, env(pairs), dir)
}

fn setting<'a>(c: &'a Config, key: &str) -> &'a Setting {
    c.settings
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(&ConfigArgs::default(), &[], dir.path()).unwrap();
    assert_eq!(c.bind, "127.0.0.1:3000");
    assert_eq!(c.store_options().url, "sqlite://data/promptrefine.db");
    assert_eq!(c.session_idle, Duration::from_secs(1440 * 60));
    assert_eq!(c.session_absolute, Duration::from_secs(336 * 3600));
    assert_eq!(c.body_limit_bytes, 2 * 1024 * 1024);
    assert_eq!(c.import_limit_bytes, 100 * 1024 * 1024);
    assert_eq!(c.runs_max_in_flight, 16);
    assert_eq!(c.llm_client_settings(), ClientSettings::default());
    assert!(c.migrate_on_start && c.metrics_enabled && !c.trust_proxy);
    assert_eq!(c.log_filter, "info,sqlx::postgres::notice=warn");
    let openai = c.provider("openai").unwrap();
    assert_eq!(openai.base_url, "https://api.openai.com/v1");
    assert_eq!(openai.models, ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]);
    assert!(openai.api_key.is_none());
    assert_eq!(setting(&c, "BIND").source, Source::Default);
    assert_eq!(setting(&c, "OPENAI_API_KEY").shown, "not set");
}

#[test]
fn a_flag_beats_the_environment_which_beats_dotenv_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("promptrefine.toml"),
        "request_timeout_secs = 11\nshutdown_grace_secs = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "REQUEST_TIMEOUT_SECS=12\nSESSION_IDLE_MINUTES=5\n",
    )
    .unwrap();
    let flags = ConfigArgs {
        request_timeout_secs: Some("14".into()),
        ..ConfigArgs::default()
    };
    let envs = [("REQUEST_TIMEOUT_SECS", "13")];

    let c = load(&flags, &envs, dir.path()).unwrap();
    assert_eq!(c.request_timeout, Duration::from_secs(14));
    assert_eq!(setting(&c, "REQUEST_TIMEOUT_SECS").source, Source::Flag);
    let c = load(&ConfigArgs::default(), &envs, dir.path()).unwrap();
    assert_eq!(c.request_timeout, Duration::from_secs(13));
    assert_eq!(setting(&c, "REQUEST_TIMEOUT_SECS").source, Source::Env);
    std::fs::write(dir.path().join(".env"), "REQUEST_TIMEOUT_SECS=12\n").unwrap();
    let c = load(&ConfigArgs::default(), &[], dir.path()).unwrap();
    assert_eq!(c.request_timeout, Duration::from_secs(12));
    assert_eq!(setting(&c, "REQUEST_TIMEOUT_SECS").source, Source::DotEnv);
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let c = load(&ConfigArgs::default(), &[], dir.path()).unwrap();
    assert_eq!(c.request_timeout, Duration::from_secs(11));
    assert_eq!(c.shutdown_grace, Duration::from_secs(1));
    assert_eq!(setting(&c, "REQUEST_TIMEOUT_SECS").source, Source::File);
    assert_eq!(
        c.config_file.as_deref(),
        Some(dir.path().join("promptrefine.toml").as_path())
    );
}

#[test]
fn empty_values_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "BIND=0.0.0.0:9\n").unwrap();
    let c = load(
        &ConfigArgs::default(),
        &[("BIND", ""), ("OPENAI_API_KEY", "")],
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.bind, "0.0.0.0:9");
    assert!(c.provider("openai").unwrap().api_key.is_none());
}

#[test]
fn an_invalid_value_names_its_key_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "BIND",
            "abc",
            "invalid BIND \"abc\": expected host:port (from environment)",
        ),
        (
            "COOKIE_SECURE",
            "sometimes",
            "invalid COOKIE_SECURE \"sometimes\": expected auto, always or never",
        ),
        (
            "SESSION_IDLE_MINUTES",
            "0",
            "invalid SESSION_IDLE_MINUTES \"0\": expected a whole number, at least 1",
        ),
        (
            "DATABASE_URL",
            "mysql://u:pw@h/db",
            "invalid DATABASE_URL \"mysql://u:****@h/db\"",
        ),
        ("LOG_FORMAT", "xml", "invalid LOG_FORMAT \"xml\""),
        ("LOG_LEVEL", "info,[[[", "invalid LOG_LEVEL"),
        ("TRUST_PROXY", "maybe", "invalid TRUST_PROXY \"maybe\""),
        (
            "OPENAI_BASE_URL",
            "api.openai.com",
            "invalid OPENAI_BASE_URL",
        ),
        ("RUNS_MAX_IN_FLIGHT", "-1", "invalid RUNS_MAX_IN_FLIGHT"),
        (
            "EXPERIMENTS_MAX_IN_FLIGHT",
            "0",
            "invalid EXPERIMENTS_MAX_IN_FLIGHT",
        ),
        ("PRICES", "{\"m\": 1}", "invalid PRICES"),
        ("PRICES", "{\"m\": [1, -2]}", "invalid PRICES"),
        ("INSTANCE_LEASE_SECS", "1", "invalid INSTANCE_LEASE_SECS"),
    ];
    for (key, value, expected) in cases {
        let err = load(&ConfigArgs::default(), &[(key, value)], dir.path()).unwrap_err();
        assert!(err.0.starts_with(expected), "{key}: {err}");
    }
}

#[test]
fn a_secret_never_appears_in_an_error_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        &ConfigArgs::default(),
        &[
            ("AUTH_ADMIN_EMAIL", "a@b.c"),
            ("AUTH_ADMIN_PASSWORD", "short-pw"),
        ],
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(
        err.0,
        "invalid AUTH_ADMIN_PASSWORD: must be at least 12 characters (from environment)"
    );
    let err = load(
        &ConfigArgs::default(),
        &[("AUTH_ADMIN_PASSWORD", "long enough password")],
        dir.path(),
    )
    .unwrap_err();
    assert!(err.0.contains("AUTH_ADMIN_EMAIL is not"), "{err}");
    std::fs::write(
        dir.path().join("promptrefine.toml"),
        "openai_api_key = sk-unquoted-secret-value\n",
    )
    .unwrap();
    let err = load(&ConfigArgs::default(), &[], dir.path()).unwrap_err();
    assert!(
        err.0.contains("line 1") && !err.0.contains("sk-unquoted"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("promptrefine.toml")).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "A=1\nOPENAI_API_KEY sk-no-equals-secret\n",
    )
    .unwrap();
    let err = load(&ConfigArgs::default(), &[], dir.path()).unwrap_err();
    assert!(
        err.0.contains("line 2") && !err.0.contains("sk-no-equals"),
        "{err}"
    );
}

#[test]
fn unknown_toml_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("promptrefine.toml"),
        "databse_url = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let err = load(&ConfigArgs::default(), &[], dir.path()).unwrap_err();
    assert!(err.0.starts_with("unknown key databse_url in "), "{err}");
}

#[test]
fn an_explicit_config_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        &ConfigArgs::default(),
        &[("PROMPTREFINE_CONFIG", "nope.toml")],
        dir.path(),
    )
    .unwrap_err();
    assert!(err.0.contains("nope.toml not found"), "{err}");
}

#[test]
fn providers_come_from_toml_or_json_and_keep_their_keys_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("promptrefine.toml"),
        r#"
openai_models = ["gpt-a", "gpt-b"]
ollama_key = "from-the-file"

[[providers]]
name = "ollama"
base_url = "http://localhost:11434/v1/"
api_key_env = "OLLAMA_KEY"
models = ["llama3.2"]

[[providers]]
name = "azure"
base_url = "https://x.openai.azure.com/openai/v1"
headers = { "api-key" = "azure-header-secret" }
"#,
    )
    .unwrap();
    let c = load(
        &ConfigArgs::default(),
        &[("OPENAI_API_KEY", "sk-test-1234567890")],
        dir.path(),
    )
    .unwrap();
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "ollama", "azure"]);
    assert_eq!(c.provider("openai").unwrap().models, ["gpt-a", "gpt-b"]);
    let ollama = c.provider("ollama").unwrap();
    assert_eq!(ollama.base_url, "http://localhost:11434/v1");
    assert_eq!(
        ollama.api_key.as_ref().map(|k| k.expose_secret()),
        Some("from-the-file")
    );
    let llm = c.llm_providers();
    assert_eq!(
        llm[2].extra_headers,
        [("api-key".to_string(), "azure-header-secret".to_string())]
    );
    let secrets = c.secrets();
    for s in ["sk-test-1234567890", "from-the-file", "azure-header-secret"] {
        assert!(secrets.iter().any(|x| x == s), "{s} is not registered");
    }
    assert!(!format!("{c:?}").contains("azure-header-secret"));

    let json = r#"[{"name":"openai","base_url":"http://127.0.0.1:9/v1","api_key_env":"MY_KEY"}]"#;
    let c = load(
        &ConfigArgs::default(),
        &[("PROVIDERS", json), ("MY_KEY", "k-123456")],
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        c.providers.len(),
        1,
        "PROVIDERS replaces the file's list and redefines openai"
    );
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/v1");
    let err = load(
        &ConfigArgs::default(),
        &[("PROVIDERS", "[{\"name\":\"x\"}]")],
        dir.path(),
    )
    .unwrap_err();
    assert!(err.0.starts_with("invalid PROVIDERS"), "{err}");
}

#[test]
fn builders_carry_the_settings_to_each_layer() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(
        &ConfigArgs::default(),
        &[
            ("METRICS", "off"),
            ("METRICS_TOKEN", "metrics-token-value"),
            ("COOKIE_SECURE", "always"),
            ("LLM_MAX_RETRIES", "0"),
            ("LLM_IDLE_TIMEOUT_SECS", "7"),
            ("DATABASE_URL", "postgres://u:dbpass@h/db"),
        ],
        dir.path(),
    )
    .unwrap();
    let web = c.web_config();
    assert!(!web.metrics_enabled);
    assert_eq!(web.metrics_token.as_deref(), Some("metrics-token-value"));
    assert_eq!(web.cookie_secure, CookieSecure::Always);
    assert_eq!(c.llm_client_settings().max_retries, 0);
    assert_eq!(
        c.llm_client_settings().idle_stream_timeout,
        Duration::from_secs(7)
    );
    assert_eq!(c.database_url_masked(), "postgres://u:****@h/db");
    assert!(c.secrets().contains(&"dbpass".to_string()));
    assert_eq!(setting(&c, "METRICS_TOKEN").shown, "set (hidden)");
    assert_eq!(setting(&c, "DATABASE_URL").shown, "postgres://u:****@h/db");
}

/// The example file and the docs are checked against the key table (name,
/// flag, default, meaning), so neither drifts from the code.
#[test]
fn every_key_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let docs = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    for key in keys::KEYS {
        // One line per key, showing the table's default (empty when none).
        let line = format!("{}={}", key.name, key.default.unwrap_or(""));
        let lines: Vec<&str> = example
            .lines()
            .filter(|l| l.starts_with(&format!("{}=", key.name)))
            .collect();
        assert_eq!(
            lines,
            [line.as_str()],
            ".env.example and the key table differ"
        );
        // The docs row is the key table's row (the docs may add a sentence).
        let cell = |v: Option<&str>| v.map_or("—".to_string(), |v| format!("`{v}`"));
        let row = format!(
            "| `{}` | {} | {} | {}",
            key.name,
            cell(key.flag),
            cell(key.default),
            key.meaning.replace('|', "\\|")
        );
        assert!(
            docs.contains(&row),
            "docs/configuration.md has no row starting {row}"
        );
        if let Some(flag) = key.flag {
            assert!(
                docs.contains(&format!("`{flag}`")),
                "docs/configuration.md lacks {flag}"
            );
        }
    }
}

#[test]
fn prices_add_to_the_built_in_list() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(
        &ConfigArgs::default(),
        &[("PRICES", r#"{"llama3.2": [0.1, 0.2]}"#)],
        dir.path(),
    )
    .unwrap();
    let prices = c.price_table();
    assert_eq!(
        prices.price("llama3.2"),
        Some(promptrefine_llm::Price::usd(0.1, 0.2))
    );
    assert!(
        prices.price("gpt-4o-mini").is_some(),
        "the list prices stay"
    );
}

#[test]
fn the_server_key_comes_from_secret_key_or_a_file_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(&ConfigArgs::default(), &[], dir.path()).unwrap();
    assert!(c.secret_key.is_none() && !c.providers_allow_link_local);
    assert_eq!(c.secret_key_path(), Path::new("data/secret.key"));
    let c = load(
        &ConfigArgs::default(),
        &[("DATABASE_URL", "sqlite:///var/lib/pr/pr.db?mode=rwc")],
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.secret_key_path(), Path::new("/var/lib/pr/secret.key"));
    let c = load(
        &ConfigArgs::default(),
        &[
            ("DATABASE_URL", "postgres://u@h/db"),
            ("SECRET_KEY_FILE", "/etc/pr/key"),
        ],
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.secret_key_path(), Path::new("/etc/pr/key"));

    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let c = load(
        &ConfigArgs::default(),
        &[("SECRET_KEY", key), ("PROVIDERS_ALLOW_LINK_LOCAL", "true")],
        dir.path(),
    )
    .unwrap();
    assert!(c.secret_key.is_some() && c.providers_allow_link_local);
    assert!(c.secrets().contains(&key.to_string()));
    assert_eq!(setting(&c, "SECRET_KEY").shown, "set (hidden)");

    let err = load(
        &ConfigArgs::default(),
        &[("SECRET_KEY", "c2hvcnQ=")],
        dir.path(),
    )
    .unwrap_err();
    assert!(
        err.0.contains("SECRET_KEY") && err.0.contains("32 bytes"),
        "{err}"
    );
    assert!(
        !err.0.contains("c2hvcnQ"),
        "the value is never shown: {err}"
    );
}
