//! Accounts, sessions, API tokens and login throttling.
//!
//! Secrets handed to clients (session ids, API tokens, the setup token) are
//! 256-bit random values; the database keeps only their SHA-256, so a copy of
//! it signs nobody in. Passwords are hashed with argon2id on a blocking thread.
//! Unknown emails are checked against a dummy hash, so a wrong email and a
//! wrong password take the same time and get the same answer.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{TokenId, User, UserId};
use promptrefine_store::{ApiToken, SessionRecord, ThrottleState};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::App;
use crate::error::{AppError, OrNotFound, Result, check};

/// Prefix of every API token, so leaked ones are easy to spot (and redact).
pub const TOKEN_PREFIX: &str = "pr_";

/// Failures allowed before each further failure blocks the key for a while.
const FREE_FAILURES: i64 = 3;
const MAX_BLOCK_SECS: i64 = 15 * 60;

#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub session_idle: Duration,
    pub session_absolute: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            session_idle: Duration::from_secs(24 * 3600),
            session_absolute: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// A signed-in session as handed to the client: the raw id goes in the
/// cookie, and is never stored.
pub struct NewSession {
    pub session_id: SecretString,
    pub csrf_token: String,
    pub user: User,
}

/// A valid session, looked up from its cookie.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub user_id: UserId,
    pub csrf_token: String,
}

pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password_now("a password nobody has, to spend the same time"));

fn hash_password_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

/// Hashes a password with argon2id, off the async threads.
pub async fn hash_password(password: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password_now(password.expose_secret()))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

