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

    let run = ok(promptrefine(
        dir,
        &[
            "experiment",
            "run",
            "--prompt",
            "demo-summarize",
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
        &env,
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
    let bad = promptrefine(
        dir,
        &[
            "experiment",
            "run",
            "--prompt",
            "demo-summarize",
            "--dataset",
            "queries",
            "--variant",
            "v7",
        ],
        &env,
    );
    assert_ne!(bad.code, Some(0), "{bad:?}");
    assert!(bad.stderr.contains("--variant"), "{bad:?}");
    // `+PRESET` names a model preset; an unknown one is a clear error.
    let no_preset = promptrefine(
        dir,
        &[
            "experiment",
            "run",
            "--prompt",
            "demo-summarize",
            "--dataset",
            "queries",
            "--variant",
            ":1+nope",
        ],
        &env,
    );
    assert_ne!(no_preset.code, Some(0), "{no_preset:?}");
    assert!(
        no_preset.stderr.contains("variants[0].preset")
            && no_preset.stderr.contains("no model preset named \"nope\""),
        "{no_preset:?}"
    );
    let unknown = promptrefine(
        dir,
        &[
            "experiment",
            "run",
            "--prompt",
            "demo-summarize",
            "--dataset",
            "nope",
        ],
        &env,
    );
    assert_ne!(unknown.code, Some(0), "{unknown:?}");
    assert!(unknown.stderr.contains("--dataset"), "{unknown:?}");
    mock.stop();
}
