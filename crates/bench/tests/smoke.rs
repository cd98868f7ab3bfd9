//! The benchmark still runs end to end: `--smoke` (tiny sizes, SQLite, a few
//! seconds) against the debug server binary, writing to a temporary file.
//! Only the presence of every row is checked — timing is never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BENCH: &str = env!("CARGO_BIN_EXE_promptrefine-bench");

/// `promptrefine` of the same profile as this test (`target/debug/`), built
/// when this package was tested alone and nothing built it yet.
fn server_binary() -> PathBuf {
    let dir = Path::new(BENCH)
        .parent()
        .expect("the bench binary's folder");
    let bin = dir.join(format!("promptrefine{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut child = Command::new(cargo)
            .args(["build", "-p", "promptrefine"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .spawn()
            .expect("run cargo build -p promptrefine");
        // A watchdog rather than a hang, should the build directory stay locked.
        let t0 = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for cargo") {
                break status;
            }
            if t0.elapsed() > Duration::from_secs(900) {
                let _ = child.kill();
                panic!("cargo build -p promptrefine took over 15 min; run it first");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(status.success(), "cargo build -p promptrefine failed");
    }
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p promptrefine`",
        bin.display()
    );
    bin
}

/// `--smoke` on `db`, written to a temporary file: the file and the bench's stderr.
fn smoke(db: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("benchmarks.md");
    let output = Command::new(BENCH)
        .args(["--smoke", "--db", db, "--out"])
        .arg(&out)
        .arg("--server-bin")
        .arg(server_binary())
        .output()
        .expect("run the bench");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the bench failed:\n{stderr}");
    (std::fs::read_to_string(&out).unwrap(), stderr)
}

#[test]
fn the_smoke_run_writes_a_table_with_every_row() {
    let (table, stderr) = smoke("sqlite");
    assert!(table.contains("<!-- bench:begin -->") && table.contains("<!-- bench:end -->"));
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| B") || l.starts_with("| E"))
        .collect();
    for (id, count) in [
        ("B0", 2),
        ("B1", 2),
        ("B2", 2),
        ("B3", 1),
        ("B4", 1),
        ("B5", 2),
        ("B6", 2),
        ("B7", 1),
        ("B8", 4),
        // The three pages, and the results of an experiment three ways.
        ("B9", 6),
        ("B10", 1),
        // B11 needs two replicas of one PostgreSQL: none on SQLite.
        ("B11", 0),
        ("B12", 2),
        ("E1", 3),
        ("E2", 0),
    ] {
        let found = rows
            .iter()
            .filter(|r| r.starts_with(&format!("| {id} |")))
            .count();
        assert_eq!(found, count, "rows of {id} in:\n{table}\n{stderr}");
    }
    for row in &rows {
        assert!(
            !row.contains("not measured"),
            "a workload failed: {row}\n{stderr}"
        );
        assert!(row.contains("| sqlite |"), "{row}");
    }
    // Functional checks the bench makes are not timing: these must hold.
    let b4 = rows.iter().find(|r| r.starts_with("| B4 |")).unwrap();
    assert!(
        b4.contains("0 errors") && b4.contains("gapless") && !b4.contains("NOT gapless"),
        "{b4}"
    );
    let b7 = rows.iter().find(|r| r.starts_with("| B7 |")).unwrap();
    assert!(
        b7.contains("8/8 streams complete, 8 stored succeeded"),
        "{b7}"
    );
    let e1 = rows.iter().find(|r| r.starts_with("| E1 |")).unwrap();
    assert!(e1.contains("64/64 succeeded (succeeded)"), "{e1}");
}

/// E2 runs on PostgreSQL only: the smoke run on it, when it is reachable
/// (the testkit's `PROMPTREFINE_TEST_DATABASE_URL` or its default), else skipped.
#[test]
fn the_smoke_run_on_postgres_has_the_two_replica_rows() {
    let (table, stderr) = smoke("postgres");
    if table.contains("| every workload | postgres |") {
        // CI has PostgreSQL: there a missing one fails, loudly.
        assert!(
            !promptrefine_testkit::in_ci(),
            "no PostgreSQL for the bench in CI:\n{table}"
        );
        eprintln!("SKIPPED: no PostgreSQL for the bench:\n{table}");
        return;
    }
    let b11 = table.lines().filter(|l| l.starts_with("| B11 |")).count();
    assert_eq!(
        b11, 1,
        "the staleness row of two replicas:\n{table}\n{stderr}"
    );
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| E")).collect();
    for (id, count) in [("E1", 3), ("E2", 3)] {
        let found = rows
            .iter()
            .filter(|r| r.starts_with(&format!("| {id} |")))
            .count();
        assert_eq!(found, count, "rows of {id} in:\n{table}\n{stderr}");
    }
    for row in table
        .lines()
        .filter(|l| l.starts_with("| B") || l.starts_with("| E"))
    {
        assert!(
            !row.contains("not measured"),
            "a workload failed: {row}\n{stderr}"
        );
    }
    // Functional, not timing: every cell once across the two servers.
    let once = rows
        .iter()
        .find(|r| r.contains("no cell ran twice"))
        .unwrap();
    assert!(
        once.contains("64 runs listed, 64/64 cells succeeded, 0 cells twice"),
        "{once}"
    );
}
