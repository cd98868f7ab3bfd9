//! The PostgreSQL listener that keeps this process's delivery cache true to
//! every replica's writes. It owns one connection; when that connection is
//! lost the cache stops serving at once ([`Delivery::deafen`]), and serves
//! again only after a new `LISTEN` is in place and everything cached before
//! has been forgotten ([`Delivery::resync`]) — so a note missed in between
//! can never leave an old answer behind.

use std::time::Duration;

use promptrefine_store::DeliveryChange;
use tokio_util::sync::CancellationToken;

use crate::App;

/// The first and the longest wait between connection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

impl App {
    /// Listens until `stop`; returns at once on SQLite (nothing to hear).
    pub async fn run_delivery_listener(&self, stop: CancellationToken) {
        let mut wait = BACKOFF.0;
        loop {
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                c = self.store.listen_delivery() => c,
            };
            let mut listener = match connected {
                Ok(None) => return,
                Ok(Some(l)) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery listener cannot connect; cache off");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(BACKOFF.1);
                    continue;
                }
            };
            wait = BACKOFF.0;
            // Listening now: whatever changed before is in the database, so
            // forgetting everything makes the next reads fresh.
            self.delivery.resync();
            self.refresh_watches(None);
            tracing::info!("delivery listener connected; cache on");
            loop {
                let heard = tokio::select! {
                    _ = stop.cancelled() => return,
                    h = listener.next() => h,
                };
                match heard {
                    Ok(DeliveryChange::Prompt(id)) => self.prompt_changed(id),
                    Ok(DeliveryChange::Token(id)) => self.delivery.forget_token(id),
                    Ok(DeliveryChange::UserTokens(id)) => self.delivery.forget_user_tokens(id),
                    Ok(DeliveryChange::Missed) | Err(_) => {
                        self.delivery.deafen();
                        tracing::warn!("delivery listener lost its connection; cache off");
                        break;
                    }
                }
            }
        }
    }
}
