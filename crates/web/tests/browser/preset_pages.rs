//! Model presets in the pages: the settings page (`/app/settings/presets…`)
//! adds, edits and deletes one in the browser with the app's 422 next to
//! the field it names; a run from the run panel with a preset reaches the
//! mock with the preset's model and params; an experiment launched from the
//! form with a preset variant stores it and runs its model. Over plain
//! HTTP: the forms' CSRF guard, labels, and hostile text rendered inert.

use std::collections::BTreeMap;
use std::time::Duration;

use promptrefine_app::datasets::CreateDataset;
use promptrefine_app::presets::NewPreset;
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::{ExperimentId, ExperimentStatus, ModelSettings};
use serde_json::{Value, json};

use crate::bounded;
use crate::dataset_pages::{csrf_of, page, post, unlabelled};
use crate::pages::{client, sign_in};
use crate::support::{Browser, Server, browser, spawn};

async fn no_console_errors(b: &Browser, page: &str) {
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
}

/// The console's errors are only the refused form post just made.
async fn only_the_refused_post(b: &Browser) {
    let errors = b.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("status of 422")),
        "{errors:#?}"
    );
}

async fn preset(server: &Server, name: &str, model: &str, params: ModelSettings) -> String {
    server
        .app
        .create_preset(NewPreset {
            name: name.into(),
            provider: Some("openai".into()),
            model: model.into(),
            params: Some(params),
        })
        .await
        .unwrap()
        .id
        .to_string()
}

