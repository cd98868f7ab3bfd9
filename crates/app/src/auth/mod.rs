//! Accounts, sessions, API tokens and login throttling.
//!
//! Secrets handed to clients (session ids, API tokens, the setup token) are
//! 256-bit random values; the database keeps only their SHA-256, so a copy of
//! it signs nobody in. Passwords are hashed with argon2id on a blocking thread,
//! under a cap on concurrent hashing ([`passwords`]). Unknown emails are
//! checked against a dummy hash, so a wrong email and a wrong password take the
//! same time and get the same answer. Failed logins are throttled per account
//! and per address ([`throttle`]).

mod accounts;
mod passwords;
mod throttle;
mod tokens;

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use promptrefine_core::{User, UserId};
use promptrefine_store::SessionRecord;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use tokens::TOKEN_MAX_DAYS;

use crate::App;
use crate::error::{AppError, OrNotFound, Result};

/// Prefix of every API token, so leaked ones are easy to spot (and redact).
pub const TOKEN_PREFIX: &str = "pr_";

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

/// What the `App` holds for auth: the policy and the hashing cap.
#[derive(Clone, Debug)]
pub(crate) struct AuthState {
    policy: AuthPolicy,
    hashing: passwords::Hashing,
}

impl AuthState {
    pub(crate) fn new(policy: AuthPolicy) -> AuthState {
        AuthState {
            policy,
            hashing: passwords::Hashing::per_core(),
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

/// A valid session, looked up from its cookie, with its user (read in the
/// same query: a page needs the email, and a second lookup per request
/// would double the cost of authenticating it).
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub user: User,
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

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl App {
    /// This app with at most `limit` passwords hashed or verified at once
    /// (default: one per core); a login or setup over the cap gets 429.
    pub fn with_password_hashing_limit(mut self, limit: usize) -> App {
        self.auth.hashing = passwords::Hashing::new(limit);
        self
    }

    /// Signs in with email and password, throttling repeated failures per
    /// account and per client address (see [`throttle`]).
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<NewSession> {
        let email = email.trim();
        passwords::check_login_sizes(email, &password)?;
        let keys = throttle::LoginKeys::new(email, client);
        let admitted = throttle::admit(&self.store, &keys).await?;
        let user = self.store.users().find_by_email(email).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.auth.hashing.verify(hash, password).await? && user.is_some();
        let Some(user) = user.filter(|_| ok) else {
            return Err(admitted
                .account_blocked
                .unwrap_or(AppError::Unauthorized("wrong email or password")));
        };
        throttle::forget(&self.store, &keys).await?;
        self.start_session(user.user()).await
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
            idle_expires_at: t + self.auth.policy.session_idle,
            absolute_expires_at: t + self.auth.policy.session_absolute,
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
        let Some(found) = self.store.sessions().find_valid(&hash, t).await? else {
            return Ok(None);
        };
        let s = found.session;
        // Write at most once a minute per session: reads stay reads.
        if t - s.last_seen_at > time::Duration::minutes(1) {
            self.store
                .sessions()
                .touch(&hash, t, t + self.auth.policy.session_idle)
                .await?;
        }
        Ok(Some(ActiveSession {
            user: found.user,
            csrf_token: s.csrf_token,
        }))
    }

    pub async fn logout(&self, raw_id: &str) -> Result<()> {
        Ok(self.store.sessions().delete(&sha256_hex(raw_id)).await?)
    }

    /// Deletes expired sessions (returns how many) and the login-throttle
    /// counters that have decayed (they would count from zero anyway).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let t = now();
        let sessions = self.store.sessions().purge_expired(t).await?;
        let counters = self
            .store
            .throttle()
            .purge_stale(t - throttle::DECAY, t)
            .await?;
        tracing::debug!(counters, "purged decayed login-throttle counters");
        Ok(sessions)
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
}
