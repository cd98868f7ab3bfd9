//! Plain HTTP checks of the experiment pages: every control labelled, bad
//! input named by its field (never a 500), controls behind the session's
//! token, results filtered, sorted and keyset-paged in the server, the cell
//! view and the comparison.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use promptrefine_app::datasets::CreateDataset;
use promptrefine_app::experiments::{CreateExperiment, VariantSpec};
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::{DatasetId, ExperimentId, PromptId};
use serde_json::json;

use crate::bounded;
use crate::dataset_pages::{csrf_of, page, post, unlabelled};
use crate::pages::{client, sign_in};
use crate::support::{Server, spawn};

async fn dataset(server: &Server, items: usize) -> DatasetId {
    let id = server
        .app
        .create_dataset(CreateDataset {
            name: format!("Items {items}"),
            description: None,
        })
        .await
        .unwrap()
        .id;
    let items = (0..items)
        .map(|i| ItemContent {
            variables: BTreeMap::from([("word".to_string(), format!("w{i:02}"))]),
            expected: Some(json!(format!("Echo: w{i:02}"))),
            metadata: Default::default(),
        })
        .collect();
    server.app.add_items(id, items).await.unwrap();
    id
}

/// An experiment of two variants (the second asks for a different model
/// setting) over `items` items, run to its end through the app.
async fn finished(
    server: &Server,
    prompt: &str,
    ds: DatasetId,
    evaluators: serde_json::Value,
) -> ExperimentId {
    let variants = vec![VariantSpec::default(), VariantSpec::default()];
    finished_with(server, prompt, ds, variants, evaluators).await
}

/// `finished`, with these variants.
async fn finished_with(
    server: &Server,
    prompt: &str,
    ds: DatasetId,
    variants: Vec<VariantSpec>,
    evaluators: serde_json::Value,
) -> ExperimentId {
    let e = server
        .app
        .create_experiment(CreateExperiment {
            prompt_id: prompt.parse::<PromptId>().unwrap(),
            dataset_id: ds,
            variants,
            evaluators: Some(evaluators),
            ..CreateExperiment::default()
        })
        .await
        .unwrap();
    let t = Instant::now();
    while !server
        .app
        .get_experiment(e.id)
        .await
        .unwrap()
        .status
        .is_final()
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the experiment never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    e.id
}

#[tokio::test]
async fn the_launch_form_names_each_bad_field_and_labels_every_control() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let prompt = server.prompt("Words", "Say {{word}}", "mock-echo").await;
        let ds = dataset(&server, 3).await;
        let html = page(
            &c,
            &server,
            &format!("/app/prompts/{prompt}/experiments/new"),
        )
        .await;
        assert_eq!(unlabelled(&html), Vec::<String>::new());
        let csrf = csrf_of(&html);
        let ds = ds.to_string();
        let path = format!("/app/prompts/{prompt}/experiments");
        // (form, the field whose message must show)
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("dataset", "")], "dataset-err"),
            (
                vec![("dataset", &ds), ("concurrency", "0")],
                "concurrency-err",
            ),
            (vec![("dataset", &ds), ("budget", "cheap")], "budget-err"),
            (vec![("dataset", &ds), ("budget", "1")], "budget-err"),
            (
                vec![("dataset", &ds), ("v0_temperature", "hot")],
                "v0_temperature-err",
            ),
            (
                vec![
                    ("dataset", &ds),
                    ("ev_regex", "on"),
                    ("ev_regex_pattern", "("),
                ],
                "ev_regex_pattern-err",
            ),
            (
                vec![
                    ("dataset", &ds),
                    ("ev_contains", "on"),
                    ("ev_contains_values", ""),
                ],
                "ev_contains_values-err",
            ),
            (
                vec![
                    ("dataset", &ds),
                    ("ev_llm_judge", "on"),
                    ("ev_llm_judge_prompt_id", "nope"),
                ],
                "ev_llm_judge_prompt_id-err",
            ),
        ];
        for (fields, err) in cases {
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("v0_ref", "current"),
                ("action", "start"),
            ];
            form.extend(fields.iter().copied());
            let res = post(&c, &server, &path, &form).await;
            assert_eq!(res.status(), 422, "{fields:?}");
            let html = res.text().await.unwrap();
            assert!(
                html.contains(&format!("id=\"{err}\"")),
                "{fields:?} must name {err}"
            );
        }
        assert!(
            server
                .app
                .list_experiments(Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        // The estimate stores nothing; Start stores it and redirects to it.
        let ok = [
            ("csrf", csrf.as_str()),
            ("v0_ref", "current"),
            ("dataset", &ds),
            ("repeats", "2"),
        ];
        let mut est = ok.to_vec();
        est.push(("action", "estimate"));
        let res = post(&c, &server, &path, &est).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("data-testid=\"est-cells\">6<")
        );
        assert!(
            server
                .app
                .list_experiments(Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let mut start = ok.to_vec();
        start.push(("action", "start"));
        let res = post(&c, &server, &path, &start).await;
        assert_eq!(res.status(), 303);
        let to = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            to.starts_with("/app/experiments/") && to.ends_with("?ok=experiment"),
            "{to}"
        );
        let html = page(&c, &server, &to).await;
        assert_eq!(unlabelled(&html), Vec::<String>::new());
        assert!(
            html.contains("data-experiment-live="),
            "a running experiment is followed live"
        );
    })
    .await;
}

