use promptrefine_store::{
    Attempt, NewToken, SessionRecord, Store, StoreError, UserRecord, ValidSession,
};
use promptrefine_testkit::{TestDb, both_backends};
use time::{Duration, OffsetDateTime};

use crate::open;

both_backends!(
    sessions_are_found_until_they_expire_and_are_purged,
    tokens_are_found_by_hash_until_revoked,
    expired_tokens_are_not_found,
    a_password_reset_ends_every_session_and_revokes_every_token,
    throttle_counters_are_stored_and_reset,
    parallel_attempts_each_count_and_none_slips_past_the_block,
    a_throttle_count_decays_after_the_window_and_stale_rows_are_purged,
    setup_creates_the_first_user_once,
);

fn token<'a>(
    user: &'a UserRecord,
    hash: &'a str,
    expires_at: Option<OffsetDateTime>,
) -> NewToken<'a> {
    NewToken {
        user_id: user.id(),
        name: "ci",
        prefix: "pr_abcd",
        token_hash: hash,
        expires_at,
    }
}

async fn admin(store: &Store) -> UserRecord {
    store
        .users()
        .create("me@example.com", "hash")
        .await
        .unwrap();
    store
        .users()
        .find_by_email("me@example.com")
        .await
        .unwrap()
        .unwrap()
}

