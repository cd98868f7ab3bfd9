//! `dataset import`, `dataset export` and `dataset list` against the
//! configured database, on SQLite and PostgreSQL: an import creates the
//! dataset once and adds one version, a bad file writes nothing (not even
//! the dataset), and an export reads back as the same file.

#[allow(dead_code)]
mod support;

use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, base_env, promptrefine};

both_backends!(
    sync:
    import_creates_the_dataset_and_export_writes_the_same_file,
    a_bad_file_names_its_line_and_writes_nothing,
);

fn ok(run: Run) -> Run {
    assert_eq!(run.code, Some(0), "{run:?}");
    run
}

fn import_creates_the_dataset_and_export_writes_the_same_file(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    ok(promptrefine(work.path(), &["migrate", "up"], &env));
    let mut csv = String::from("question,expected,metadata.level\n");
    for i in 0..250 {
        csv.push_str(&format!("What is {i} + {i}?,{},easy\n", i + i));
    }
    std::fs::write(work.path().join("math.csv"), &csv).unwrap();
    let first = ok(promptrefine(
        work.path(),
        &["dataset", "import", "Math", "math.csv"],
        &env,
    ));
    assert!(first.stdout.contains("imported 250 items"), "{first:?}");
    assert!(
        first.stdout.contains("a new dataset") && first.stdout.contains("version 1"),
        "{first:?}"
    );
    let again = ok(promptrefine(
        work.path(),
        &["dataset", "import", "Math", "math.csv"],
        &env,
    ));
    assert!(
        !again.stdout.contains("a new dataset") && again.stdout.contains("500 items"),
        "{again:?}"
    );

    let listed = ok(promptrefine(work.path(), &["dataset", "list"], &env));
    assert!(
        listed.stdout.contains("math\tMath\t500 items\tversion 2"),
        "{listed:?}"
    );
    ok(promptrefine(
        work.path(),
        &[
            "dataset",
            "export",
            "Math",
            "--out",
            "v1.csv",
            "--version",
            "1",
        ],
        &env,
    ));
    assert_eq!(
        std::fs::read_to_string(work.path().join("v1.csv")).unwrap(),
        csv
    );
    ok(promptrefine(
        work.path(),
        &["dataset", "export", "Math", "--out", "all.jsonl"],
        &env,
    ));
    let jsonl = std::fs::read_to_string(work.path().join("all.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 500);
    let line: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({ "variables": { "question": "What is 0 + 0?" }, "expected": "0", "metadata": { "level": "easy" } })
    );
    let exists = promptrefine(
        work.path(),
        &["dataset", "export", "Math", "--out", "all.jsonl"],
        &env,
    );
    assert_eq!(exists.code, Some(1), "{exists:?}");
    let missing = promptrefine(
        work.path(),
        &["dataset", "export", "Nope", "--out", "x.csv"],
        &env,
    );
    assert!(
        missing.code == Some(1) && missing.stderr.contains("no dataset named"),
        "{missing:?}"
    );
}

fn a_bad_file_names_its_line_and_writes_nothing(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    ok(promptrefine(work.path(), &["migrate", "up"], &env));
    std::fs::write(
        work.path().join("bad.ndjson"),
        "{\"variables\":{\"a\":\"1\"}}\n{\"variables\":{\"a\":2}}\n",
    )
    .unwrap();
    let run = promptrefine(
        work.path(),
        &["dataset", "import", "Fresh", "bad.ndjson"],
        &env,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("must be a string"),
        "{run:?}"
    );
    let listed = ok(promptrefine(work.path(), &["dataset", "list"], &env));
    assert!(
        listed.stdout.contains("no datasets"),
        "the dataset the import created is gone too: {listed:?}"
    );
    std::fs::write(work.path().join("items.txt"), "q\n1\n").unwrap();
    let run = promptrefine(
        work.path(),
        &["dataset", "import", "Fresh", "items.txt"],
        &env,
    );
    assert!(
        run.code == Some(1) && run.stderr.contains("unknown format"),
        "{run:?}"
    );
    let run = ok(promptrefine(
        work.path(),
        &["dataset", "import", "Fresh", "items.txt", "--format", "csv"],
        &env,
    ));
    assert!(run.stdout.contains("imported 1 items"), "{run:?}");
}
