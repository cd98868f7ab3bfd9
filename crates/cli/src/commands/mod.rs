//! One module per subcommand. Each takes the loaded [`Config`] and returns
//! the process exit code; errors bubble up as `anyhow` and are printed once
//! (redacted) by [`crate::run`].

pub mod backup;
pub mod check;
pub mod dataset;
pub mod eval;
pub mod experiment;
pub mod files;
pub mod migrate;
pub mod mock_llm;
pub mod move_db;
pub mod prompts;
pub mod secrets;
pub mod seed;
pub mod serve;
pub mod transfer;
pub mod user;

use std::process::ExitCode;

use crate::cli::{
    Command, DatasetCommand, ExperimentCommand, MigrateCommand, PromptsCommand, SecretsCommand,
    UserCommand,
};
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
        Command::Prompts(PromptsCommand::Pull { dir }) => prompts::pull(&cfg, &dir).await,
        Command::Prompts(PromptsCommand::Push {
            dir,
            files,
            message,
        }) => prompts::push(&cfg, &dir, &files, message.as_deref()).await,
        Command::Dataset(DatasetCommand::Import(args)) => dataset::import(&cfg, &args).await,
        Command::Dataset(DatasetCommand::Export(args)) => dataset::export(&cfg, &args).await,
        Command::Dataset(DatasetCommand::List) => dataset::list(&cfg).await,
        Command::Experiment(ExperimentCommand::Run(args)) => experiment::run(&cfg, &args).await,
        Command::Experiment(ExperimentCommand::Status { id }) => {
            experiment::status(&cfg, &id).await
        }
        Command::Eval(args) => Ok(eval::run(&cfg, &args).await),
        Command::Export(args) => transfer::export(&cfg, &args).await,
        Command::Import(args) => transfer::import(&cfg, &args).await,
        Command::Move(args) => move_db::run(&cfg, &args).await,
        Command::Backup(args) => backup::backup(&cfg, &args).await,
        Command::Restore(args) => backup::restore(&cfg, &args).await,
        Command::Secrets(SecretsCommand::Rotate { new_key_file }) => {
            secrets::rotate(&cfg, new_key_file.as_deref()).await
        }
    }
}
