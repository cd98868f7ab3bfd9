//! Issue 16 in a real browser: a CSV with a bad row, fixed and imported; an
//! experiment of two variants launched from the prompt page, watched to
//! its end over SSE, compared with a verdict and a chart; a budget pause
//! and a resume with more; "Add to dataset" from a run. Each page is saved
//! as a screenshot, and the console must stay free of errors.

use std::collections::BTreeMap;
use std::time::Duration;

use promptrefine_app::datasets::CreateDataset;
use promptrefine_app::experiments::CreateExperiment;
use promptrefine_app::prompts::SaveVersion;
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::{Content, ModelSettings, PromptId};
use promptrefine_testkit::mock_openai::Behavior;

use crate::bounded;
use crate::support::{Browser, Server, browser, spawn};

/// gpt-4o-mini has a list price (a budget needs one); the mock answers it.
const MODEL: &str = "gpt-4o-mini";

/// A prompt whose v1 echoes the city and whose v2 adds "apple": with the
/// mock's echo and a `contains apple` evaluator, v2 is better on every item.
async fn two_versions(server: &Server) -> (String, String, String) {
    let prompt = server.prompt("Cities", "{{city}}", MODEL).await;
    let id: PromptId = prompt.parse().unwrap();
    let v2 = server
        .app
        .save_version(
            id,
            SaveVersion {
                content: Content::Text("{{city}} apple".into()),
                settings: ModelSettings {
                    model: Some(MODEL.into()),
                    ..ModelSettings::default()
                },
                note: None,
            },
            None,
        )
        .await
        .unwrap();
    let v1 = server
        .app
        .list_versions(id, None, Some(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|v| v.version == 1)
        .unwrap();
    (prompt, v1.id.to_string(), v2.id.to_string())
}

/// The console's errors are only the refused form post just made.
async fn only_the_refused_post(b: &Browser) {
    let errors = b.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("status of 422")),
        "{errors:#?}"
    );
}

async fn no_console_errors(b: &Browser, page: &str) {
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
}

