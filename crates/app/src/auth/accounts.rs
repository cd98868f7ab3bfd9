//! Accounts: the first admin (from configuration or the one-time setup
//! link), and password resets.

use promptrefine_core::User;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use super::passwords::{Wait, validate_credentials};
use super::{NewSession, random_secret, sha256_hex};
use crate::App;
use crate::error::{AppError, Result};

const SETUP_REFUSED: &str = "the setup link is invalid, expired or already used";

impl App {
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
            .setup_tokens()
            .put(
                &sha256_hex(&raw),
                OffsetDateTime::now_utc() + Duration::hours(24),
            )
            .await?;
        Ok(Some(SecretString::from(raw)))
    }

    pub async fn setup_token_valid(&self, raw: &str) -> Result<bool> {
        Ok(self
            .store
            .setup_tokens()
            .is_valid(&sha256_hex(raw), OffsetDateTime::now_utc())
            .await?)
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(self.store.users().count().await?)
    }

    /// Creates the first user with the one-time setup token and signs them in.
    ///
    /// Anyone can call this, so the cheap checks come first: no user may
    /// exist and the token must be valid before the input is even looked at,
    /// and only then is the password hashed (under the hashing cap). The
    /// store checks both again in the transaction that creates the user.
    pub async fn complete_setup(
        &self,
        raw_token: &str,
        email: &str,
        password: SecretString,
    ) -> Result<NewSession> {
        if self.user_count().await? > 0 || !self.setup_token_valid(raw_token).await? {
            return Err(AppError::Forbidden(SETUP_REFUSED));
        }
        let email = email.trim();
        validate_credentials(email, &password)?;
        let hash = self.auth.hashing.hash(password, Wait::No).await?;
        let id = self
            .store
            .setup_tokens()
            .complete_setup(
                &sha256_hex(raw_token),
                OffsetDateTime::now_utc(),
                email,
                &hash,
            )
            .await
            .map_err(|_| AppError::Forbidden(SETUP_REFUSED))?;
        let user = self.user(id).await?;
        self.start_session(user).await
    }

    pub async fn create_user(&self, email: &str, password: SecretString) -> Result<User> {
        let email = email.trim();
        validate_credentials(email, &password)?;
        let hash = self.auth.hashing.hash(password, Wait::Yes).await?;
        match self.store.users().create(email, &hash).await {
            Err(promptrefine_store::StoreError::Conflict(
                promptrefine_store::Constraint::UserEmail,
            )) => Err(AppError::Conflict {
                field: "email",
                message: "a user with this email exists".into(),
            }),
            other => Ok(other?),
        }
    }

    /// Resets a password (CLI). Whoever may have known the old one is shut
    /// out: every session of the user is deleted and every API token revoked,
    /// in the transaction that stores the new hash.
    pub async fn set_password(&self, email: &str, password: SecretString) -> Result<()> {
        validate_credentials(email.trim(), &password)?;
        let user = self
            .store
            .users()
            .find_by_email(email.trim())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        let hash = self.auth.hashing.hash(password, Wait::Yes).await?;
        self.store
            .users()
            .set_password_hash(user.id(), &hash)
            .await?;
        // Its tokens were revoked with the new hash.
        self.delivery.forget_user_tokens(user.id());
        Ok(())
    }
}
