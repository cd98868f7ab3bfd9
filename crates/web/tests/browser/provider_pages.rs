//! The provider settings pages (`/app/settings/providers…`): a provider
//! added, tested, edited and deleted in the browser against the mock, its
//! key never on a page; and over plain HTTP, the forms' CSRF guard, the
//! labels, and the origin rule's message next to the key field.

use promptrefine_app::providers::{NewProviderInput, ProviderSource};
use secrecy::SecretString;

use crate::bounded;
use crate::dataset_pages::{csrf_of, page, post, unlabelled};
use crate::pages::{client, sign_in};
use crate::support::{Server, browser, spawn};

/// Distinctive, so a search of any page for it cannot match by chance.
const KEY: &str = "sk-settings-page-7Qz4Vb9KeyNeverShown";
const HEADER_VALUE: &str = "hdr-value-3Jx8NeverShown";

async fn stored_count(server: &Server) -> usize {
    server
        .app
        .list_providers()
        .await
        .unwrap()
        .iter()
        .filter(|p| p.source == ProviderSource::Stored)
        .count()
}

async fn source(b: &crate::support::Browser) -> String {
    b.c.source().await.unwrap()
}

fn assert_no_secret(html: &str, when: &str) {
    assert!(!html.contains(KEY), "{when}: the key is in the page");
    assert!(
        !html.contains(HEADER_VALUE),
        "{when}: a header value is in the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_page_adds_tests_edits_and_deletes_a_provider_and_never_shows_its_key() {
    bounded(async {
        let server = spawn(true).await;
        // The mock lists these models only to a request with the key typed
        // in the form: a test that finds them proves the key was stored.
        server._mock.require_models_key(Some(KEY));
        server
            ._mock
            .set_models(vec!["settings-model-a".into(), "settings-model-b".into()]);
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url("/app/settings")).await;
        b.click("#manage-providers").await;
        b.wait("#new-provider").await;
        assert_eq!(b.path().await, "/app/settings/providers");

        // The environment's provider: listed, read-only.
        let env_row = b.text("tr[data-provider='openai']").await;
        assert!(
            env_row.contains("environment") && env_row.contains("key set"),
            "{env_row}"
        );
        let controls = b
            .js("return document.querySelectorAll(\"tr[data-provider='openai'] .edit-provider, tr[data-provider='openai'] [id^=delete]\").length")
            .await;
        assert_eq!(controls, 0, "no edit or delete for the environment's");
        no_console_errors(&b, "the providers page").await;

        // A metadata address is refused next to its field; nothing is stored.
        b.fill("#pv-name", "local-mock").await;
        b.fill("#pv-base-url", "http://169.254.169.254/v1").await;
        b.fill("#pv-api-key", KEY).await;
        b.fill("#pv-headers", &format!("X-Org: {HEADER_VALUE}"))
            .await;
        b.fill("#pv-models", "mock-echo").await;
        b.click("#add-provider").await;
        b.wait_text("#pv-base-url-err", "link-local").await;
        assert_eq!(
            b.wait("#pv-base-url")
                .await
                .attr("aria-invalid")
                .await
                .unwrap()
                .as_deref(),
            Some("true")
        );
        assert_no_secret(&source(&b).await, "a refused form");
        b.screenshot("provider_settings_refused").await;
        assert_eq!(
            b.wait("#pv-name").await.prop("value").await.unwrap().as_deref(),
            Some("local-mock"),
            "the form keeps what was typed, but the key"
        );
        assert_eq!(stored_count(&server).await, 0, "nothing is stored");
        let refused = b.console_errors().await;
        assert!(
            refused.iter().all(|e| e.contains("status of 422")),
            "only the refused post: {refused:#?}"
        );

        // Fixed, with the key and header typed again: added.
        b.fill("#pv-base-url", &server._mock.base_url()).await;
        b.fill("#pv-api-key", KEY).await;
        b.fill("#pv-headers", &format!("X-Org: {HEADER_VALUE}"))
            .await;
        b.click("#add-provider").await;
        b.wait_text(".flash", "Provider added").await;
        let row = b.text("tr[data-provider='local-mock']").await;
        assert!(
            row.contains("key set") && row.contains("X-Org") && row.contains("mock-echo"),
            "{row}"
        );
        assert_no_secret(&source(&b).await, "the list");
        assert_eq!(stored_count(&server).await, 1);

        // Test connection: the models the mock lists to this key.
        b.click("tr[data-provider='local-mock'] .test-provider")
            .await;
        b.wait_text("#test-result", "settings-model-b").await;
        assert!(b.text("#test-result").await.contains("connected"));
        let asked = server
            ._mock
            .requests()
            .into_iter()
            .rfind(|r| r.path == "/v1/models")
            .expect("the mock was asked for its models");
        assert_eq!(asked.header("x-org"), Some(HEADER_VALUE));
        assert_no_secret(&source(&b).await, "a connection test");
        b.screenshot("provider_settings").await;

        // A failing test shows the code a run would store.
        b.click("tr[data-provider='openai'] .test-provider").await;
        b.wait_text("#test-result", "failed").await;
        assert!(b.text("#test-code").await.contains("auth_failed"));

        // Edit its models; the empty key field keeps the key.
        b.click("tr[data-provider='local-mock'] .edit-provider")
            .await;
        b.wait("#edit-provider").await;
        assert_eq!(
            b.wait("#pv-api-key")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("")
        );
        assert!(b.text("[data-testid=header-names]").await.contains("X-Org"));
        assert_no_secret(&source(&b).await, "the edit page");
        b.screenshot("provider_settings_edit").await;
        b.paste("#pv-models", "mock-echo\nsettings-model-a").await;
        b.click("#save-provider").await;
        b.wait_text(".flash", "Provider saved").await;
        b.wait_text("tr[data-provider='local-mock']", "settings-model-a")
            .await;
        let stored = server.app.get_provider("local-mock").await.unwrap();
        assert_eq!(stored.models, ["mock-echo", "settings-model-a"]);
        assert!(stored.has_key && stored.header_names == ["X-Org"]);
        b.click("tr[data-provider='local-mock'] .test-provider")
            .await;
        b.wait_text("#test-result", "settings-model-a").await;
        assert!(b.text("#test-result").await.contains("connected"), "the key was kept");

        // Delete it, confirmed.
        b.click("tr[data-provider='local-mock'] .edit-provider")
            .await;
        b.click("#delete-provider").await;
        b.accept_dialog().await;
        b.wait_text(".flash", "Provider deleted").await;
        assert!(!b.text("#provider-list").await.contains("local-mock"));
        assert_eq!(stored_count(&server).await, 0);
        assert!(b.text("tr[data-provider='openai']").await.contains("environment"));

        no_console_errors(&b, "the provider pages").await;
        b.close().await;
    })
    .await;
}

