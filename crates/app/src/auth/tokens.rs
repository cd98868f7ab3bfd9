//! API tokens: named bearer secrets with an optional expiry, stored hashed.
//! Managing them needs a session (the web layer enforces it): a leaked token
//! cannot mint itself a successor or hide among the user's tokens.

use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{TokenId, UserId};
use promptrefine_store::{ApiToken, NewToken};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use super::{TOKEN_PREFIX, random_secret, sha256_hex};
use crate::App;
use crate::error::{OrNotFound, Result, check};

/// The longest lifetime a token may be given, in days (ten years).
pub const TOKEN_MAX_DAYS: i64 = 3650;

impl App {
    /// Creates a named token that never expires; the secret is returned once.
    pub async fn create_token(&self, user: UserId, name: &str) -> Result<(ApiToken, SecretString)> {
        self.create_token_expiring(user, name, None).await
    }

    /// Creates a named token, valid for `expires_in_days` (1 to
    /// [`TOKEN_MAX_DAYS`]) or without end; the secret is returned once and
    /// stored hashed.
    pub async fn create_token_expiring(
        &self,
        user: UserId,
        name: &str,
        expires_in_days: Option<i64>,
    ) -> Result<(ApiToken, SecretString)> {
        let name = name.trim();
        let mut v = Violations::default();
        validate::token_name(&mut v, "name", name);
        if expires_in_days.is_some_and(|d| !(1..=TOKEN_MAX_DAYS).contains(&d)) {
            v.push(
                "expiresInDays",
                "range",
                format!("expiresInDays must be between 1 and {TOKEN_MAX_DAYS}"),
            );
        }
        check(v)?;
        let raw = format!("{TOKEN_PREFIX}{}", random_secret());
        let prefix: String = raw.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let expires_at = expires_in_days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
        let token = self
            .store
            .tokens()
            .create(NewToken {
                user_id: user,
                name,
                prefix: &prefix,
                token_hash: &sha256_hex(&raw),
                expires_at,
            })
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
            .or_not_found("token")?;
        self.delivery.forget_token(id);
        Ok(())
    }

    /// The user a bearer token belongs to, when it is live (neither revoked
    /// nor expired).
    pub async fn token_user(&self, raw: &str) -> Result<Option<UserId>> {
        if !raw.starts_with(TOKEN_PREFIX) || raw.len() > 200 {
            return Ok(None);
        }
        let t = OffsetDateTime::now_utc();
        let hash = sha256_hex(raw);
        // "Last used" is kept to the minute: a hit within it makes no query.
        let stale =
            |used: Option<OffsetDateTime>| used.is_none_or(|u| t - u > Duration::minutes(1));
        if let Some((id, user, last_used)) = self.cached_token(&hash, t) {
            if stale(last_used) {
                self.store.tokens().touch(id, t).await?;
                self.token_touched(&hash, t);
            }
            return Ok(Some(user));
        }
        let generation = self.token_generation();
        let Some(token) = self.store.tokens().find_active(&hash, t).await? else {
            return Ok(None);
        };
        let mut last_used = token.last_used_at;
        if stale(last_used) {
            self.store.tokens().touch(token.id, t).await?;
            last_used = Some(t);
        }
        self.cache_token(generation, hash, &token, last_used);
        Ok(Some(token.user_id))
    }
}
