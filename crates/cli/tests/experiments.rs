//! `experiment run --wait` and `experiment status`, on SQLite and
//! PostgreSQL, against the real mock upstream (`promptrefine mock-llm`):
//! the command runs every cell in its own process and says how it ended.

#[allow(dead_code)]
mod support;

use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, mock_upstream, promptrefine};

both_backends!(
    sync:
    experiment_run_wait_runs_every_cell_here_and_says_how_it_ended,
);

/// `experiment run --prompt demo-summarize` with `args` after it.
fn experiment_run(dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Run {
    let mut all = vec!["experiment", "run", "--prompt", "demo-summarize"];
    all.extend_from_slice(args);
    promptrefine(dir, &all, env)
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, Some(0), "{run:?}");
    run
}

fn experiment_run_wait_runs_every_cell_here_and_says_how_it_ended(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (mock, env) = mock_upstream(dir, db.url());
    ok(promptrefine(dir, &["migrate", "up"], &env));
    ok(promptrefine(dir, &["seed"], &env));
    let csv = dir.join("queries.csv");
    std::fs::write(
        &csv,
        "sentences,article,audience\n2,One,kids\n3,Two,adults\n1,Three,everyone\n",
    )
    .unwrap();
    ok(promptrefine(
        dir,
        &["dataset", "import", "queries", csv.to_str().unwrap()],
        &env,
    ));

    let run = ok(experiment_run(
        dir,
        &env,
        &[
            "--dataset",
            "queries",
            "--variant",
            ":1",
            "--variant",
            ":2",
            "--repeats",
            "2",
            "--wait",
        ],
    ));
    assert!(
        run.stdout.contains("12 cells (2 variants × 2 repeats)"),
        "{run:?}"
    );
    let last = run.stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains("succeeded: 12 succeeded, 0 failed, 0 cancelled, 0 pending of 12"),
        "{run:?}"
    );
    let id = last.split_whitespace().next().unwrap();
    let status = ok(promptrefine(dir, &["experiment", "status", id], &env));
    assert_eq!(status.stdout.trim(), last.trim());

    // Bad input is refused before anything runs, naming what is wrong.
    let bad = experiment_run(dir, &env, &["--dataset", "queries", "--variant", "v7"]);
    assert_ne!(bad.code, Some(0), "{bad:?}");
    assert!(bad.stderr.contains("--variant"), "{bad:?}");
    // `+PRESET` names a model preset; an unknown one is a clear error.
    let no_preset = experiment_run(dir, &env, &["--dataset", "queries", "--variant", ":1+nope"]);
    assert_ne!(no_preset.code, Some(0), "{no_preset:?}");
    assert!(
        no_preset.stderr.contains("variants[0].preset")
            && no_preset.stderr.contains("no model preset named \"nope\""),
        "{no_preset:?}"
    );
    let unknown = experiment_run(dir, &env, &["--dataset", "nope"]);
    assert_ne!(unknown.code, Some(0), "{unknown:?}");
    assert!(unknown.stderr.contains("--dataset"), "{unknown:?}");
    mock.stop();
}
