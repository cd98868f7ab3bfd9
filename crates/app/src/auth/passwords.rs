//! Password hashing (argon2id) under a cap, and the credential rules.
//!
//! Hashing and verifying cost tens of milliseconds of one core each; with no
//! cap, a burst of logins (or setups) would take every blocking thread and the
//! whole CPU. The cap is a semaphore sized to the cores: requests from the web
//! try to take a permit and are refused with 429 when none is free (a queue
//! would only move the pile-up); the CLI and start-up wait for one.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, Salt, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    let params = Params::default();
    let hash = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2_into(
            &params,
            Algorithm::default(),
            Version::default(),
            password,
            salt.as_salt(),
            out,
        )
        .map_err(Into::into)
    })
    .expect("argon2 hashing with default parameters cannot fail");
    PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params).expect("default argon2 parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string()
}

fn verify_now(hash: Option<&str>, password: &str) -> bool {
    let hash = hash.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    Output::init_with(expected.len(), |out| {
        argon2_into(&params, algorithm, version, password, salt, out).map_err(Into::into)
    })
    // `Output`'s equality is constant-time.
    .is_ok_and(|computed| computed == expected)
}

/// Argon2 with its working memory taken from a fresh `mmap`, so that it goes
/// back to the system as soon as the hash is done.
///
/// argon2's own `hash_password` allocates its 19 MiB of blocks with `vec!`.
/// glibc serves the first such allocation with `mmap`, but on freeing it raises
/// its dynamic mmap threshold to that size, so every later one comes from the
/// heap and stays resident after it is freed: the server's idle RSS grew by
/// ~20 MB after the first sign-in (issue 18). glibc never raises the threshold
/// past 32 MiB, so asking for a capacity above that keeps every buffer an
/// `mmap` of its own, unmapped on drop. Only the blocks argon2 uses are
/// written, so only they ever become resident.
fn argon2_into(
    params: &Params,
    algorithm: Algorithm,
    version: Version,
    password: &str,
    salt: Salt<'_>,
    out: &mut [u8],
) -> argon2::Result<()> {
    const ALWAYS_MMAPPED_BYTES: usize = 33 * 1024 * 1024;
    let blocks = params.block_count();
    let mut memory = Vec::with_capacity(blocks.max(ALWAYS_MMAPPED_BYTES / Block::SIZE));
    memory.resize(blocks, Block::default());
    let mut raw_salt = [0u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut raw_salt)
        .map_err(|_| argon2::Error::SaltTooShort)?;
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory,
    )
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

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hash = hash_now("correct horse");
        assert!(verify_now(Some(&hash), "correct horse"));
        assert!(!verify_now(Some(&hash), "correct horsf"));
        assert!(!verify_now(None, "correct horse"));
        assert!(!verify_now(Some("not a phc string"), "correct horse"));
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        // Hashes stored before the mmap'd buffer must still verify, and ours
        // must be ordinary PHC strings any argon2 implementation accepts.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now(Some(&theirs), "s3cret"));
        assert!(!verify_now(Some(&theirs), "s3cre"));

        let ours = hash_now("s3cret");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"s3cret", &parsed)
                .is_ok()
        );
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
    }

    #[test]
    fn stored_parameters_are_honoured() {
        // A hash made with other costs is checked with those costs.
        let params = Params::new(8 * 1024, 3, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now(Some(&theirs), "pw"));
        assert!(!verify_now(Some(&theirs), "pW"));
    }
}