#[tokio::test]
async fn results_filter_sort_and_page_by_keyset_and_controls_need_the_token() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let prompt = server.prompt("Words", "{{word}}", "mock-echo").await;
        let ds = dataset(&server, 30).await;
        // w00…w09 contain "0": those pass, the 20 others fail.
        let id = finished(&server, &prompt, ds, json!([{ "type": "contains", "values": ["w0"] }])).await;
        let base = format!("/app/experiments/{id}");
        let html = page(&c, &server, &base).await;
        assert_eq!(unlabelled(&html), Vec::<String>::new());
        assert!(!html.contains("data-experiment-live="), "an ended one is not followed");
        assert!(html.contains("id=\"summary-table\""));
        assert_eq!(html.matches("<tr data-item=").count(), 25, "a page of 25 items");

        // Every item once over the pages, in order, by cursor.
        let mut seen = vec![];
        let mut next = Some(format!("/app/experiments/{id}/results?show=all&sort=item"));
        while let Some(url) = next.take() {
            assert!(seen.len() <= 30, "the pages repeat: {seen:?}");
            let html = page(&c, &server, &url).await;
            for part in html.split("<tr data-item=\"").skip(1) {
                seen.push(part[..part.find('"').unwrap()].parse::<i64>().unwrap());
            }
            next = html.split("id=\"next-results\"").next().and_then(|h| {
                let at = h.rfind("href=\"")? + 6;
                Some(h[at..at + h[at..].find('"')?].replace("&#38;", "&").replace("&amp;", "&").replace(&base, &format!("{base}/results")))
            }).filter(|_| html.contains("id=\"next-results\""));
        }
        assert_eq!(seen, (1..=30).collect::<Vec<_>>());

        // Failed ones only, sorted by score: the 20 that fail, over two pages.
        let html = page(&c, &server, &format!("{base}/results?show=failed&sort=score")).await;
        assert_eq!(html.matches("<tr data-item=").count(), 20);
        assert!(!html.contains("data-item=\"1\""), "w00 passes");
        let html = page(&c, &server, &format!("{base}/results?show=ev:contains&sort=cost")).await;
        assert_eq!(html.matches("<tr data-item=").count(), 20);
        let html = page(&c, &server, &format!("{base}/results?show=regressed")).await;
        assert_eq!(html.matches("<tr data-item=").count(), 0, "the same version twice");
        let html = page(&c, &server, &format!("{base}/results?show=all&cursor=garbage")).await;
        assert_eq!(html.matches("<tr data-item=").count(), 25, "a bad cursor is the first page");

        // A cell, its scores with reasons; a cell that is not there is a 404.
        let html = page(&c, &server, &format!("{base}/cells/1/0/0")).await;
        assert!(html.contains("id=\"cell-output\"") && html.contains("Echo: w00"));
        assert!(html.contains("id=\"cell-scores\""));
        let res = c.get(server.url(&format!("{base}/cells/99/0/0"))).send().await.unwrap();
        assert_eq!(res.status(), 404);

        // The comparison of the two variants: no difference, drawn.
        let html = page(&c, &server, &format!(
            "/app/experiments/compare?baseline={id}&baseline_variant=0&candidate={id}&candidate_variant=1"
        )).await;
        assert!(html.contains("data-verdict=\"no_difference\""), "same version, same outputs");
        assert!(html.contains("<svg id=\"means-chart\""));
        assert_eq!(html.matches("class=\"histogram").count(), 2);
        let res = c.get(server.url(&format!(
            "/app/experiments/compare?baseline={id}&baseline_variant=7&candidate={id}&candidate_variant=1"
        ))).send().await.unwrap();
        assert_eq!(res.status(), 400, "a variant it does not have is named, not a 500");

        // Controls: without the token nothing happens; with it, a conflict is named.
        let res = post(&c, &server, &format!("{base}/cancel"), &[("csrf", "wrong")]).await;
        assert_eq!(res.status(), 403);
        let csrf = csrf_of(&page(&c, &server, &base).await);
        let res = post(&c, &server, &format!("{base}/pause"), &[("csrf", &csrf)]).await;
        assert_eq!(res.status(), 409);
        assert!(res.text().await.unwrap().contains("cannot pause an experiment that is succeeded"));

        // Listed per prompt and per dataset, newest first.
        let list = page(&c, &server, &format!("/app/experiments?prompt={prompt}")).await;
        assert!(list.contains(&format!("data-experiment=\"{id}\"")));
        let list = page(&c, &server, &format!("/app/experiments?dataset={ds}")).await;
        assert!(list.contains(&format!("data-experiment=\"{id}\"")));
        let html = page(&c, &server, &format!("/app/prompts/{prompt}")).await;
        assert!(html.contains("id=\"latest-experiment\"") && html.contains("id=\"latest-verdict\""));
    })
    .await;
}

