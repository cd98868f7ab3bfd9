//! `user set-password EMAIL`: the way back in when the only admin forgot
//! their password (there is no email-based reset). The password is read
//! without echo from a terminal, or as one line from standard input for
//! scripts, never from the command line (where `ps` and shell history would
//! keep it).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::bail;
use promptrefine_app::{App, AppError};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

const MIN_CHARS: usize = 12;

pub async fn set_password(cfg: &Config, email: &str) -> anyhow::Result<ExitCode> {
    let password = read_password()?;
    let n = password.expose_secret().chars().count();
    if n < MIN_CHARS {
        bail!("the password must be at least {MIN_CHARS} characters (it has {n})");
    }
    crate::logging::register_secret(password.expose_secret());

    let store = super::transfer::current_schema(cfg).await?;
    let app = App::new(store.clone(), cfg.auth_policy());
    match app.set_password(email, password).await {
        Ok(()) => {}
        Err(AppError::NotFound(_)) => bail!("no user with the email {email:?}"),
        Err(AppError::Invalid(v)) => {
            let reasons: Vec<String> = v.0.iter().map(|f| f.message.clone()).collect();
            bail!("{}", reasons.join("; "));
        }
        Err(e) => return Err(e.into()),
    }
    store.close().await;
    println!("password changed for {email}; every session of that user has been signed out");
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = SecretString::from(rpassword::prompt_password("New password: ")?);
        let again = SecretString::from(rpassword::prompt_password("Repeat it: ")?);
        if first.expose_secret() != again.expose_secret() {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
        if trimmed.is_empty() {
            bail!("no password on standard input (expected one line)");
        }
        Ok(SecretString::from(trimmed))
    }
}
