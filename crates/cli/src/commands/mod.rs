//! One module per subcommand. Each takes the loaded [`Config`] and returns
//! the process exit code; errors bubble up as `anyhow` and are printed once
//! (redacted) by [`crate::run`].

pub mod check;
pub mod migrate;
pub mod mock_llm;
pub mod seed;
pub mod serve;
pub mod user;

use std::process::ExitCode;

use crate::cli::{Command, MigrateCommand, UserCommand};
use crate::config::Config;

pub async fn run(command: Command, cfg: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve::run(cfg).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(MigrateCommand::Up) => migrate::up(&cfg).await,
        Command::Migrate(MigrateCommand::Down { to, yes }) => migrate::down(&cfg, to, yes).await,
        Command::Migrate(MigrateCommand::Status) => migrate::status(&cfg).await,
        Command::Check => check::run(&cfg).await,
        Command::Seed => seed::run(&cfg).await,
        Command::User(UserCommand::SetPassword { email }) => user::set_password(&cfg, &email).await,
        Command::MockLlm(args) => mock_llm::run(&args).await,
    }
}