/// A session of `user` created at `now`, idle for `idle`, at most `absolute`.
async fn create_session(
    store: &Store,
    user: &UserRecord,
    id_hash: &str,
    now: OffsetDateTime,
    (idle, absolute): (Duration, Duration),
) {
    let record = SessionRecord {
        id_hash: id_hash.into(),
        user_id: user.id(),
        csrf_token: "csrf".into(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now + idle,
        absolute_expires_at: now + absolute,
    };
    store.sessions().create(&record).await.unwrap();
}

async fn session_at(store: &Store, id_hash: &str, at: OffsetDateTime) -> Option<ValidSession> {
    store.sessions().find_valid(id_hash, at).await.unwrap()
}

async fn sessions_are_found_until_they_expire_and_are_purged(db: TestDb) {
    let store = open(&db).await;
    let user = admin(&store).await;
    let now = OffsetDateTime::now_utc();
    create_session(
        &store,
        &user,
        "h1",
        now,
        (Duration::minutes(30), Duration::hours(12)),
    )
    .await;
    let found = session_at(&store, "h1", now).await.expect("valid");
    // The user comes with the session, in the same query.
    assert_eq!(found.user, user.user());
    assert_eq!(found.session.csrf_token, "csrf");
    assert!(
        session_at(&store, "h1", now + Duration::minutes(31))
            .await
            .is_none(),
        "idle expiry"
    );
    let sessions = store.sessions();
    sessions
        .touch(
            "h1",
            now + Duration::minutes(20),
            now + Duration::minutes(50),
        )
        .await
        .unwrap();
    assert!(
        session_at(&store, "h1", now + Duration::minutes(40))
            .await
            .is_some(),
        "slid"
    );
    // Touching never extends past the absolute expiry.
    sessions
        .touch("h1", now, now + Duration::days(3))
        .await
        .unwrap();
    assert!(
        session_at(&store, "h1", now + Duration::hours(13))
            .await
            .is_none(),
        "absolute expiry"
    );
    assert_eq!(
        sessions
            .purge_expired(now + Duration::hours(13))
            .await
            .unwrap(),
        1
    );
    assert!(session_at(&store, "h1", now).await.is_none());
}

async fn tokens_are_found_by_hash_until_revoked(db: TestDb) {
    let store = open(&db).await;
    let user = admin(&store).await;
    let now = OffsetDateTime::now_utc();
    let t = store
        .tokens()
        .create(token(&user, "tokenhash", None))
        .await
        .unwrap();
    assert_eq!(t.expires_at, None);
    assert_eq!(
        store
            .tokens()
            .find_active("tokenhash", now)
            .await
            .unwrap()
            .unwrap()
            .id,
        t.id
    );
    store.tokens().touch(t.id, now).await.unwrap();
    assert!(
        store.tokens().list(user.id()).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    store.tokens().revoke(user.id(), t.id).await.unwrap();
    assert!(
        store
            .tokens()
            .find_active("tokenhash", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.tokens().revoke(user.id(), t.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn expired_tokens_are_not_found(db: TestDb) {
    let store = open(&db).await;
    let user = admin(&store).await;
    let now = OffsetDateTime::now_utc();
    let expires = now + Duration::days(1);
    let t = store
        .tokens()
        .create(token(&user, "expiring", Some(expires)))
        .await
        .unwrap();
    let listed = store.tokens().list(user.id()).await.unwrap();
    assert_eq!(listed[0].expires_at, t.expires_at, "the expiry round-trips");
    assert!(
        (t.expires_at.unwrap() - expires).abs() < Duration::milliseconds(1),
        "{t:?}"
    );
    let found = |at| {
        let store = store.clone();
        async move {
            store
                .tokens()
                .find_active("expiring", at)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(found(now).await);
    assert!(found(expires - Duration::seconds(1)).await);
    assert!(!found(expires).await, "refused from its expiry on");
    assert!(!found(expires + Duration::days(400)).await);
}

async fn a_password_reset_ends_every_session_and_revokes_every_token(db: TestDb) {
    let store = open(&db).await;
    let user = admin(&store).await;
    let now = OffsetDateTime::now_utc();
    for hash in ["t1", "t2"] {
        store
            .tokens()
            .create(token(&user, hash, None))
            .await
            .unwrap();
    }
    create_session(
        &store,
        &user,
        "s1",
        now,
        (Duration::hours(1), Duration::hours(2)),
    )
    .await;
    store
        .users()
        .set_password_hash(user.id(), "new-hash")
        .await
        .unwrap();
    for hash in ["t1", "t2"] {
        assert!(
            store
                .tokens()
                .find_active(hash, now)
                .await
                .unwrap()
                .is_none(),
            "token {hash} survived the reset"
        );
    }
    assert!(
        store
            .tokens()
            .list(user.id())
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some())
    );
    assert!(session_at(&store, "s1", now).await.is_none());
}

/// Blocks for an hour from the fourth attempt on (a long block keeps the
/// test about counting, not about the clock).
fn block_from_the_fourth(now: OffsetDateTime) -> impl Fn(i64) -> Option<OffsetDateTime> {
    move |n| (n > 3).then_some(now + Duration::hours(1))
}

/// One attempt on `key` at `at`, counted in a one-hour window.
async fn attempt(
    store: &Store,
    key: &str,
    at: OffsetDateTime,
    block: impl Fn(i64) -> Option<OffsetDateTime>,
) -> Attempt {
    store
        .throttle()
        .count_attempt(key, at, at - Duration::hours(1), block)
        .await
        .unwrap()
}

async fn throttle_counters_are_stored_and_reset(db: TestDb) {
    let store = open(&db).await;
    assert!(store.throttle().state("email:x").await.unwrap().is_none());
    let now = OffsetDateTime::now_utc();
    for n in 1..=4 {
        let got = attempt(&store, "email:x", now, block_from_the_fourth(now)).await;
        assert_eq!(got, Attempt::Counted(n));
    }
    let got = attempt(&store, "email:x", now, block_from_the_fourth(now)).await;
    assert!(
        matches!(got, Attempt::Blocked(until) if until > now + Duration::minutes(59)),
        "{got:?}"
    );
    let state = store.throttle().state("email:x").await.unwrap().unwrap();
    assert_eq!(state.failures, 4, "a blocked attempt is not counted");
    assert!(state.blocked_until.is_some());
    store.throttle().reset("email:x").await.unwrap();
    assert!(store.throttle().state("email:x").await.unwrap().is_none());
}

/// The check-then-act race: 50 attempts at once must not all read "no
/// failures yet". Each gets its own number, and once the fourth has set the
/// block, the rest are refused.
async fn parallel_attempts_each_count_and_none_slips_past_the_block(db: TestDb) {
    let store = open(&db).await;
    let now = OffsetDateTime::now_utc();
    let attempts = (0..50).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            attempt(&store, "addr:203.0.113.9", now, block_from_the_fourth(now)).await
        })
    });
    let mut counted = vec![];
    let mut blocked = 0;
    for a in attempts.collect::<Vec<_>>() {
        match a.await.unwrap() {
            Attempt::Counted(n) => counted.push(n),
            Attempt::Blocked(_) => blocked += 1,
        }
    }
    counted.sort();
    assert_eq!(
        counted,
        [1, 2, 3, 4],
        "each counted attempt got its own number"
    );
    assert_eq!(blocked, 46);
}

async fn a_throttle_count_decays_after_the_window_and_stale_rows_are_purged(db: TestDb) {
    let store = open(&db).await;
    let t0 = OffsetDateTime::now_utc() - Duration::hours(3);
    for key in ["email:old", "email:blocked"] {
        for _ in 0..3 {
            attempt(&store, key, t0, |_| None).await;
        }
    }
    // 150 minutes later (half an hour ago), with a one-hour window: the
    // count starts again.
    let t1 = t0 + Duration::minutes(150);
    let got = attempt(&store, "email:old", t1, |_| None).await;
    assert_eq!(got, Attempt::Counted(1), "decayed");
    // An old row still blocking is kept; an old row blocking nothing goes.
    attempt(&store, "email:blocked", t0, |_| {
        Some(t0 + Duration::hours(10))
    })
    .await;
    attempt(&store, "email:stale", t0, |_| None).await;
    let now = OffsetDateTime::now_utc();
    let purged = store
        .throttle()
        .purge_stale(now - Duration::hours(1), now)
        .await
        .unwrap();
    assert_eq!(purged, 1, "only email:stale");
    assert!(
        store
            .throttle()
            .state("email:stale")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .throttle()
            .state("email:blocked")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store.throttle().state("email:old").await.unwrap().is_some(),
        "recent: kept"
    );
}

async fn setup_creates_the_first_user_once(db: TestDb) {
    let store = open(&db).await;
    let now = OffsetDateTime::now_utc();
    store
        .setup_tokens()
        .put("th", now + Duration::hours(1))
        .await
        .unwrap();
    assert!(store.setup_tokens().is_valid("th", now).await.unwrap());
    assert!(matches!(
        store
            .setup_tokens()
            .complete_setup("wrong", now, "a@b.c", "h")
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .setup_tokens()
        .complete_setup("th", now, "a@b.c", "h")
        .await
        .unwrap();
    assert!(matches!(
        store
            .setup_tokens()
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