async fn verify_password(hash: String, password: SecretString) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl App {
    /// Signs in with email and password, throttling repeated failures per
    /// account and per client address.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<NewSession> {
        let keys = throttle_keys(email, client);
        for key in &keys {
            let state = self.store.sessions().throttle_state(key).await?;
            if let Some(until) = state.and_then(|s| s.blocked_until).filter(|u| *u > now()) {
                let secs = (until - now()).whole_seconds().max(1) as u64;
                return Err(AppError::Throttled {
                    retry_after_secs: secs,
                });
            }
        }
        let user = self.store.users().find_by_email(email.trim()).await?;
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = verify_password(hash, password).await && user.is_some();
        let Some(user) = user.filter(|_| ok) else {
            for key in &keys {
                self.record_login_failure(key).await?;
            }
            return Err(AppError::Unauthorized("wrong email or password"));
        };
        for key in &keys {
            self.store.sessions().reset_throttle(key).await?;
        }
        self.start_session(user.user()).await
    }

    async fn record_login_failure(&self, key: &str) -> Result<()> {
        let t = now();
        let failures = self
            .store
            .sessions()
            .throttle_state(key)
            .await?
            .map_or(0, |s| s.failures)
            + 1;
        let blocked_until = (failures > FREE_FAILURES).then(|| {
            let secs = 1i64 << (failures - FREE_FAILURES - 1).min(10);
            t + time::Duration::seconds(secs.min(MAX_BLOCK_SECS))
        });
        let state = ThrottleState {
            failures,
            last_failure_at: t,
            blocked_until,
        };
        Ok(self.store.sessions().record_failure(key, &state).await?)
    }

    /// A new server-side session (a new id every time: no fixation).
    pub async fn start_session(&self, user: User) -> Result<NewSession> {
        let raw = random_secret();
        let csrf_token = random_secret();
        let t = now();
        let record = SessionRecord {
            id_hash: sha256_hex(&raw),
            user_id: user.id,
            csrf_token: csrf_token.clone(),
            created_at: t,
            last_seen_at: t,
            idle_expires_at: t + self.auth.session_idle,
            absolute_expires_at: t + self.auth.session_absolute,
        };
        self.store.sessions().create(&record).await?;
        Ok(NewSession {
            session_id: SecretString::from(raw),
            csrf_token,
            user,
        })
    }

    /// The session behind a cookie value, sliding its idle expiry.
    pub async fn session(&self, raw_id: &str) -> Result<Option<ActiveSession>> {
        if raw_id.is_empty() || raw_id.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(raw_id);
        let t = now();
        let Some(s) = self.store.sessions().find_valid(&hash, t).await? else {
            return Ok(None);
        };
        // Write at most once a minute per session: reads stay reads.
        if t - s.last_seen_at > time::Duration::minutes(1) {
            self.store
                .sessions()
                .touch(&hash, t, t + self.auth.session_idle)
                .await?;
        }
        Ok(Some(ActiveSession {
            user_id: s.user_id,
            csrf_token: s.csrf_token,
        }))
    }

    pub async fn logout(&self, raw_id: &str) -> Result<()> {
        Ok(self.store.sessions().delete(&sha256_hex(raw_id)).await?)
    }

    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        Ok(self.store.sessions().purge_expired(now()).await?)
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        Ok(self
            .store
            .users()
            .get(id)
            .await
            .or_not_found("user")?
            .user())
    }

    // --- API tokens --------------------------------------------------------

    /// Creates a named token; the secret is returned once and stored hashed.
    pub async fn create_token(&self, user: UserId, name: &str) -> Result<(ApiToken, SecretString)> {
        let name = name.trim();
        let mut v = Violations::default();
        validate::token_name(&mut v, "name", name);
        check(v)?;
        let raw = format!("{TOKEN_PREFIX}{}", random_secret());
        let prefix: String = raw.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let token = self
            .store
            .tokens()
            .create(user, name, &prefix, &sha256_hex(&raw))
            .await?;
        Ok((token, SecretString::from(raw)))
    }

    pub async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
        Ok(self.store.tokens().list(user).await?)
    }

    pub async fn revoke_token(&self, user: UserId, id: TokenId) -> Result<()> {
        self.store
            .tokens()
            .revoke(user, id)
            .await
            .or_not_found("token")
    }

    /// The user a bearer token belongs to, when it is live.
    pub async fn token_user(&self, raw: &str) -> Result<Option<UserId>> {
        if !raw.starts_with(TOKEN_PREFIX) || raw.len() > 200 {
            return Ok(None);
        }
        let Some(token) = self.store.tokens().find_active(&sha256_hex(raw)).await? else {
            return Ok(None);
        };
        let t = now();
        if token
            .last_used_at
            .is_none_or(|u| t - u > time::Duration::minutes(1))
        {
            self.store.tokens().touch(token.id, t).await?;
        }
        Ok(Some(token.user_id))
    }

    // --- first run and password resets ---------------------------------------

    /// At start-up: create the admin from configuration when there is no user;
    /// otherwise, with no user and no configured admin, make a one-time setup
    /// token and return it (to print as a link).
    pub async fn ensure_admin(
        &self,
        email: Option<&str>,
        password: Option<&SecretString>,
    ) -> Result<Option<SecretString>> {
        if self.store.users().count().await? > 0 {
            return Ok(None);
        }
        if let (Some(email), Some(password)) = (email, password) {
            self.create_user(email, password.clone()).await?;
            tracing::info!("created the admin account from AUTH_ADMIN_EMAIL");
            return Ok(None);
        }
        let raw = random_secret();
        self.store
            .sessions()
            .put_setup_token(&sha256_hex(&raw), now() + time::Duration::hours(24))
            .await?;
        Ok(Some(SecretString::from(raw)))
    }

    pub async fn setup_token_valid(&self, raw: &str) -> Result<bool> {
        Ok(self
            .store
            .sessions()
            .setup_token_valid(&sha256_hex(raw), now())
            .await?)
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(self.store.users().count().await?)
    }

    /// Creates the first user with the one-time setup token and signs them in.
    pub async fn complete_setup(
        &self,
        raw_token: &str,
        email: &str,
        password: SecretString,
    ) -> Result<NewSession> {
        let email = email.trim();
        validate_credentials(email, &password)?;
        let hash = hash_password(password).await?;
        let id = self
            .store
            .sessions()
            .complete_setup(&sha256_hex(raw_token), now(), email, &hash)
            .await
            .map_err(|_| {
                AppError::Forbidden("the setup link is invalid, expired or already used")
            })?;
        let user = self.user(id).await?;
        self.start_session(user).await
    }

    pub async fn create_user(&self, email: &str, password: SecretString) -> Result<User> {
        let email = email.trim();
        validate_credentials(email, &password)?;
        let hash = hash_password(password).await?;
        match self.store.users().create(email, &hash).await {
            Err(promptrefine_store::StoreError::Conflict(_)) => Err(AppError::Conflict {
                field: "email",
                message: "a user with this email exists".into(),
            }),
            other => Ok(other?),
        }
    }

    /// Resets a password (CLI); signs the user out everywhere.
    pub async fn set_password(&self, email: &str, password: SecretString) -> Result<()> {
        validate_credentials(email.trim(), &password)?;
        let user = self
            .store
            .users()
            .find_by_email(email.trim())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        let hash = hash_password(password).await?;
        Ok(self
            .store
            .users()
            .set_password_hash(user.id(), &hash)
            .await?)
    }
}

fn validate_credentials(email: &str, password: &SecretString) -> Result<()> {
    let mut v = Violations::default();
    validate::email(&mut v, "email", email);
    validate::password(&mut v, "password", password.expose_secret());
    check(v)
}

fn throttle_keys(email: &str, client: Option<IpAddr>) -> Vec<String> {
    let mut keys = vec![format!("email:{}", email.trim().to_lowercase())];
    if let Some(ip) = client {
        keys.push(format!("addr:{ip}"));
    }
    keys
}
