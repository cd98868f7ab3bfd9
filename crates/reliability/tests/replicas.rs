//! `replicas` as part of the test suite, on both databases: two real server
//! processes share one database; a replica's start never interrupts the
//! other's runs, a killed replica's runs are taken after its lease, and a
//! cancel crosses replicas. (`scripts/test` runs the same through `all`.)

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn two_replicas_share_one_database_without_taking_each_others_runs() {
    // In CI a missing PostgreSQL fails here; elsewhere it is skipped, with a notice.
    let db = match promptrefine_testkit::TestDb::postgres_blocking() {
        Some(_) => "both",
        None => "sqlite",
    };
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptrefine-reliability"))
        .args(["replicas", "--db", db, "--no-doc"])
        .spawn()
        .expect("start the suite");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("replicas did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "replicas failed (its table is above)");
}
