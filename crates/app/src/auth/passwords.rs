//! Password hashing (argon2id) under a cap, and the credential rules.
//!
//! Hashing and verifying cost tens of milliseconds of one core each; with no
//! cap, a burst of logins (or setups) would take every blocking thread and the
//! whole CPU. The cap is a semaphore sized to the cores: requests from the web
//! try to take a permit and are refused with 429 when none is free (a queue
//! would only move the pile-up); the CLI and start-up wait for one.

use std::sync::{Arc, LazyLock};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use promptrefine_core::validate::{self, Violations};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, Result, check};

/// Longest email accepted anywhere, login included (RFC 5321's path limit).
const EMAIL_MAX_CHARS: usize = 254;
/// Longest password accepted: argon2 reads all of it, so it is bounded.
const PASSWORD_MAX_CHARS: usize = 1024;
/// What a client is told to wait when every hashing permit is taken.
const BUSY_RETRY_SECS: u64 = 1;

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_now("a password nobody has, to spend the same time"));

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

fn verify_now(hash: Option<&str>, password: &str) -> bool {
    let hash = hash.unwrap_or(DUMMY_HASH.as_str());
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether a caller may wait for a hashing permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A web request: refuse at once (429) when the cap is full.
    No,
    /// The CLI or start-up: wait for a permit.
    Yes,
}

/// The hashing cap, shared by every clone of the `App`.
#[derive(Clone, Debug)]
pub(crate) struct Hashing {
    permits: Arc<Semaphore>,
}

impl Hashing {
    pub(crate) fn new(limit: usize) -> Hashing {
        Hashing {
            permits: Arc::new(Semaphore::new(limit)),
        }
    }

    /// One permit per core.
    pub(crate) fn per_core() -> Hashing {
        Hashing::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    async fn permit(&self, wait: Wait) -> Result<OwnedSemaphorePermit> {
        match wait {
            Wait::Yes => self.permits.clone().acquire_owned().await.ok(),
            Wait::No => self.permits.clone().try_acquire_owned().ok(),
        }
        .ok_or(AppError::Throttled {
            retry_after_secs: BUSY_RETRY_SECS,
        })
    }

    /// Hashes a password on a blocking thread, holding a permit.
    pub(crate) async fn hash(&self, password: SecretString, wait: Wait) -> Result<String> {
        let permit = self.permit(wait).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_now(password.expose_secret())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Checks a password against a hash, or against a dummy hash when there
    /// is none (an unknown email costs the same time as a wrong password).
    pub(crate) async fn verify(
        &self,
        hash: Option<String>,
        password: SecretString,
    ) -> Result<bool> {
        let permit = self.permit(Wait::No).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_now(hash.as_deref(), password.expose_secret())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
    }
}

/// The rules for a new account's email and password.
pub(crate) fn validate_credentials(email: &str, password: &SecretString) -> Result<()> {
    let mut v = Violations::default();
    validate::email(&mut v, "email", email);
    validate::password(&mut v, "password", password.expose_secret());
    check(v)
}

/// Bounds on what a login may send, checked before anything else (the email
/// becomes a throttle key, and argon2 reads the whole password). Only sizes:
/// a malformed email is just a wrong one.
pub(crate) fn check_login_sizes(email: &str, password: &SecretString) -> Result<()> {
    let mut v = Violations::default();
    let n = email.chars().count();
    if n == 0 || n > EMAIL_MAX_CHARS {
        v.push(
            "email",
            "length",
            format!("email must be 1 to {EMAIL_MAX_CHARS} characters"),
        );
    }
    if password.expose_secret().chars().count() > PASSWORD_MAX_CHARS {
        v.push(
            "password",
            "length",
            format!("password must be at most {PASSWORD_MAX_CHARS} characters"),
        );
    }
    check(v)
}
