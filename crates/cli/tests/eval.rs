//! `promptrefine eval`, the CI gate, on SQLite and PostgreSQL against the
//! real mock upstream: a regression exits 1 and its JUnit file (read by
//! Python's XML parser, as a CI system would) names the evaluator and the
//! items; an improvement exits 0; anything that stops the gate exits 2.

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;

use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, Server, http, mock_upstream, promptrefine};

both_backends!(
    sync:
    eval_exits_1_on_a_regression_0_on_an_improvement_and_2_on_errors,
    eval_asks_a_server_with_an_api_token,
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

/// Prompt `greet` (version 1 says Hello, version 2 says Hi), dataset
/// `people` of 12 names, and an evaluators file asking for "Hello".
fn greet_people(dir: &Path, env: &[(String, String)]) -> std::path::PathBuf {
    ok(promptrefine(dir, &["migrate", "up"], env));
    let prompts = dir.join("prompts");
    std::fs::create_dir(&prompts).unwrap();
    let file = prompts.join("greet.prompt.toml");
    let body = |greeting: &str| {
        format!(
            "title = \"Greet\"\ntype = \"text\"\nbody = \"{greeting} {{{{name}}}}\"\n\n[settings]\nmodel = \"mock-echo\"\n"
        )
    };
    std::fs::write(&file, body("Hello")).unwrap();
    ok(promptrefine(dir, &["prompts", "push", "prompts"], env));
    std::fs::write(&file, body("Hi")).unwrap();
    ok(promptrefine(dir, &["prompts", "push", "prompts"], env));
    let csv = dir.join("people.csv");
    let rows: String = (0..12).map(|i| format!("person{i}\n")).collect();
    std::fs::write(&csv, format!("name\n{rows}")).unwrap();
    ok(promptrefine(
        dir,
        &["dataset", "import", "people", csv.to_str().unwrap()],
        env,
    ));
    let evaluators = dir.join("evaluators.toml");
    std::fs::write(
        &evaluators,
        "[[evaluators]]\nname = \"hello\"\ntype = \"contains\"\nvalues = [\"Hello\"]\n",
    )
    .unwrap();
    evaluators
}

fn eval_exits_1_on_a_regression_0_on_an_improvement_and_2_on_errors(db: TestDb) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (_mock, env) = mock_upstream(dir, db.url());
    let evaluators = greet_people(dir, &env);
    let (junit, json) = (dir.join("eval.xml"), dir.join("eval.json"));
    let gate_with = |baseline: &str, candidate: &str, evaluators: &Path, extra: &[&str]| {
        let mut args = vec![
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
        ];
        args.extend_from_slice(extra);
        promptrefine(dir, &args, &env)
    };
    let gate = |baseline: &str, candidate: &str, evaluators: &Path| {
        gate_with(baseline, candidate, evaluators, &[])
    };
    let report = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
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
    let first = report();
    assert_eq!(first["regressed"], true);
    assert_eq!(first["comparison"]["evaluators"][0]["verdict"], "worse");
    assert_eq!(first["baselineReused"], false, "nothing to reuse yet");
    assert!(
        worse.stderr.contains(": 24 cells"),
        "both variants ran: {worse:?}"
    );
    let first_experiment = first["experimentId"].as_str().unwrap().to_string();

    // Version 2 already ran (the candidate above) with these evaluators on
    // this dataset version: only version 1 runs now.
    let better = gate("2", "1", &evaluators);
    assert_eq!(better.code, Some(0), "an improvement passes: {better:?}");
    assert!(better.stdout.contains("better"), "{better:?}");
    assert!(
        better.stderr.contains(&format!(
            "baseline: reusing variant 1 of experiment {first_experiment}"
        )) && better.stderr.contains(": 12 cells"),
        "{better:?}"
    );
    let second = report();
    assert_eq!(second["baselineReused"], true);
    assert_eq!(
        second["baseline"]["experimentId"],
        first_experiment.as_str()
    );
    assert_eq!(second["baseline"]["variant"], 1);
    assert_eq!(second["candidate"]["variant"], 0);
    assert_ne!(second["experimentId"], first_experiment.as_str());
    // `--fresh` runs the baseline again; so do other evaluators.
    let fresh = gate_with("2", "1", &evaluators, &["--fresh"]);
    assert_eq!(fresh.code, Some(0), "{fresh:?}");
    assert!(
        !fresh.stderr.contains("reusing") && fresh.stderr.contains(": 24 cells"),
        "{fresh:?}"
    );
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        "[[evaluators]]\nname = \"hello\"\ntype = \"contains\"\nvalues = [\"hello\"]\nignoreCase = true\n",
    )
    .unwrap();
    let changed = gate("2", "1", &other);
    assert_eq!(changed.code, Some(0), "{changed:?}");
    assert!(!changed.stderr.contains("reusing"), "{changed:?}");
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

