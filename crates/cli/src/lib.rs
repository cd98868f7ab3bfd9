//! The `promptrefine` binary, as a library so its parts can be tested:
//! [`cli`] (the command line), [`config`] (layered settings), [`logging`]
//! (JSON or readable logs, always redacted), [`commands`] (one module per
//! subcommand).
//!
//! Exit codes: 0 success, 1 a runtime failure or a failed check, 2 bad usage
//! or invalid configuration.

pub mod cli;
pub mod commands;
pub mod config;
pub mod database;
pub mod logging;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::FromArgMatches;

use cli::{Cli, Command};
use config::Config;

/// Exit code for invalid configuration (the same as clap's usage errors).
pub const EXIT_CONFIG: u8 = 2;

/// Parses the command line and configuration, sets up logging and runs the
/// command on a multi-threaded runtime.
pub fn run() -> ExitCode {
    // The configuration flags are hidden from clap's own listings and shown
    // once by `cli::command()` (see `cli::ConfigArgs`).
    let cli = match Cli::from_arg_matches(&cli::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot read the current folder: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let cfg = match Config::load(&cli.config, process_env(), &cwd) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for secret in cfg.secrets() {
        logging::register_secret(&secret);
    }
    let target = match command {
        Command::Serve | Command::MockLlm(_) => logging::Target::Stdout,
        _ => logging::Target::Stderr,
    };
    if let Err(e) = logging::init(cfg.log_format, &cfg.log_filter, target) {
        eprintln!("error: cannot set up logging: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(command, cfg)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", logging::redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// The process environment as UTF-8 pairs (others cannot be settings).
fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