fn cold() -> ModelSettings {
    ModelSettings {
        temperature: Some(0.3),
        max_tokens: Some(77),
        seed: Some(42),
        ..ModelSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_preset_page_adds_edits_and_deletes_a_preset_with_errors_next_to_their_fields() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url("/app/settings")).await;
        b.click("#manage-presets").await;
        b.wait("#new-preset").await;
        assert_eq!(b.path().await, "/app/settings/presets");
        assert!(b.text("#no-presets").await.contains("No preset yet"));
        no_console_errors(&b, "the presets page").await;

        // A temperature out of range: the app's 422 next to the parameters.
        b.fill("#ps-name", "cold-mini").await;
        b.select("#ps-provider", "openai").await;
        b.fill("#ps-model", "gpt-4o-mini").await;
        b.paste("#ps-params", r#"{"temperature": 9, "maxTokens": 64}"#)
            .await;
        b.click("#add-preset").await;
        b.wait_text("#ps-params-err", "temperature").await;
        assert_eq!(
            b.wait("#ps-params")
                .await
                .attr("aria-invalid")
                .await
                .unwrap()
                .as_deref(),
            Some("true")
        );
        assert_eq!(
            b.wait("#ps-name")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("cold-mini"),
            "the form keeps what was typed"
        );
        assert!(server.app.list_presets().await.unwrap().is_empty());
        b.js("document.querySelector('#ps-params-err').scrollIntoView({block: 'center'}); return null")
            .await;
        b.screenshot("preset_settings_refused").await;
        only_the_refused_post(&b).await;

        // Fixed: added, and listed with its provider, model and params.
        b.paste("#ps-params", r#"{"temperature": 0.2, "maxTokens": 64}"#)
            .await;
        b.click("#add-preset").await;
        b.wait_text(".flash", "Preset added").await;
        let row = b.text("tr[data-preset='cold-mini']").await;
        assert!(
            row.contains("openai")
                && row.contains("gpt-4o-mini")
                && row.contains("temperature 0.2")
                && row.contains("maxTokens 64"),
            "{row}"
        );
        let stored = server.app.get_preset("cold-mini").await.unwrap();
        assert_eq!(stored.provider.as_deref(), Some("openai"));
        assert_eq!(stored.params.max_tokens, Some(64));
        b.screenshot("preset_settings").await;

        // Edit: a name that is refused, named next to the name field.
        b.click("tr[data-preset='cold-mini'] .edit-preset").await;
        b.wait("#edit-preset").await;
        assert!(
            b.wait("#ps-params")
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
                .contains("\"maxTokens\": 64"),
            "the stored params are shown"
        );
        b.fill("#ps-name", "Not OK").await;
        b.click("#save-preset").await;
        b.wait_text("#ps-name-err", "a-z").await;
        only_the_refused_post(&b).await;
        b.js("document.querySelector('#ps-name-err').scrollIntoView({block: 'center'}); return null")
            .await;
        b.screenshot("preset_settings_edit_refused").await;
        // Then saved: the default provider, a seed instead of the rest.
        b.fill("#ps-name", "seeded").await;
        b.select("#ps-provider", "").await;
        b.paste("#ps-params", r#"{"seed": 7}"#).await;
        b.click("#save-preset").await;
        b.wait_text(".flash", "Preset saved").await;
        let row = b.text("tr[data-preset='seeded']").await;
        assert!(row.contains("default") && row.contains("seed 7"), "{row}");
        let saved = server.app.get_preset("seeded").await.unwrap();
        assert_eq!(saved.id, stored.id);
        assert_eq!(saved.provider, None);
        assert_eq!(
            saved.params,
            ModelSettings {
                seed: Some(7),
                ..ModelSettings::default()
            }
        );

        // Delete it, confirmed.
        b.click("tr[data-preset='seeded'] .edit-preset").await;
        b.click("#delete-preset").await;
        b.accept_dialog().await;
        b.wait_text(".flash", "Preset deleted").await;
        assert!(b.text("#no-presets").await.contains("No preset yet"));
        assert!(server.app.list_presets().await.unwrap().is_empty());
        no_console_errors(&b, "the preset pages").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_panel_run_with_a_preset_reaches_the_mock_with_the_presets_model_and_params() {
    bounded(async {
        let server = spawn(true).await;
        preset(&server, "cold", "gpt-4o-mini", cold()).await;
        let id = server
            .prompt("Echo", "Say {{word}} please", "mock-echo")
            .await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/prompts/{id}"))).await;
        // The presets come in their own group of the model select.
        b.wait("#run-presets option[data-preset='cold']").await;
        let label = b.text("#run-presets option[data-preset='cold']").await;
        assert!(label.contains("openai/gpt-4o-mini"), "{label}");
        b.select("#run-model", "@preset:cold").await;
        b.fill("#var-word", "plum").await;
        b.screenshot("preset_run_panel").await;
        b.click("#run-button").await;
        b.wait_text("#run-status", "succeeded").await;
        assert!(b.text("#run-output").await.contains("plum"));
        let sent = server._mock.chat_requests();
        let last = sent.last().expect("the run reached the mock");
        assert_eq!(last.body["model"], "gpt-4o-mini", "{}", last.body);
        assert_eq!(last.body["temperature"], json!(0.3));
        assert_eq!(last.body["max_tokens"], json!(77));
        assert_eq!(last.body["seed"], json!(42));
        b.wait_text("#run-rows", "openai/gpt-4o-mini").await;

        // A run's own override still wins over the preset's.
        b.click("#run-panel details summary").await;
        b.fill("#run-temperature", "0.9").await;
        b.click("#run-button").await;
        b.wait_text("#run-status", "succeeded").await;
        let sent = server._mock.chat_requests();
        let last = sent.last().unwrap();
        assert_eq!(last.body["model"], "gpt-4o-mini");
        assert_eq!(last.body["temperature"], json!(0.9));
        assert_eq!(last.body["max_tokens"], json!(77));

        // Back to the default: no preset sent, the version's model.
        b.select("#run-model", "").await;
        b.fill("#run-temperature", "").await;
        b.click("#run-button").await;
        b.wait_text("#run-status", "succeeded").await;
        let sent = server._mock.chat_requests();
        assert_eq!(sent.last().unwrap().body["model"], "mock-echo");
        no_console_errors(&b, "the prompt page").await;
        b.close().await;
    })
    .await;
}

async fn wait_final(server: &Server, id: ExperimentId) -> promptrefine_core::Experiment {
    let t = std::time::Instant::now();
    loop {
        let e = server.app.get_experiment(id).await.unwrap();
        if e.status.is_final() {
            return e;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", e.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_launched_with_a_preset_variant_stores_it_and_its_cells_use_the_presets_model()
 {
    bounded(async {
        let server = spawn(true).await;
        preset(&server, "exp-cold", "gpt-4o-mini", cold()).await;
        let prompt = server.prompt("Cities", "{{city}}", "mock-echo").await;
        let dataset = server
            .app
            .create_dataset(CreateDataset {
                name: "Three".into(),
                description: None,
            })
            .await
            .unwrap()
            .id;
        let items = ["Oslo", "Lima", "Rome"]
            .iter()
            .map(|c| ItemContent {
                variables: BTreeMap::from([("city".to_string(), c.to_string())]),
                expected: None,
                metadata: Default::default(),
            })
            .collect();
        server.app.add_items(dataset, items).await.unwrap();
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/prompts/{prompt}/experiments/new")))
            .await;
        b.wait("#launch").await;
        assert_eq!(
            b.wait("#v0_preset")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(""),
            "no preset by default"
        );
        b.select("#dataset", &dataset.to_string()).await;
        b.select("#v0_ref", "current").await;
        b.select("#v0_preset", "exp-cold").await;
        // The second variant: the same version without a preset.
        b.select("#v1_ref", "current").await;
        b.screenshot("preset_launch").await;
        b.click("#start-btn").await;
        b.wait_text(".flash", "Experiment started").await;
        let path = b.path().await;
        let id: ExperimentId = path
            .trim_start_matches("/app/experiments/")
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let e = wait_final(&server, id).await;
        assert_eq!(e.status, ExperimentStatus::Succeeded);
        let v = &e.variants;
        assert_eq!(v[0].preset.as_deref(), Some("exp-cold"));
        assert_eq!(
            (v[0].provider.as_str(), v[0].model.as_str()),
            ("openai", "gpt-4o-mini")
        );
        assert_eq!(v[0].params.temperature, Some(0.3));
        assert_eq!(v[1].preset, None);
        assert_eq!(v[1].model, "mock-echo");
        // The cells: three with the preset's model and params, three not.
        let sent = server._mock.chat_requests();
        let with: Vec<&Value> = sent
            .iter()
            .map(|r| &r.body)
            .filter(|b| b["model"] == "gpt-4o-mini")
            .collect();
        assert_eq!(with.len(), 3, "{sent:#?}");
        assert!(
            with.iter()
                .all(|b| b["temperature"] == json!(0.3) && b["max_tokens"] == json!(77)),
            "{with:#?}"
        );
        assert_eq!(
            sent.iter()
                .filter(|r| r.body["model"] == "mock-echo")
                .count(),
            3
        );
        no_console_errors(&b, "the launch and experiment pages").await;
        b.close().await;
    })
    .await;
}

/// HTML and script in what a preset may hold (its name is restricted, its
/// params are not), and in what a refused form echoes back.
const EVIL: &str = "<script>alert(1)</script> \"><img src=x onerror=alert(1)>";
const NEEDLES: [&str; 3] = ["<script>alert(1)", "<img src=x onerror", "\"><img"];

fn inert(html: &str, what: &str) {
    for needle in NEEDLES {
        assert!(!html.contains(needle), "{what} shows {needle:?} unescaped");
    }
}

#[tokio::test]
async fn settings_preset_forms_refuse_a_missing_or_wrong_csrf_token() {
    bounded(async {
        let server = spawn(true).await;
        let id = preset(&server, "guarded", "gpt-4o-mini", cold()).await;
        let c = client();
        sign_in(&server, &c).await;
        let csrf = csrf_of(&page(&c, &server, "/app/settings/presets").await);
        let add = [("name", "made"), ("model", "m")];
        let edit = [("name", "renamed"), ("model", "m")];
        let forms: [(String, &[(&str, &str)]); 3] = [
            ("/app/settings/presets".into(), &add),
            (format!("/app/settings/presets/{id}"), &edit),
            (format!("/app/settings/presets/{id}/delete"), &[]),
        ];
        for (path, fields) in &forms {
            for token in [None, Some("wrong")] {
                let mut body: Vec<(&str, &str)> = fields.to_vec();
                if let Some(t) = token {
                    body.push(("csrf", t));
                }
                let res = post(&c, &server, path, &body).await;
                assert_eq!(res.status(), 403, "{path} with {token:?}");
            }
            let mut body: Vec<(&str, &str)> = fields.to_vec();
            body.push(("csrf", &csrf));
            let res = c
                .post(server.url(path))
                .header("origin", "https://evil.example")
                .form(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{path} cross-site");
        }
        let names: Vec<String> = server
            .app
            .list_presets()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["guarded"], "nothing changed");
        // The launch form's post is guarded the same way.
        let prompt = server.prompt("Guarded", "{{x}}", "mock-echo").await;
        let res = post(
            &c,
            &server,
            &format!("/app/prompts/{prompt}/experiments"),
            &[("v0_ref", "current"), ("v0_preset", "guarded")],
        )
        .await;
        assert_eq!(res.status(), 403);
        // With the token, the same forms work.
        let mut body = add.to_vec();
        body.push(("csrf", &csrf));
        let res = post(&c, &server, "/app/settings/presets", &body).await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "/app/settings/presets?ok=preset_added"
        );
        let res = post(
            &c,
            &server,
            &format!("/app/settings/presets/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status(), 303);
        let left = server.app.list_presets().await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name, "made");
    })
    .await;
}

#[tokio::test]
async fn preset_pages_label_every_control_and_render_hostile_text_inert() {
    bounded(async {
        let server = spawn(true).await;
        let id = preset(
            &server,
            "hostile",
            "gpt-4o-mini",
            ModelSettings {
                stop: Some(vec![EVIL.into()]),
                ..ModelSettings::default()
            },
        )
        .await;
        let prompt = server.prompt("Hostile", "{{x}}", "mock-echo").await;
        let c = client();
        sign_in(&server, &c).await;
        for path in [
            "/app/settings".to_string(),
            "/app/settings/presets".to_string(),
            format!("/app/settings/presets/{id}"),
            format!("/app/prompts/{prompt}/experiments/new"),
        ] {
            let html = page(&c, &server, &path).await;
            assert_eq!(unlabelled(&html), Vec::<String>::new(), "{path}");
            inert(&html, &path);
        }
        let edit = page(&c, &server, &format!("/app/settings/presets/{id}")).await;
        assert!(
            edit.contains("&#60;script&#62;alert(1)"),
            "the params are shown, escaped"
        );
        let csrf = csrf_of(&edit);
        // What a refused form echoes back comes out inert too, and the
        // app's messages land next to their fields.
        let res = post(
            &c,
            &server,
            "/app/settings/presets",
            &[
                ("csrf", &csrf),
                ("name", EVIL),
                ("provider", EVIL),
                ("model", EVIL),
                (
                    "params",
                    &json!({ "stop": [EVIL], "temperature": 5 }).to_string(),
                ),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        inert(&html, "a refused add");
        for field in ["ps-name-err", "ps-provider-err", "ps-params-err"] {
            assert!(html.contains(&format!("id=\"{field}\"")), "{field}");
        }
        let res = post(
            &c,
            &server,
            &format!("/app/settings/presets/{id}"),
            &[
                ("csrf", &csrf),
                ("name", "hostile"),
                ("model", "gpt-4o-mini"),
                ("params", &format!("{{{EVIL}")),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        inert(&html, "a refused edit");
        let at = html.find("id=\"ps-params-err\"").expect("the JSON error");
        assert!(html[at..].contains("not JSON"), "{}", &html[at..at + 200]);
        // A preset that is gone since the launch form was drawn: named next
        // to the variant's preset select.
        let res = post(
            &c,
            &server,
            &format!("/app/prompts/{prompt}/experiments"),
            &[
                ("csrf", &csrf),
                ("dataset", &dataset(&server).await),
                ("v0_ref", "current"),
                ("v0_preset", EVIL),
                ("repeats", "1"),
                ("concurrency", "1"),
                ("action", "estimate"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        inert(&html, "a refused launch");
        let at = html
            .find("id=\"v0_preset-err\"")
            .expect("an error by the preset");
        assert!(
            html[at..].contains("no model preset"),
            "{}",
            &html[at..at + 300]
        );
    })
    .await;
}

async fn dataset(server: &Server) -> String {
    let id = server
        .app
        .create_dataset(CreateDataset {
            name: "One".into(),
            description: None,
        })
        .await
        .unwrap()
        .id;
    let item = ItemContent {
        variables: BTreeMap::from([("x".to_string(), "y".to_string())]),
        expected: None,
        metadata: Default::default(),
    };
    server.app.add_items(id, vec![item]).await.unwrap();
    id.to_string()
}
