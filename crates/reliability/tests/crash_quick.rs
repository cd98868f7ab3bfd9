//! `crash --quick` on SQLite as part of the normal test suite: five SIGKILLs
//! of the real server under load, each followed by the full check. Bounded:
//! the suite gets 90 s and is killed after that.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_server_loses_no_acknowledged_write_across_five_sigkills() {
    // The suite drives the real `promptrefine` binary next to its own under
    // target/: the workspace test build (`cargo nextest run --workspace`)
    // builds it with the same features. (A `cargo build -p promptrefine`
    // here resolved features for that package alone and rebuilt half the
    // dependency graph in the middle of the test run.)
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptrefine-reliability"))
        .args(["crash", "--db", "sqlite", "--quick", "--no-doc"])
        .spawn()
        .expect("start the suite");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("crash --quick did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "crash --quick failed (its table is above)"
    );
}
