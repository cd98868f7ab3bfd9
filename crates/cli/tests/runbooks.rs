//! The runbooks' command sequences, run for real: `scripts/runbook-check`
//! (docs/runbooks/incident-recovery.md, migration-rollback.md and the probe,
//! metrics and password steps of docs/operations.md) against a temporary
//! SQLite database, with the binary this test was built with.

use std::path::Path;
use std::process::Command;

#[test]
fn the_runbook_commands_behave_as_the_runbooks_say() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let missing: Vec<&str> = ["bash", "curl", "jq", "sqlite3"]
        .into_iter()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        assert!(
            !promptrefine_testkit::in_ci(),
            "scripts/runbook-check needs {missing:?}"
        );
        eprintln!("NOTICE: skipping the runbook check: {missing:?} not installed");
        return;
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/runbook-check"))
        .env("PROMPTREFINE_BIN", env!("CARGO_BIN_EXE_promptrefine"))
        .output()
        .expect("run scripts/runbook-check");
    assert!(
        out.status.success(),
        "scripts/runbook-check failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