#[tokio::test]
async fn another_experiment_is_offered_for_comparison_and_a_rescore_moves_the_header_verdict() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let prompt = server.prompt("Words", "{{word}}", "mock-echo").await;
        let id: PromptId = prompt.parse().unwrap();
        let v1 = server
            .app
            .get_prompt(id)
            .await
            .unwrap()
            .current_version
            .unwrap()
            .id;
        let v2 = server
            .app
            .save_version(
                id,
                promptrefine_app::prompts::SaveVersion {
                    content: promptrefine_core::Content::Text("{{word}} apple".into()),
                    settings: promptrefine_core::ModelSettings {
                        model: Some("mock-echo".into()),
                        ..Default::default()
                    },
                    note: None,
                },
                None,
            )
            .await
            .unwrap()
            .id;
        let ds = dataset(&server, 12).await;
        let w0 = json!([{ "type": "contains", "values": ["w0"] }]);
        let first = finished(&server, &prompt, ds, w0.clone()).await;
        let both = vec![
            VariantSpec {
                version_id: Some(v1),
                ..VariantSpec::default()
            },
            VariantSpec {
                version_id: Some(v2),
                ..VariantSpec::default()
            },
        ];
        let second = finished_with(&server, &prompt, ds, both, w0).await;

        // The newer experiment offers every variant of the older one.
        let html = page(&c, &server, &format!("/app/experiments/{second}")).await;
        assert_eq!(unlabelled(&html), Vec::<String>::new());
        assert!(html.contains("id=\"compare-other-form\""));
        for v in 0..2 {
            assert!(
                html.contains(&format!("<option value=\"{first}:{v}\">")),
                "variant {v}"
            );
        }
        assert!(
            !html.contains(&format!("<option value=\"{second}:")),
            "not itself"
        );
        // What the form sends compares across the two experiments.
        let html = page(
            &c,
            &server,
            &format!(
                "/app/experiments/compare?baseline={first}:0&candidate={second}&candidate_variant=1"
            ),
        )
        .await;
        assert!(
            html.contains("data-verdict="),
            "a verdict across experiments"
        );
        assert!(
            html.contains(&format!("/app/experiments/{first}")),
            "names the baseline"
        );
        let res = c
            .get(server.url(&format!(
                "/app/experiments/compare?baseline={first}:x&candidate={second}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            404,
            "an address that names no variant, not a 500"
        );

        // The header's verdict (remembered per experiment revision): "w0"
        // does not tell v1 from v2; after a rescore on "apple", v2 is better.
        let verdict = |html: &str| {
            let at = html.find("id=\"latest-verdict\">").map(|i| i + 20);
            at.map(|i| html[i..i + html[i..].find('<').unwrap()].to_string())
        };
        let prompt_page = format!("/app/prompts/{prompt}");
        assert_eq!(
            verdict(&page(&c, &server, &prompt_page).await).as_deref(),
            Some("no_difference")
        );
        assert_eq!(
            verdict(&page(&c, &server, &prompt_page).await).as_deref(),
            Some("no_difference")
        );
        // The results pages read facts derived once the experiment ended;
        // a rescore makes them stale, so the same filter sees new scores.
        let failed = format!("/app/experiments/{second}/results?show=failed&sort=score");
        let rows = |html: String| html.matches("<tr data-item=").count();
        assert_eq!(rows(page(&c, &server, &failed).await), 2, "w10 and w11");
        server
            .app
            .rescore_experiment(
                second,
                &json!([{ "type": "contains", "values": ["apple"] }]),
            )
            .await
            .unwrap();
        assert_eq!(
            verdict(&page(&c, &server, &prompt_page).await).as_deref(),
            Some("better")
        );
        assert_eq!(
            rows(page(&c, &server, &failed).await),
            12,
            "v1 has no apple in any item"
        );
    })
    .await;
}
