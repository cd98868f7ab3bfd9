//! `promptrefine eval`, the CI gate, on SQLite and PostgreSQL against the
//! real mock upstream: a regression exits 1 and its JUnit file (read by
//! Python's XML parser, as a CI system would) names the evaluator and the
//! items; an improvement exits 0; anything that stops the gate exits 2.

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;

use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, mock_upstream, promptrefine};

both_backends!(
    sync:
    eval_exits_1_on_a_regression_0_on_an_improvement_and_2_on_errors,
);

fn ok(run: Run) -> Run {
    assert_eq!(run.code, Some(0), "{run:?}");
    run
}

/// `[testsuites failures, testcases with a failure]` of a JUnit file.
fn junit_failures(path: &Path) -> (u64, Vec<String>) {
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print(root.get("failures"))
for case in root.iter("testcase"):
    if case.find("failure") is not None:
        print(case.get("name"))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let failures = lines.next().unwrap().parse().unwrap();
    (failures, lines.map(str::to_string).collect())
}

fn eval_exits_1_on_a_regression_0_on_an_improvement_and_2_on_errors(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (_mock, env) = mock_upstream(dir, db.url());
    ok(promptrefine(dir, &["migrate", "up"], &env));
    // Version 1 says Hello, version 2 says Hi.
    let prompts = dir.join("prompts");
    std::fs::create_dir(&prompts).unwrap();
    let file = prompts.join("greet.prompt.toml");
    let body = |greeting: &str| {
        format!(
            "title = \"Greet\"\ntype = \"text\"\nbody = \"{greeting} {{{{name}}}}\"\n\n[settings]\nmodel = \"mock-echo\"\n"
        )
    };
    std::fs::write(&file, body("Hello")).unwrap();
    ok(promptrefine(dir, &["prompts", "push", "prompts"], &env));
    std::fs::write(&file, body("Hi")).unwrap();
    ok(promptrefine(dir, &["prompts", "push", "prompts"], &env));
    let csv = dir.join("people.csv");
    let rows: String = (0..12).map(|i| format!("person{i}\n")).collect();
    std::fs::write(&csv, format!("name\n{rows}")).unwrap();
    ok(promptrefine(
        dir,
        &["dataset", "import", "people", csv.to_str().unwrap()],
        &env,
    ));
    let evaluators = dir.join("evaluators.toml");
    std::fs::write(
        &evaluators,
        "[[evaluators]]\nname = \"hello\"\ntype = \"contains\"\nvalues = [\"Hello\"]\n",
    )
    .unwrap();
    let (junit, json) = (dir.join("eval.xml"), dir.join("eval.json"));
    let gate = |baseline: &str, candidate: &str, evaluators: &Path| {
        promptrefine(
            dir,
            &[
                "eval",
                "--prompt",
                "greet",
                "--baseline",
                baseline,
                "--candidate",
                candidate,
                "--dataset",
                "people",
                "--evaluators",
                evaluators.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
                "--json",
                json.to_str().unwrap(),
            ],
            &env,
        )
    };

    let worse = gate("1", "2", &evaluators);
    assert_eq!(worse.code, Some(1), "a regression: {worse:?}");
    assert!(worse.stdout.contains("WORSE"), "{worse:?}");
    assert!(
        worse.stdout.contains("12 items compared, 12 regressed"),
        "{worse:?}"
    );
    let (failures, cases) = junit_failures(&junit);
    assert_eq!(failures, 13, "the evaluator and 12 items: {cases:?}");
    assert!(cases.contains(&"evaluator hello".to_string()), "{cases:?}");
    assert_eq!(cases.iter().filter(|c| c.starts_with("item ")).count(), 12);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["regressed"], true);
    assert_eq!(report["comparison"]["evaluators"][0]["verdict"], "worse");

    let better = gate("2", "1", &evaluators);
    assert_eq!(better.code, Some(0), "an improvement passes: {better:?}");
    assert!(better.stdout.contains("better"), "{better:?}");
    let (failures, cases) = junit_failures(&junit);
    assert_eq!((failures, cases.len()), (0, 0), "{cases:?}");

    // Thresholds on the candidate: a version no worse than itself still
    // fails one it does not reach.
    let gated = dir.join("gated.toml");
    std::fs::write(
        &gated,
        "[[evaluators]]\nname = \"hello\"\ntype = \"contains\"\nvalues = [\"Hello\"]\n\n[thresholds]\nhello = 0.5\n",
    )
    .unwrap();
    let holds = gate("1", "1", &gated);
    assert_eq!(holds.code, Some(0), "{holds:?}");
    assert!(
        holds
            .stdout
            .contains("threshold hello: 1.000 ≥ 0.500 holds"),
        "{holds:?}"
    );
    let fails = gate("2", "2", &gated);
    assert_eq!(
        fails.code,
        Some(1),
        "no regression, but under the threshold: {fails:?}"
    );
    assert!(fails.stdout.contains("no difference"), "{fails:?}");
    let (failures, cases) = junit_failures(&junit);
    assert_eq!((failures, cases), (1, vec!["threshold hello".to_string()]));
    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        "[[evaluators]]\ntype = \"contains\"\nvalues = [\"Hello\"]\n\n[thresholds]\nhelo = 0.5\n",
    )
    .unwrap();
    let unknown = gate("1", "2", &typo);
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(unknown.stderr.contains("thresholds.helo"), "{unknown:?}");

    let missing = gate("9", "1", &evaluators);
    assert_eq!(missing.code, Some(2), "no version 9: {missing:?}");
    assert!(missing.stderr.contains("--baseline"), "{missing:?}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[evaluators]]\ntype = \"regex\"\npattern = \"(\"\n").unwrap();
    let refused = gate("1", "2", &bad);
    assert_eq!(refused.code, Some(2), "a bad evaluator: {refused:?}");
    assert!(
        refused.stderr.contains("evaluators[0].pattern"),
        "{refused:?}"
    );
}
