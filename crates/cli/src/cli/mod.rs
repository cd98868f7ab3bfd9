//! The command line (clap derive). Configuration flags are global, so they
//! work before or after the subcommand and with no subcommand at all
//! (`promptrefine` alone serves). They are plain strings here: parsing
//! happens in [`crate::config`], so a bad value gives the same message
//! whether it came from a flag, the environment or a file.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::keys::KEYS;

mod eval;
mod experiment;
pub use eval::EvalArgs;
pub use experiment::{ExperimentCommand, ExperimentRunArgs};

/// `promptrefine --version`: the version, the git revision and the build date.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PROMPTREFINE_GIT_REVISION"),
    ", built ",
    env!("PROMPTREFINE_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "promptrefine",
    version = VERSION,
    about = "PromptRefine: a self-hosted prompt workbench",
    long_about = "PromptRefine: a self-hosted prompt workbench.\n\n\
        Settings come from (highest first): flags, environment variables, a .env file in the \
        current folder, the TOML file (--config, PROMPTREFINE_CONFIG, or ./promptrefine.toml \
        when present), then defaults. See docs/configuration.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The command line with the configuration flags listed once, after the
/// top-level help and `serve`'s (the command that uses them all). Parse with
/// `Cli::from_arg_matches(&command().get_matches())`.
pub fn command() -> clap::Command {
    let listing = config_help();
    Cli::command()
        .after_help(listing.clone())
        .mut_subcommand("serve", |serve| serve.after_help(listing))
}

/// The configuration flags, generated from the key table (meaning, variable,
/// default) and the flags' value names.
pub fn config_help() -> String {
    let cmd = Cli::command();
    let value_name = |long: &str| -> String {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_value_names().and_then(|v| v.first().cloned()))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let mut rows = vec![(
        format!("--config {}", value_name("config")),
        "TOML configuration file [env: PROMPTREFINE_CONFIG] [default: ./promptrefine.toml when present]"
            .to_string(),
    )];
    for key in KEYS {
        let Some(flag) = key.flag else { continue };
        let default = key
            .default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        rows.push((
            format!("{flag} {}", value_name(flag.trim_start_matches("--"))),
            format!("{} [env: {}]{default}", key.meaning, key.name),
        ));
    }
    let width = rows.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    let mut out = String::from(
        "Configuration flags (before or after any subcommand; each overrides its environment \
         variable, see docs/configuration.md):\n",
    );
    for (flag, meaning) in rows {
        out.push_str(&format!("  {flag:<width$}  {meaning}\n"));
    }
    let secrets: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.flag.is_none())
        .map(|k| k.name)
        .collect();
    out.push_str(&format!(
        "No flag (secrets, or JSON): {} — set them in the environment, .env or the TOML file.",
        secrets.join(", ")
    ));
    out
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default when no subcommand is given).
    Serve,
    /// Apply, revert or list database migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Preflight: print the effective settings and test the database,
    /// migrations, providers and bind address. Exits 1 on any problem.
    Check,
    /// Add demo data: prompts, versions, labels and runs. Running it twice adds nothing.
    Seed,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Run a mock OpenAI-compatible server in the foreground (demos, benchmarks).
    MockLlm(MockLlmArgs),
    /// Prompts as files, for keeping them in git: pull writes them, push saves changes.
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// Datasets as CSV or JSON Lines files: import (one new version, all or
    /// nothing), export (any version), list.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Run prompt versions over a dataset (`run`, with `--wait` here and
    /// now), or show how one stands (`status`).
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// The gate for CI: run a candidate and a baseline version over a
    /// dataset, score both, compare them; exit 0 when no evaluator is
    /// worse, 1 on a regression, 2 on any error.
    Eval(EvalArgs),
    /// Write every user, prompt, version, label and run to a portable file
    /// (JSON Lines, see docs/export-format.md) that `import` reads on either database.
    Export(ExportArgs),
    /// Read an export into an empty database (migrations are applied first):
    /// all or nothing.
    Import(ImportArgs),
    /// Copy everything from the configured database into another one
    /// (export + import in one step, migrations applied), then compare the
    /// records per table. Stop the server first.
    Move(MoveArgs),
    /// A consistent copy of the database while the server runs (SQLite:
    /// VACUUM INTO; PostgreSQL: pg_dump --format=custom).
    Backup(BackupArgs),
    /// Put a `backup` file back into the configured database (stop the server
    /// first). Refuses a database holding users or prompts unless --force.
    Restore(RestoreArgs),
    /// The server key that stored provider secrets are sealed under.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored provider's key and headers again under a new server
    /// key, in one transaction. With a key file, the new key replaces it (the
    /// old one is kept as FILE.old for older backups); with SECRET_KEY, the
    /// new key is written to --new-key-file for you to put in SECRET_KEY.
    /// Restart every server afterwards.
    Rotate {
        /// Where the new key is written (created 0600; must not exist).
        /// Required when SECRET_KEY is set.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Revert migrations: one step by default, or down to version N.
    Down {
        /// Keep migrations up to and including this version (0 reverts all).
        #[arg(long, value_name = "N")]
        to: Option<i64>,
        /// Do not ask for confirmation on a terminal.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List the migrations this binary knows and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// Write each prompt's current version and metadata to DIR/<slug>.prompt.toml
    /// (replacing those files; nothing is deleted).
    Pull {
        /// The folder to write (created when missing).
        dir: PathBuf,
    },
    /// Read DIR/*.prompt.toml: create missing prompts, save a new version where the
    /// body or settings changed, update changed titles and tags. Unchanged files add
    /// nothing; a file with a problem stops the push before anything is written.
    Push {
        /// The folder holding the prompt files.
        dir: PathBuf,
        /// Only these files (SLUG or SLUG.prompt.toml, inside DIR); default: all.
        files: Vec<String>,
        /// The note of every version this push saves (default: a file's `note`
        /// when it was edited).
        #[arg(long, short = 'm', value_name = "TEXT")]
        message: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Add every row of FILE to the dataset NAME (created when missing).
    Import(DatasetImportArgs),
    /// Write the items of the dataset NAME to a new file.
    Export(DatasetExportArgs),
    /// Every dataset: slug, name, items and version.
    List,
}

#[derive(Debug, Args)]
pub struct DatasetImportArgs {
    /// The dataset's name.
    pub name: String,
    /// A `.csv` file (header row: variables, `expected`, `metadata.KEY`) or
    /// `.jsonl`/`.ndjson` (one item object per line).
    pub file: PathBuf,
    /// `csv` or `jsonl`, when the extension does not say.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct DatasetExportArgs {
    /// The dataset's name.
    pub name: String,
    /// The file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// `csv` or `jsonl`; default: from the extension of --out.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The dataset as it was at this version; default: the current one.
    #[arg(long, value_name = "N")]
    pub version: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a user's password (read without echo from the terminal, or one
    /// line from standard input) and sign that user out everywhere.
    SetPassword {
        /// The user's email address.
        email: String,
    },
}

#[derive(Debug, Args)]
pub struct MockLlmArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write password hashes and API token hashes (never sessions).
    #[arg(long)]
    pub include_secrets: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A file written by `promptrefine export`.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The database to fill: sqlite://FILE or postgres://… (must be empty).
    #[arg(long, value_name = "DATABASE_URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `promptrefine backup`.
    pub file: PathBuf,
    /// Replace a database that already holds users or prompts.
    #[arg(long)]
    pub force: bool,
}

/// One optional flag per non-secret configuration key (secrets have no
/// flag: a command line is visible to every user of the machine via `ps`).
///
/// Global, so they work before or after any subcommand, but hidden: clap
/// would repeat all of them in every subcommand's help. They are listed
/// once, from the key table, by [`config_help`] (top-level and `serve`
/// help) — their meanings live in `config/keys.rs` only.
#[derive(Debug, Default, Clone, Args)]
pub struct ConfigArgs {
    #[arg(long, global = true, hide = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, global = true, hide = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "URL")]
    pub public_url: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "EMAIL")]
    pub auth_admin_email: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "MINUTES")]
    pub session_idle_minutes: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "HOURS")]
    pub session_absolute_hours: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "MODE")]
    pub cookie_secure: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "BOOL")]
    pub trust_proxy: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "BYTES")]
    pub body_limit_bytes: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "BYTES")]
    pub import_limit_bytes: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub request_timeout_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub shutdown_grace_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "URL")]
    pub openai_base_url: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "LIST")]
    pub openai_models: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "N")]
    pub runs_max_in_flight: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub llm_connect_timeout_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub llm_request_timeout_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub llm_first_byte_timeout_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "SECS")]
    pub llm_idle_timeout_secs: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "N")]
    pub llm_max_retries: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "ON|OFF")]
    pub metrics: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "BOOL")]
    pub migrate_on_start: Option<String>,
}

