//! The cap on concurrent password hashing: logins over it are refused at
//! once with a retry hint, instead of piling argon2 work onto every core.

use std::net::{IpAddr, Ipv4Addr};

use promptrefine_app::auth::AuthPolicy;
use promptrefine_app::{App, AppError};
use promptrefine_store::{Store, StoreOptions, migrate};
use promptrefine_testkit::{TestDb, both_backends};
use secrecy::SecretString;

both_backends!(logins_over_the_hashing_cap_are_refused_with_a_retry_hint);

async fn logins_over_the_hashing_cap_are_refused_with_a_retry_hint(db: TestDb) {
    let store = Store::connect(&StoreOptions::new(db.url())).await.unwrap();
    migrate::up(&store).await.unwrap();
    let app = App::new(store, AuthPolicy::default()).with_password_hashing_limit(1);
    // Distinct emails and addresses: the throttle plays no part, only the cap.
    let logins: Vec<_> = (0..16u8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
                app.login(
                    &format!("nobody{i}@example.com"),
                    SecretString::from("wrong-password-x"),
                    Some(client),
                )
                .await
            })
        })
        .collect();
    let (mut busy, mut wrong) = (0, 0);
    for l in logins {
        match l.await.unwrap() {
            Err(AppError::Throttled { retry_after_secs }) => {
                assert!(retry_after_secs >= 1);
                busy += 1;
            }
            Err(AppError::Unauthorized(_)) => wrong += 1,
            other => panic!("unexpected {:?}", other.err()),
        }
    }
    assert!(busy > 0, "16 logins at once never found the cap of 1 full");
    assert!(wrong > 0, "some were checked");
}