async fn no_console_errors(b: &crate::support::Browser, page: &str) {
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
}

async fn stored(server: &Server, name: &str) -> String {
    server
        .app
        .create_provider(NewProviderInput {
            name: name.into(),
            base_url: server._mock.base_url(),
            api_key: Some(SecretString::from(KEY)),
            extra_headers: vec![("X-Org".into(), SecretString::from(HEADER_VALUE))],
            models: vec!["mock-echo".into()],
            prices: Default::default(),
        })
        .await
        .unwrap()
        .id
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn settings_provider_forms_refuse_a_missing_or_wrong_csrf_token() {
    bounded(async {
        let server = spawn(true).await;
        let id = stored(&server, "guarded").await;
        let c = client();
        sign_in(&server, &c).await;
        let csrf = csrf_of(&page(&c, &server, "/app/settings/providers").await);
        let add = [
            ("name", "made"),
            ("base_url", "http://127.0.0.1:9/v1"),
            ("models", "m"),
        ];
        let edit = [
            ("name", "renamed"),
            ("base_url", "http://127.0.0.1:9/v1"),
            ("models", "m"),
        ];
        let forms: [(String, &[(&str, &str)]); 4] = [
            ("/app/settings/providers".into(), &add),
            (format!("/app/settings/providers/{id}"), &edit),
            (format!("/app/settings/providers/{id}/delete"), &[]),
            (format!("/app/settings/providers/{id}/test"), &[]),
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
            // The right token from another site is refused too.
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
        let all = server.app.list_providers().await.unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["openai", "guarded"], "nothing changed");
        // With the token, the same forms work.
        let mut body = add.to_vec();
        body.push(("csrf", &csrf));
        let res = post(&c, &server, "/app/settings/providers", &body).await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "/app/settings/providers?ok=provider_added"
        );
        let res = post(
            &c,
            &server,
            &format!("/app/settings/providers/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status(), 303);
        assert_eq!(stored_count(&server).await, 1);
    })
    .await;
}

#[tokio::test]
async fn settings_provider_pages_label_every_control_and_keep_secrets_and_the_environment_out_of_reach()
 {
    bounded(async {
        let server = spawn(true).await;
        let id = stored(&server, "labelled").await;
        let c = client();
        sign_in(&server, &c).await;
        for path in [
            "/app/settings/providers".to_string(),
            format!("/app/settings/providers/{id}"),
        ] {
            let html = page(&c, &server, &path).await;
            assert_eq!(unlabelled(&html), Vec::<String>::new(), "{path}");
            assert!(
                !html.contains(KEY) && !html.contains(HEADER_VALUE),
                "{path}"
            );
        }
        let csrf = csrf_of(&page(&c, &server, "/app/settings/providers").await);
        // The environment's provider has no edit page and cannot be deleted.
        for path in [
            "/app/settings/providers/openai",
            "/app/settings/providers/openai/delete",
        ] {
            let res = post(&c, &server, path, &[("csrf", &csrf)]).await;
            assert_eq!(res.status(), 404, "{path}");
        }
        assert_eq!(
            c.get(server.url("/app/settings/providers/openai"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        // A new origin without the key again: the app's message next to the key.
        let path = format!("/app/settings/providers/{id}");
        let other_origin = server._mock.base_url().replace("127.0.0.1", "localhost");
        let res = post(
            &c,
            &server,
            &path,
            &[
                ("csrf", &csrf),
                ("name", "labelled"),
                ("base_url", &other_origin),
                ("models", "mock-echo"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        let at = html
            .find("id=\"pv-api-key-err\"")
            .expect("an error by the key");
        assert!(html[at..].contains("API key sent again"), "{}", &html[at..]);
        assert!(html.contains("id=\"pv-headers-err\""));
        assert!(html.contains(&other_origin), "the typed URL is kept");
        assert!(!html.contains(KEY) && !html.contains(HEADER_VALUE));
        let kept = server.app.get_provider("labelled").await.unwrap();
        assert_eq!(kept.base_url, server._mock.base_url(), "nothing changed");
        // With the key and headers given again (or removed), it is saved.
        let res = post(
            &c,
            &server,
            &path,
            &[
                ("csrf", &csrf),
                ("name", "labelled"),
                ("base_url", &other_origin),
                ("api_key", "sk-for-the-new-origin"),
                ("remove_headers", "on"),
                ("models", "mock-echo"),
                ("prices", "mock-echo = 0.5, 1.5"),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let saved = server.app.get_provider("labelled").await.unwrap();
        assert_eq!(saved.base_url, other_origin);
        assert!(saved.has_key && saved.header_names.is_empty());
        assert_eq!(saved.prices["mock-echo"].output, 1.5);
        // A price line that does not read is named; nothing changes.
        let res = post(
            &c,
            &server,
            &path,
            &[
                ("csrf", &csrf),
                ("name", "labelled"),
                ("base_url", &other_origin),
                ("models", "mock-echo"),
                ("prices", "mock-echo = cheap"),
            ],
        )
        .await;
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains("id=\"pv-prices-err\""));
    })
    .await;
}