/// Waits until the element's `data-status` is `status` (bounded).
async fn wait_status(b: &Browser, css: &str, status: &str, within: Duration) {
    let t = std::time::Instant::now();
    loop {
        if let Ok(e) = b.c.find(fantoccini::Locator::Css(css)).await
            && e.attr("data-status").await.ok().flatten().as_deref() == Some(status)
        {
            return;
        }
        assert!(
            t.elapsed() < within,
            "{css} never became {status}; page: {}",
            b.body().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CITIES: [&str; 12] = [
    "Paris", "Rome", "Oslo", "Lima", "Cairo", "Delhi", "Quito", "Hanoi", "Dakar", "Sofia", "Riga",
    "Bern",
];

#[tokio::test]
async fn a_csv_is_fixed_and_imported_then_two_variants_run_finish_and_compare_with_a_verdict() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        let (prompt, v1, v2) = two_versions(&server).await;
        b.login(&server).await;

        // A dataset, and a file whose last row has a column too few.
        b.goto(&server.url("/app/datasets")).await;
        b.fill("#ds-name", "Capitals").await;
        b.click("#create-dataset").await;
        b.wait_text(".flash", "Dataset created").await;
        let path = b.path().await;
        let dataset = path
            .trim_start_matches("/app/datasets/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let mut good = String::from("city,expected\n");
        for c in CITIES {
            good.push_str(&format!("{c},{c} apple\n"));
        }
        let bad = format!("{good}Vaduz\n");
        b.paste("#import-content", &bad).await;
        b.click("#import-preview-btn").await;
        // The error names the row by its line (header + 12 cities: line 14;
        // the form sends CRLF line ends).
        b.wait_text(
            "#import-errors",
            "Line 14, row: the row has 1 fields; the header has 2",
        )
        .await;
        only_the_refused_post(&b).await;
        b.screenshot("issue16_import_error").await;
        b.paste("#import-content", &good).await;
        b.click("#import-preview-btn").await;
        b.wait_text("#import-preview", "12 rows").await;
        b.click("#import-btn").await;
        b.wait_text(".flash", "imported").await;
        no_console_errors(&b, "the dataset page").await;

        // Launch from the prompt page: a bad number first, named by its field.
        b.goto(&server.url(&format!("/app/prompts/{prompt}"))).await;
        b.click("#new-experiment").await;
        b.wait("#launch").await;
        b.select("#dataset", &dataset).await;
        b.select("#v0_ref", &format!("v:{v1}")).await;
        b.select("#v1_ref", &format!("v:{v2}")).await;
        b.click("#ev_contains").await;
        b.fill("#ev_contains_values", "apple").await;
        b.fill("#repeats", "two").await;
        b.click("#estimate-btn").await;
        b.wait_text("#repeats-err", "repeats must be a number")
            .await;
        only_the_refused_post(&b).await;
        b.fill("#repeats", "1").await;
        b.click("#estimate-btn").await;
        b.wait_text("[data-testid=est-cells]", "24").await;
        assert!(b.text("[data-testid=est-worst]").await.starts_with('$'));
        b.screenshot("issue16_launch_estimate").await;
        no_console_errors(&b, "the launch form").await;
        b.click("#start-btn").await;
        b.wait_text(".flash", "Experiment started").await;
        assert!(b.path().await.starts_with("/app/experiments/"));

        // The page follows the experiment to its end, then shows the summary.
        wait_status(&b, "#exp-status", "succeeded", Duration::from_secs(60)).await;
        b.wait_text("#exp-counts", "24 of 24 cells ended").await;
        b.wait("#summary-table").await;
        let rows = b
            .js("return document.querySelectorAll('#results-table tbody tr').length")
            .await;
        assert_eq!(rows, 12, "one row per item");
        let chips = b
            .js("return document.querySelectorAll('#results-table .chip-pass').length")
            .await;
        assert_eq!(chips, 12, "variant 2 passes every item");
        b.screenshot("issue16_experiment_done").await;
        no_console_errors(&b, "the experiment page").await;

        // Only failed items: variant 1 fails every one.
        b.select("#show", "failed").await;
        b.click("#apply-filter").await;
        b.wait_text("#results", "fail").await;
        let failed = b
            .js("return document.querySelectorAll('#results-table .chip-fail').length")
            .await;
        assert_eq!(failed, 12);

        // One cell in detail.
        b.click("#results-table .cell-link").await;
        b.wait("#cell-output").await;
        assert!(b.text("#cell-scores").await.contains("contains"));
        b.screenshot("issue16_cell").await;
        b.c.back().await.unwrap();

        // The comparison: a verdict, and the chart with both means.
        b.click("#compare-btn").await;
        b.wait_text("#verdict", "better").await;
        let marks = b
            .js("return document.querySelectorAll('#means-chart circle, #means-chart rect').length")
            .await;
        assert_eq!(marks, 2, "one mark per side");
        assert!(b.text("#item-diffs").await.contains("apple"));
        b.screenshot("issue16_compare").await;
        no_console_errors(&b, "the comparison").await;

        // The prompt page links to it with its verdict.
        b.goto(&server.url(&format!("/app/prompts/{prompt}"))).await;
        b.wait_text("#latest-verdict", "better").await;
        b.click("#all-experiments").await;
        b.wait("#experiment-list").await;
        b.screenshot("issue16_experiment_list").await;
        no_console_errors(&b, "the experiment list").await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_budget_pause_shows_live_and_resume_with_a_higher_budget_finishes_it() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        // Every call uses its whole max_tokens, so spend is near the worst case.
        server._mock.set_default(Behavior::Delay(
            Duration::from_millis(150),
            Box::new(Behavior::Reply {
                text: "ok".into(),
                prompt_tokens: None,
                completion_tokens: Some(1000),
            }),
        ));
        let prompt = server.prompt("Budgeted", "{{city}}", MODEL).await;
        let dataset = server
            .app
            .create_dataset(CreateDataset {
                name: "Ten".into(),
                description: None,
            })
            .await
            .unwrap()
            .id;
        let items = (0..10)
            .map(|i| ItemContent {
                variables: BTreeMap::from([("city".to_string(), format!("city {i}"))]),
                expected: None,
                metadata: Default::default(),
            })
            .collect();
        server.app.add_items(dataset, items).await.unwrap();
        let worst = server
            .app
            .estimate_experiment(CreateExperiment {
                prompt_id: prompt.parse().unwrap(),
                dataset_id: dataset,
                variants: vec![promptrefine_app::experiments::VariantSpec {
                    params: Some(ModelSettings {
                        max_tokens: Some(1000),
                        ..ModelSettings::default()
                    }),
                    ..Default::default()
                }],
                ..CreateExperiment::default()
            })
            .await
            .unwrap()
            .max_cost_micro_usd
            .unwrap();

        b.login(&server).await;
        b.goto(&server.url(&format!(
            "/app/prompts/{prompt}/experiments/new?dataset={dataset}"
        )))
        .await;
        b.fill("#v0_max_tokens", "1000").await;
        b.fill("#concurrency", "2").await;
        b.fill("#budget", &format!("{}", worst as f64 / 2.0 / 1e6))
            .await;
        b.click("#start-btn").await;
        b.wait_text(".flash", "Experiment started").await;
        // Paused by the budget while the page is open: the events say so.
        b.wait_text("#exp-paused", "budget").await;
        wait_status(&b, "#exp-status", "paused", Duration::from_secs(30)).await;
        b.screenshot("issue16_budget_paused").await;
        no_console_errors(&b, "the paused experiment").await;

        // A budget that is not a number is named; a higher one finishes it.
        b.fill("#resume-budget", "lots").await;
        b.click("#resume-btn").await;
        b.wait_text("#resume-budget-err", "must be a number").await;
        only_the_refused_post(&b).await;
        b.fill("#resume-budget", &format!("{}", worst as f64 * 2.0 / 1e6))
            .await;
        b.click("#resume-btn").await;
        b.wait_text(".flash", "resumed").await;
        wait_status(&b, "#exp-status", "succeeded", Duration::from_secs(60)).await;
        b.wait_text("#exp-counts", "10 of 10 cells ended").await;
        b.screenshot("issue16_budget_resumed").await;
        no_console_errors(&b, "the resumed experiment").await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_run_is_added_to_a_dataset_from_its_page() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        let prompt = server.prompt("Echo", "Say {{word}}", "mock-echo").await;
        let run = server.run(&prompt, "word", "hello").await;
        let dataset = server
            .app
            .create_dataset(CreateDataset {
                name: "From runs".into(),
                description: None,
            })
            .await
            .unwrap()
            .id;
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/runs/{}", run.id))).await;
        b.select("#to-dataset-id", &dataset.to_string()).await;
        b.click("#to-dataset-btn").await;
        b.wait_text(".flash", "added to this dataset").await;
        assert!(b.body().await.contains("hello"), "the item is listed");
        b.screenshot("issue16_run_to_dataset").await;
        no_console_errors(&b, "the dataset page after Add to dataset").await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_live_view_reconnects_across_a_server_restart_and_follows_the_experiment_to_its_end() {
    bounded(async {
        let mut server = spawn(true).await;
        let Some(b) = browser().await else { return };
        // Signed in before the experiment starts, so that none of its time
        // goes to the sign-in (argon2 is slow in a debug build).
        b.login(&server).await;
        // Slow enough that the restart happens mid-way: 10 cells one at a time.
        // (A `mock-` model name would pick its own behaviour over the default.)
        server._mock.set_default(Behavior::Delay(
            Duration::from_millis(1000),
            Box::new(Behavior::Reply {
                text: "ok".into(),
                prompt_tokens: None,
                completion_tokens: None,
            }),
        ));
        let prompt = server
            .prompt("Restarted", "{{city}}", "delayed-by-default")
            .await;
        let dataset = server
            .app
            .create_dataset(CreateDataset {
                name: "Cities".into(),
                description: None,
            })
            .await
            .unwrap()
            .id;
        let items = CITIES[..10]
            .iter()
            .map(|c| ItemContent {
                variables: BTreeMap::from([("city".to_string(), c.to_string())]),
                expected: None,
                metadata: Default::default(),
            })
            .collect();
        server.app.add_items(dataset, items).await.unwrap();
        let e = server
            .app
            .create_experiment(CreateExperiment {
                prompt_id: prompt.parse().unwrap(),
                dataset_id: dataset,
                concurrency: Some(1),
                ..CreateExperiment::default()
            })
            .await
            .unwrap();

        b.goto(&server.url(&format!("/app/experiments/{}", e.id)))
            .await;
        wait_status(&b, "#exp-status", "running", Duration::from_secs(30)).await;
        b.wait_text("#exp-counts", "1 of 10").await;
        // A new server (a new process's App and store) on the same address
        // and database, while the page stays open. The page reloads itself
        // only on the `done` event, so reaching "succeeded" means its event
        // stream was opened again on the new server.
        server.restart().await;
        wait_status(&b, "#exp-status", "succeeded", Duration::from_secs(60)).await;
        b.wait_text("#exp-counts", "10 of 10 cells ended").await;
        b.screenshot("issue16_after_restart").await;
        let done = server.app.get_experiment(e.id).await.unwrap();
        assert_eq!(
            done.progress.succeeded, 10,
            "every cell once: {:?}",
            done.progress
        );
        b.close().await;
    })
    .await;
}