/// `eval --url`: the server's engine runs the cells, the gate only asks
/// over the API with the token from `PROMPTREFINE_TOKEN` (and without one,
/// or with a wrong one, it stops with 2). The token is never logged.
fn eval_asks_a_server_with_an_api_token(db: TestDb) {
    const EMAIL: &str = "admin@example.com";
    const PASSWORD: &str = "correct horse battery staple";
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (_mock, mut env) = mock_upstream(dir, db.url());
    let evaluators = greet_people(dir, &env);
    env.push(("AUTH_ADMIN_EMAIL".into(), EMAIL.into()));
    env.push(("AUTH_ADMIN_PASSWORD".into(), PASSWORD.into()));
    let server = Server::start(dir, &[], &env);
    let origin = format!("http://127.0.0.1:{}", server.port);
    let signed_in = http(
        server.port,
        "POST",
        "/api/auth/login",
        &[("content-type", "application/json")],
        Some(&format!(r#"{{"email":"{EMAIL}","password":"{PASSWORD}"}}"#)),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let cookie = signed_in.header("set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap();
    let created = http(
        server.port,
        "POST",
        "/api/tokens",
        &[
            ("content-type", "application/json"),
            ("cookie", cookie),
            ("origin", &origin),
        ],
        Some(r#"{"name":"ci"}"#),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let created: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let token = created["data"]["token"].as_str().unwrap().to_string();

    // Only the token: no database settings, so nothing is opened here.
    let with_token = |t: &str| vec![("PROMPTREFINE_TOKEN".to_string(), t.to_string())];
    let json = dir.join("remote.json");
    let gate = |baseline: &str, candidate: &str, env: &[(String, String)]| {
        promptrefine(
            dir,
            &[
                "eval",
                "--url",
                &origin,
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
                "--json",
                json.to_str().unwrap(),
            ],
            env,
        )
    };
    let worse = gate("1", "2", &with_token(&token));
    assert_eq!(worse.code, Some(1), "a regression: {worse:?}");
    assert!(
        worse.stdout.contains("WORSE") && worse.stdout.contains("12 items compared, 12 regressed"),
        "{worse:?}"
    );
    assert!(worse.stderr.contains("run by the server"), "{worse:?}");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let better = gate("2", "1", &with_token(&token));
    assert_eq!(better.code, Some(0), "an improvement passes: {better:?}");
    assert!(
        better.stderr.contains(&format!(
            "baseline: reusing variant 1 of experiment {}",
            first["experimentId"].as_str().unwrap()
        )),
        "the server found the finished baseline: {better:?}"
    );

    let missing = gate("1", "2", &[]);
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains("PROMPTREFINE_TOKEN"), "{missing:?}");
    let wrong = gate("1", "2", &with_token("pr_not_a_token"));
    assert_eq!(wrong.code, Some(2), "{wrong:?}");
    assert!(wrong.stderr.contains("401"), "{wrong:?}");
    let unknown = gate("9", "2", &with_token(&token));
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(
        unknown.stderr.contains("--baseline") && unknown.stderr.contains("404"),
        "{unknown:?}"
    );

    let (code, stdout, stderr) = server.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stdout.contains(&token) && !stderr.contains(&token),
        "the API token was logged"
    );
}
