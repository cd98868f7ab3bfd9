//! `scripts/release VERSION --dry-run` from a fresh clone of this revision:
//! it makes the release commit and tag in a throwaway clone, packages the
//! binary, and checks the archive; this test then unpacks the archive
//! itself and runs what it holds.
//!
//! The suite's own build of this revision is packaged
//! (`PROMPTREFINE_RELEASE_BINARY`) and the suite is not run again inside
//! (`PROMPTREFINE_RELEASE_SKIP_TESTS`): this test is part of that suite,
//! and a second release build would double the time of CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptrefine_testkit::in_ci;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_dry_run_release_from_a_fresh_clone_packages_a_binary_that_runs() {
    let root = repo_root();
    let head = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(head) = head else {
        assert!(!in_ci(), "CI runs from a git clone; this one has no HEAD");
        eprintln!("SKIPPED: not a git checkout, so there is no revision to release");
        return;
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("clone");
    run(Command::new("git")
        .args(["clone", "-q"])
        .arg(&root)
        .arg(&clone));
    run(Command::new("git")
        .arg("-C")
        .arg(&clone)
        .args(["checkout", "-q", &head]));

    let out = run(Command::new("bash")
        .arg(clone.join("scripts/release"))
        .args(["9.8.7-test", "--dry-run"])
        .env("PROMPTREFINE_RELEASE_SKIP_TESTS", "1")
        .env(
            "PROMPTREFINE_RELEASE_BINARY",
            env!("CARGO_BIN_EXE_promptrefine"),
        )
        .env_remove("DATABASE_URL")
        .current_dir(&clone));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("dry run: nothing was committed or tagged here"),
        "{said}"
    );

    // Nothing in the clone it ran from changed but dist/.
    let status = run(Command::new("git")
        .arg("-C")
        .arg(&clone)
        .args(["status", "--porcelain"]));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status
            .lines()
            .all(|l| l.trim_start_matches("?? ").starts_with("dist/")),
        "{status}"
    );
    let tags = run(Command::new("git").arg("-C").arg(&clone).args(["tag"]));
    assert!(tags.stdout.is_empty(), "a dry run tags nothing here");

    let archive = std::fs::read_dir(clone.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an archive in dist/");
    let name = archive.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("promptrefine-9.8.7-test-"), "{name}");
    assert!(
        clone.join("dist").join(format!("{name}.sha256")).is_file(),
        "its checksum beside it"
    );
    run(Command::new("sha256sum")
        .args(["-c", "--quiet", &format!("{name}.sha256")])
        .current_dir(clone.join("dist")));

    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&unpacked)
        .arg("-xzf")
        .arg(&archive));
    let folder = unpacked.join(name.trim_end_matches(".tar.gz"));
    for file in [
        "promptrefine",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        ".env.example",
        "promptrefine.service",
        "docs/architecture.md",
    ] {
        assert!(folder.join(file).is_file(), "{file} is in the archive");
    }
    let version = run(Command::new(folder.join("promptrefine")).arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.starts_with("promptrefine "), "{version}");
    let db = format!("sqlite://{}/data/check.db", folder.display());
    run(Command::new(folder.join("promptrefine"))
        .args(["migrate", "up"])
        .env("DATABASE_URL", &db)
        .current_dir(&folder));
    let check = run(Command::new(folder.join("promptrefine"))
        .arg("check")
        .env("DATABASE_URL", &db)
        .env("BIND", "127.0.0.1:0")
        .current_dir(&folder));
    assert!(!check.stdout.is_empty(), "check reports what it checked");
}
