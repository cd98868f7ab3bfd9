//! The reliability suite's work-ownership scenarios as part of the test
//! suite, on both databases (`scripts/test` also runs them through `all`):
//!
//! * `replicas`: two real server processes share one database; a replica's
//!   start never interrupts the other's runs, a killed replica's runs are
//!   taken after its lease, an experiment survives a kill of one replica,
//!   and cancel crosses replicas.
//! * `cells --quick`: SIGKILLs of the server during an experiment; every
//!   cell ends with exactly one succeeded run.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `promptrefine-reliability ARGS --db …` and fails with its table.
fn suite(args: &[&str]) {
    // In CI a missing PostgreSQL fails here; elsewhere it is skipped, with a notice.
    let db = match promptrefine_testkit::TestDb::postgres_blocking() {
        Some(_) => "both",
        None => "sqlite",
    };
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptrefine-reliability"))
        .args(args)
        .args(["--db", db, "--no-doc"])
        .spawn()
        .expect("start the suite");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "{args:?} failed (its table is above)");
}

#[test]
fn two_replicas_share_one_database_without_taking_each_others_runs() {
    suite(&["replicas"]);
}

#[test]
fn an_experiment_survives_sigkills_of_its_server_with_one_succeeded_run_per_cell() {
    suite(&["cells", "--quick"]);
}
