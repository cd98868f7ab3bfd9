use promptrefine_store::{SessionRecord, StoreError, ThrottleState};
use promptrefine_testkit::{TestDb, both_backends};
use time::{Duration, OffsetDateTime};

use crate::open;

both_backends!(
    sessions_are_found_until_they_expire_and_are_purged,
    tokens_are_found_by_hash_until_revoked,
    throttle_counters_are_stored_and_reset,
    setup_creates_the_first_user_once,
);

async fn sessions_are_found_until_they_expire_and_are_purged(db: TestDb) {
    let store = open(&db).await;
    let user = store
        .users()
        .create("me@example.com", "hash")
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let s = SessionRecord {
        id_hash: "h1".into(),
        user_id: user.id,
        csrf_token: "csrf".into(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now + Duration::minutes(30),
        absolute_expires_at: now + Duration::hours(12),
    };
    store.sessions().create(&s).await.unwrap();
    assert!(
        store
            .sessions()
            .find_valid("h1", now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .sessions()
            .find_valid("h1", now + Duration::minutes(31))
            .await
            .unwrap()
            .is_none(),
        "idle expiry"
    );
    store
        .sessions()
        .touch(
            "h1",
            now + Duration::minutes(20),
            now + Duration::minutes(50),
        )
        .await
        .unwrap();
    assert!(
        store
            .sessions()
            .find_valid("h1", now + Duration::minutes(40))
            .await
            .unwrap()
            .is_some(),
        "slid"
    );
    // Touching never extends past the absolute expiry.
    store
        .sessions()
        .touch("h1", now, now + Duration::days(3))
        .await
        .unwrap();
    assert!(
        store
            .sessions()
            .find_valid("h1", now + Duration::hours(13))
            .await
            .unwrap()
            .is_none(),
        "absolute expiry"
    );
    assert_eq!(
        store
            .sessions()
            .purge_expired(now + Duration::hours(13))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .sessions()
            .find_valid("h1", now)
            .await
            .unwrap()
            .is_none()
    );
}

async fn tokens_are_found_by_hash_until_revoked(db: TestDb) {
    let store = open(&db).await;
    let user = store
        .users()
        .create("me@example.com", "hash")
        .await
        .unwrap();
    let t = store
        .tokens()
        .create(user.id, "ci", "pr_abcd", "tokenhash")
        .await
        .unwrap();
    assert_eq!(
        store
            .tokens()
            .find_active("tokenhash")
            .await
            .unwrap()
            .unwrap()
            .id,
        t.id
    );
    store
        .tokens()
        .touch(t.id, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        store.tokens().list(user.id).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    store.tokens().revoke(user.id, t.id).await.unwrap();
    assert!(
        store
            .tokens()
            .find_active("tokenhash")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.tokens().revoke(user.id, t.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn throttle_counters_are_stored_and_reset(db: TestDb) {
    let store = open(&db).await;
    assert!(
        store
            .sessions()
            .throttle_state("email:x")
            .await
            .unwrap()
            .is_none()
    );
    let now = time::OffsetDateTime::now_utc();
    let st = ThrottleState {
        failures: 3,
        last_failure_at: now,
        blocked_until: Some(now + Duration::seconds(4)),
    };
    store
        .sessions()
        .record_failure("email:x", &st)
        .await
        .unwrap();
    let got = store
        .sessions()
        .throttle_state("email:x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.failures, 3);
    store.sessions().reset_throttle("email:x").await.unwrap();
    assert!(
        store
            .sessions()
            .throttle_state("email:x")
            .await
            .unwrap()
            .is_none()
    );
}

async fn setup_creates_the_first_user_once(db: TestDb) {
    let store = open(&db).await;
    let now = OffsetDateTime::now_utc();
    store
        .sessions()
        .put_setup_token("th", now + Duration::hours(1))
        .await
        .unwrap();
    assert!(store.sessions().setup_token_valid("th", now).await.unwrap());
    assert!(matches!(
        store
            .sessions()
            .complete_setup("wrong", now, "a@b.c", "h")
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .sessions()
        .complete_setup("th", now, "a@b.c", "h")
        .await
        .unwrap();
    assert!(matches!(
        store
            .sessions()
            .complete_setup("th", now, "x@b.c", "h")
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.users().count().await.unwrap(), 1);
    assert!(
        store
            .users()
            .find_by_email("A@B.C")
            .await
            .unwrap()
            .is_some()
    );
}