impl ConfigArgs {
    /// The flags that were given, by configuration key name.
    pub fn given(&self) -> Vec<(&'static str, String)> {
        let all: [(&'static str, &Option<String>); 24] = [
            ("DATABASE_URL", &self.database_url),
            ("BIND", &self.bind),
            ("PUBLIC_URL", &self.public_url),
            ("AUTH_ADMIN_EMAIL", &self.auth_admin_email),
            ("SESSION_IDLE_MINUTES", &self.session_idle_minutes),
            ("SESSION_ABSOLUTE_HOURS", &self.session_absolute_hours),
            ("COOKIE_SECURE", &self.cookie_secure),
            ("TRUST_PROXY", &self.trust_proxy),
            ("BODY_LIMIT_BYTES", &self.body_limit_bytes),
            ("IMPORT_LIMIT_BYTES", &self.import_limit_bytes),
            ("REQUEST_TIMEOUT_SECS", &self.request_timeout_secs),
            ("SHUTDOWN_GRACE_SECS", &self.shutdown_grace_secs),
            ("OPENAI_BASE_URL", &self.openai_base_url),
            ("OPENAI_MODELS", &self.openai_models),
            ("RUNS_MAX_IN_FLIGHT", &self.runs_max_in_flight),
            ("LLM_CONNECT_TIMEOUT_SECS", &self.llm_connect_timeout_secs),
            ("LLM_REQUEST_TIMEOUT_SECS", &self.llm_request_timeout_secs),
            (
                "LLM_FIRST_BYTE_TIMEOUT_SECS",
                &self.llm_first_byte_timeout_secs,
            ),
            ("LLM_IDLE_TIMEOUT_SECS", &self.llm_idle_timeout_secs),
            ("LLM_MAX_RETRIES", &self.llm_max_retries),
            ("METRICS", &self.metrics),
            ("LOG_FORMAT", &self.log_format),
            ("LOG_LEVEL", &self.log_level),
            ("MIGRATE_ON_START", &self.migrate_on_start),
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_in_the_key_table_exists_and_maps_back_to_its_key() {
        let cmd = Cli::command();
        for key in KEYS {
            let Some(flag) = key.flag else { continue };
            let long = flag.trim_start_matches("--");
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                "{} has no flag {flag}",
                key.name
            );
            let parsed = Cli::try_parse_from(["promptrefine", flag, "x"]).unwrap();
            assert_eq!(
                parsed.config.given(),
                vec![(key.name, "x".to_string())],
                "{flag}"
            );
        }
    }

    #[test]
    fn the_top_level_help_lists_every_configuration_flag_once() {
        let help = command().render_help().to_string();
        for key in KEYS {
            let Some(flag) = key.flag else { continue };
            assert_eq!(
                help.matches(&format!("{flag} ")).count(),
                1,
                "{flag} in:\n{help}"
            );
            assert!(
                help.contains(&format!("[env: {}]", key.name)),
                "{}",
                key.name
            );
        }
        assert!(help.contains("--config FILE"), "{help}");
        assert!(help.contains("OPENAI_API_KEY"), "{help}");
    }

    #[test]
    fn a_subcommand_help_shows_its_own_arguments_only() {
        let mut cmd = command();
        cmd.build();
        let user = cmd.find_subcommand_mut("user").unwrap();
        let set = user.find_subcommand_mut("set-password").unwrap();
        let help = set.render_long_help().to_string();
        assert!(help.contains("<EMAIL>"), "{help}");
        assert!(!help.contains("--body-limit-bytes"), "{help}");
        assert!(!help.contains("--database-url"), "{help}");
        assert!(help.lines().count() < 20, "{help}");
        let serve = cmd.find_subcommand_mut("serve").unwrap();
        assert!(
            serve
                .render_help()
                .to_string()
                .contains("--body-limit-bytes")
        );
    }

    #[test]
    fn flags_work_before_and_after_the_subcommand() {
        let a = Cli::try_parse_from(["promptrefine", "--bind", "1.2.3.4:5", "check"]).unwrap();
        let b = Cli::try_parse_from(["promptrefine", "check", "--bind", "1.2.3.4:5"]).unwrap();
        assert_eq!(a.config.bind, b.config.bind);
        let c = Cli::try_parse_from([
            "promptrefine",
            "migrate",
            "down",
            "--to",
            "0",
            "--bind",
            "x:1",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Migrate(MigrateCommand::Down { to: Some(0), .. }))
        ));
    }
}
