//! Plain HTTP checks of the dataset pages and "Add to dataset" on a run:
//! what each form saves, and that a broken input is refused naming its
//! field (or its line) before anything is saved.

use promptrefine_app::datasets::{CreateDataset, ListItems};
use promptrefine_core::DatasetId;
use serde_json::Value;

use crate::bounded;
use crate::pages::{client, sign_in};
use crate::support::{Server, spawn};

/// The session's CSRF token, as a page's forms carry it.
pub(crate) fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// Form controls a person cannot name: no `<label for>` and not inside a label.
pub(crate) fn unlabelled(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for tag in ["<input", "<select", "<textarea"] {
        for (i, _) in html.match_indices(tag) {
            let end = html[i..].find('>').unwrap() + i;
            let el = &html[i..=end];
            if el.contains("type=\"hidden\"") {
                continue;
            }
            let labelled = match el.split("id=\"").nth(1) {
                Some(rest) => {
                    let id = &rest[..rest.find('"').unwrap()];
                    html.contains(&format!("for=\"{id}\""))
                }
                None => false,
            };
            if !labelled {
                missing.push(el.to_string());
            }
        }
    }
    missing
}

pub(crate) async fn page(c: &reqwest::Client, server: &Server, path: &str) -> String {
    let res = c.get(server.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

pub(crate) async fn post(
    c: &reqwest::Client,
    server: &Server,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    c.post(server.url(path))
        .header("origin", &server.addr)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn new_dataset(server: &Server, name: &str) -> DatasetId {
    server
        .app
        .create_dataset(CreateDataset {
            name: name.into(),
            description: None,
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_csv_with_a_bad_row_is_refused_by_line_before_anything_is_saved() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let csrf = csrf_of(&page(&c, &server, "/app/datasets").await);
        let res = post(
            &c,
            &server,
            "/app/datasets",
            &[("csrf", &csrf), ("name", "")],
        )
        .await;
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains("id=\"ds-name-err\""));
        let res = post(
            &c,
            &server,
            "/app/datasets",
            &[("csrf", &csrf), ("name", "Golden")],
        )
        .await;
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.ends_with("?ok=dataset"), "{location}");
        let id = server.app.dataset_ref("golden").await.unwrap();
        let import = format!("/app/datasets/{id}/import");

        let bad = "city,expected\nParis,France\nRome\n";
        let res = post(
            &c,
            &server,
            &import,
            &[
                ("csrf", &csrf),
                ("format", "csv"),
                ("content", bad),
                ("step", "preview"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("id=\"import-errors\"") && html.contains("Line 3"),
            "the error names the row"
        );
        assert!(html.contains("Rome"), "the form keeps the file's text");
        assert!(
            !html.contains("id=\"import-btn\""),
            "no import without a clean preview"
        );
        // Importing the broken file directly is refused the same way.
        let res = post(
            &c,
            &server,
            &import,
            &[
                ("csrf", &csrf),
                ("format", "csv"),
                ("content", bad),
                ("step", "import"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        assert_eq!(
            server.app.get_dataset(id, None).await.unwrap().version,
            0,
            "nothing saved"
        );

        let good = "city,expected,metadata.src\nParis,France,a\nRome,Italy,b\n";
        let res = post(
            &c,
            &server,
            &import,
            &[
                ("csrf", &csrf),
                ("format", "csv"),
                ("content", good),
                ("step", "preview"),
            ],
        )
        .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Preview: 2 rows")
                && html.contains("expected answer")
                && html.contains("<code>metadata.src</code>")
        );
        assert_eq!(
            server.app.get_dataset(id, None).await.unwrap().version,
            0,
            "a preview saves nothing"
        );
        let res = post(
            &c,
            &server,
            &import,
            &[
                ("csrf", &csrf),
                ("format", "csv"),
                ("content", good),
                ("step", "import"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let ds = server.app.get_dataset(id, None).await.unwrap();
        assert_eq!((ds.version, ds.item_count), (1, 2));

        let html = page(&c, &server, &format!("/app/datasets/{id}")).await;
        assert!(
            html.contains("Paris") && html.contains("Italy") && html.contains("export?format=csv")
        );
        assert!(unlabelled(&html).is_empty(), "{:?}", unlabelled(&html));
        let old = page(&c, &server, &format!("/app/datasets/{id}?version=0")).await;
        assert!(
            old.contains("id=\"past-version\"")
                && old.contains("id=\"no-items\"")
                && !old.contains("Paris")
        );
        let list = page(&c, &server, "/app/datasets?q=gold").await;
        assert!(list.contains("Golden") && list.contains("data-testid=\"item-count\">2<"));
        assert!(unlabelled(&list).is_empty(), "{:?}", unlabelled(&list));
        let none = page(&c, &server, "/app/datasets?q=zzz").await;
        assert!(none.contains("No dataset matches"));
    })
    .await;
}

#[tokio::test]
async fn items_are_added_edited_and_deleted_in_place_and_bad_fields_are_named() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let id = new_dataset(&server, "Edits").await;
        let path = format!("/app/datasets/{id}");
        let csrf = csrf_of(&page(&c, &server, &path).await);
        let add = format!("{path}/items");
        let res = post(
            &c,
            &server,
            &add,
            &[
                ("csrf", &csrf),
                ("variables", "nonsense"),
                ("expected", ""),
                ("metadata", "[1]"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains("line 1 is not name=value") && html.contains("JSON object"));
        assert!(
            html.contains(">nonsense</textarea>"),
            "the form keeps the input"
        );
        let res = post(
            &c,
            &server,
            &add,
            &[
                ("csrf", &csrf),
                ("variables", "city=Paris"),
                ("expected", "France"),
                ("metadata", ""),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let (_, items) = server
            .app
            .list_items(id, ListItems::default())
            .await
            .unwrap();
        let item = items.items[0].id;
        let res = post(
            &c,
            &server,
            &format!("{path}/items/{item}/edit"),
            &[
                ("csrf", &csrf),
                ("variables", "city=Rome"),
                ("expected", "Italy"),
                ("metadata", "{\"k\":1}"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let now = server.app.get_item(id, item, None).await.unwrap();
        assert_eq!(now.variables["city"], "Rome");
        assert_eq!(now.expected, Some(Value::String("Italy".into())));
        assert_eq!(now.metadata["k"], 1);
        let res = post(
            &c,
            &server,
            &format!("{path}/items/{item}/edit"),
            &[
                ("csrf", &csrf),
                ("variables", "=x"),
                ("expected", ""),
                ("metadata", ""),
            ],
        )
        .await;
        assert_eq!(res.status(), 422, "a broken edit is refused");
        let res = post(
            &c,
            &server,
            &format!("{path}/items/{item}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status(), 303);
        let ds = server.app.get_dataset(id, None).await.unwrap();
        assert_eq!((ds.version, ds.item_count), (3, 0));
        let v2 = page(&c, &server, &format!("{path}?version=2")).await;
        assert!(
            v2.contains("Rome") && !v2.contains("Save item"),
            "an old version shows, read only"
        );
        let res = post(
            &c,
            &server,
            &format!("{path}/items/not-an-item/delete"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn a_run_is_added_to_a_dataset_with_its_output_as_the_expected_answer() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let prompt = server.prompt("Kept", "Hello {{name}}", "mock-echo").await;
        let run = server.run(&prompt, "name", "Ada").await;
        let ds = new_dataset(&server, "From runs").await;
        let run_path = format!("/app/runs/{}", run.id);
        let html = page(&c, &server, &run_path).await;
        assert!(html.contains("id=\"to-dataset\"") && html.contains("From runs"));
        assert!(unlabelled(&html).is_empty(), "{:?}", unlabelled(&html));
        let csrf = csrf_of(&html);
        let to = format!("{run_path}/to-dataset");
        let res = post(&c, &server, &to, &[("csrf", &csrf), ("dataset", "")]).await;
        assert_eq!(res.status(), 422);
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Dataset: choose a dataset")
        );
        let ds_text = ds.to_string();
        let res = post(
            &c,
            &server,
            &to,
            &[
                ("csrf", &csrf),
                ("dataset", &ds_text),
                ("keep_output", "on"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            format!("/app/datasets/{ds}?ok=from_run").as_str()
        );
        let (_, items) = server
            .app
            .list_items(ds, ListItems::default())
            .await
            .unwrap();
        assert_eq!(items.items.len(), 1);
        assert_eq!(items.items[0].variables["name"], "Ada");
        assert_eq!(
            items.items[0].expected,
            Some(Value::String(run.output.clone()))
        );
    })
    .await;
}
