//! The login throttle: failures counted per account and per client address,
//! in the database so every replica shares them.
//!
//! - Every attempt is counted before its password is checked (atomically, in
//!   the store), so parallel guesses each count.
//! - The first [`FREE_FAILURES`] are free; each further one blocks the key for
//!   1, 2, 4 … s, at most [`MAX_BLOCK_SECS`]. A count decays: a key with no
//!   attempt for [`DECAY`] starts again at zero (and its row is purged).
//! - A blocked *address* is refused outright. A blocked *account* refuses wrong
//!   passwords (429) but lets the right password through from an address that
//!   is not blocked: otherwise anyone could keep the owner out by polling.

use std::net::IpAddr;

use promptrefine_store::{Attempt, Store};
use time::{Duration, OffsetDateTime};

use crate::error::{AppError, Result};

/// Attempts allowed before each further one blocks the key for a while.
const FREE_FAILURES: i64 = 3;
const MAX_BLOCK_SECS: i64 = 15 * 60;
/// A count with no attempt for this long starts again.
pub(crate) const DECAY: Duration = Duration::hours(1);

/// Until when the `n`th counted attempt blocks its key.
fn block_until(n: i64, now: OffsetDateTime) -> Option<OffsetDateTime> {
    (n > FREE_FAILURES).then(|| {
        let secs = 1i64 << (n - FREE_FAILURES - 1).min(10);
        now + Duration::seconds(secs.min(MAX_BLOCK_SECS))
    })
}

fn retry_after(until: OffsetDateTime, now: OffsetDateTime) -> AppError {
    AppError::Throttled {
        retry_after_secs: (until - now).whole_seconds().max(1) as u64,
    }
}

/// The keys of one login attempt; the email is already size-checked.
pub(crate) struct LoginKeys {
    account: String,
    address: Option<String>,
}

impl LoginKeys {
    pub(crate) fn new(email: &str, client: Option<IpAddr>) -> LoginKeys {
        LoginKeys {
            account: format!("email:{}", email.trim().to_lowercase()),
            address: client.map(|ip| format!("addr:{ip}")),
        }
    }
}

/// An attempt that may go on to check its password.
pub(crate) struct Admitted {
    /// Set when the account is blocked: a wrong password gets this error.
    pub(crate) account_blocked: Option<AppError>,
}

/// Counts an attempt on both keys; Err(Throttled) when the address is blocked.
pub(crate) async fn admit(store: &Store, keys: &LoginKeys) -> Result<Admitted> {
    let now = OffsetDateTime::now_utc();
    let count = |key: String| async move {
        store
            .throttle()
            .count_attempt(&key, now, now - DECAY, |n| block_until(n, now))
            .await
    };
    if let Some(address) = &keys.address
        && let Attempt::Blocked(until) = count(address.clone()).await?
    {
        return Err(retry_after(until, now));
    }
    let account_blocked = match count(keys.account.clone()).await? {
        Attempt::Blocked(until) => Some(retry_after(until, now)),
        Attempt::Counted(_) => None,
    };
    Ok(Admitted { account_blocked })
}

/// After a successful login: both counts start again.
pub(crate) async fn forget(store: &Store, keys: &LoginKeys) -> Result<()> {
    store.throttle().reset(&keys.account).await?;
    if let Some(address) = &keys.address {
        store.throttle().reset(address).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_double_from_the_fourth_attempt_up_to_fifteen_minutes() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let secs = |n| block_until(n, now).map(|u| (u - now).whole_seconds());
        assert_eq!(
            (1..=6).map(secs).collect::<Vec<_>>(),
            [None, None, None, Some(1), Some(2), Some(4)]
        );
        assert_eq!(secs(14), Some(MAX_BLOCK_SECS));
        assert_eq!(secs(1_000_000), Some(MAX_BLOCK_SECS));
    }
}
