//! Plain HTTP checks of every page: protection, answers, CSP, no inline code,
//! and CSRF on form posts.

use std::time::Duration;

use promptrefine_app::prompts::SaveVersion;
use promptrefine_core::{Content, ModelSettings};

use crate::bounded;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, spawn};

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A prompt with two versions and a run; every page path that takes ids.
async fn pages(server: &Server) -> Vec<String> {
    let id = server.prompt("Pages", "Hello {{name}}", "mock-echo").await;
    let pid = id.parse().unwrap();
    let input = SaveVersion {
        content: Content::Text("Hi {{name}}".into()),
        settings: ModelSettings {
            model: Some("mock-echo".into()),
            ..Default::default()
        },
        note: None,
    };
    server.app.save_version(pid, input, None).await.unwrap();
    let run = server.run(&id, "name", "x").await;
    let r = run.id;
    let ds = server
        .app
        .create_dataset(promptrefine_app::datasets::CreateDataset {
            name: "Pages set".into(),
            description: None,
        })
        .await
        .unwrap()
        .id;
    server
        .app
        .run_to_dataset(
            r,
            promptrefine_app::datasets::RunToDataset {
                dataset_id: ds,
                use_output_as_expected: true,
            },
        )
        .await
        .unwrap();
    let provider = server
        .app
        .create_provider(promptrefine_app::providers::NewProviderInput {
            name: "pages-provider".into(),
            base_url: server._mock.base_url(),
            api_key: Some(secrecy::SecretString::from("sk-pages")),
            extra_headers: vec![],
            models: vec!["mock-echo".into()],
            prices: Default::default(),
        })
        .await
        .unwrap()
        .id
        .unwrap();
    let preset = server
        .app
        .create_preset(promptrefine_app::presets::NewPreset {
            name: "pages-preset".into(),
            provider: Some("pages-provider".into()),
            model: "mock-echo".into(),
            params: None,
        })
        .await
        .unwrap()
        .id;
    vec![
        "/app/datasets".into(),
        "/app/datasets?q=pages".into(),
        format!("/app/datasets/{ds}"),
        format!("/app/datasets/{ds}?version=0"),
        "/app".into(),
        "/app?q=pa&tag=demo&type=text".into(),
        format!("/app/prompts/{id}"),
        format!("/app/prompts/{id}?run_status=succeeded&run_version=1"),
        format!("/app/prompts/{id}/versions/1"),
        format!("/app/prompts/{id}/diff?from=1&to=2"),
        format!("/app/prompts/{id}/diff?from=1&to=2&mode=inline"),
        format!("/app/prompts/{id}/delete"),
        format!("/app/runs/{r}"),
        format!("/app/runs/compare?a={r}&b={r}"),
        "/app/settings".into(),
        "/app/settings/providers".into(),
        format!("/app/settings/providers/{provider}"),
        "/app/settings/presets".into(),
        format!("/app/settings/presets/{preset}"),
    ]
}

pub(crate) async fn sign_in(server: &Server, c: &reqwest::Client) {
    let res = c
        .post(server.url("/login"))
        .header("origin", &server.addr)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", "/app"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/app");
}

#[tokio::test]
async fn every_page_but_login_and_setup_redirects_to_login_without_a_session() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        for path in pages(&server).await {
            let res = c.get(server.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), 303, "{path}");
            let location = res.headers()["location"].to_str().unwrap().to_string();
            let expected: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
            assert_eq!(location, format!("/login?next={expected}"), "{path}");
        }
        for path in ["/login", "/login?next=%2Fapp"] {
            assert_eq!(
                c.get(server.url(path)).send().await.unwrap().status(),
                200,
                "{path}"
            );
        }
        // Form posts without a session go to the login page too, changing nothing.
        let res = c
            .post(server.url("/app/prompts"))
            .header("origin", &server.addr)
            .form(&[("title", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    })
    .await;
}

#[tokio::test]
async fn every_page_answers_signed_in_with_a_csp_and_no_inline_script() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let mut paths = pages(&server).await;
        paths.push("/nope".into());
        for path in paths {
            let res = c.get(server.url(&path)).send().await.unwrap();
            let status = res.status().as_u16();
            if path == "/nope" {
                assert_eq!(status, 404);
            } else {
                assert_eq!(status, 200, "{path}");
            }
            let csp = res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
                "{path}"
            );
            let html = res.text().await.unwrap();
            assert!(
                html.contains(ADMIN_EMAIL) || path == "/nope",
                "{path} shows who is signed in"
            );
            let lower = html.to_lowercase();
            for (i, _) in lower.match_indices("<script") {
                let tag_end = lower[i..].find('>').unwrap() + i;
                assert!(lower[i..tag_end].contains(" src="), "{path}: inline script");
                assert!(
                    lower[tag_end + 1..].starts_with("</script>"),
                    "{path}: script with a body"
                );
            }
            for handler in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " onerror=",
                " onchange=",
                "javascript:",
            ] {
                assert!(!lower.contains(handler), "{path}: inline handler {handler}");
            }
        }
        // The assets are cacheable for long and linked with a version.
        let res = c.get(server.url("/assets/app.css")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        let home = c
            .get(server.url("/app"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(home.contains("/assets/app.css?v=") && home.contains("/assets/app.js?v="));
        // Setup is gone once a user exists.
        let res = c.get(server.url("/setup?token=x")).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/login");
    })
    .await;
}

#[tokio::test]
async fn form_posts_need_this_site_and_the_session_token() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let html = c
            .get(server.url("/app"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        let csrf = &html[start..start + html[start..].find('"').unwrap()];
        let post = |origin: &str, token: &str| {
            c.post(server.url("/app/prompts"))
                .header("origin", origin.to_string())
                .form(&[
                    ("csrf", token),
                    ("title", "Made"),
                    ("type", "text"),
                    ("tags", ""),
                    ("body", ""),
                ])
                .send()
        };
        assert_eq!(
            post("https://evil.example", csrf).await.unwrap().status(),
            403,
            "cross-site"
        );
        assert_eq!(
            post(&server.addr, "wrong").await.unwrap().status(),
            403,
            "wrong token"
        );
        let ok = post(&server.addr, csrf).await.unwrap();
        assert_eq!(ok.status(), 303);
        assert!(
            ok.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with("?ok=created")
        );
        // A validation error re-renders the form with the input and the message.
        let res = c
            .post(server.url("/app/prompts"))
            .header("origin", &server.addr)
            .form(&[
                ("csrf", csrf),
                ("title", ""),
                ("type", "text"),
                ("tags", "keep, these"),
                ("body", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains("keep, these") && html.contains("field-error"));
    })
    .await;
}

#[tokio::test]
async fn a_long_version_history_is_paged_and_runs_still_name_their_versions() {
    bounded(async {
        let server = spawn(true).await;
        let c = client();
        sign_in(&server, &c).await;
        let id = server.prompt("Long history", "v1 {{x}}", "mock-echo").await;
        let pid = id.parse().unwrap();
        // A run of version 1, which will be far down the history.
        server.run(&id, "x", "y").await;
        for n in 2..=60 {
            let input = SaveVersion {
                content: Content::Text(format!("v{n} {{{{x}}}}")),
                settings: ModelSettings::default(),
                note: None,
            };
            server.app.save_version(pid, input, None).await.unwrap();
        }
        let page = c
            .get(server.url(&format!("/app/prompts/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("data-version=\"60\"") && !page.contains("data-version=\"10\""));
        assert!(page.contains("Save as v61"));
        assert!(
            page.contains("<td>v1</td>"),
            "the run of v1 still shows its version"
        );
        let start = page
            .find("id=\"older-versions\"")
            .expect("a link to older versions");
        let href_at = page[..start].rfind("href=\"").unwrap() + 6;
        let href = page[href_at..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        let older = c
            .get(server.url(&href))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(older.contains("data-version=\"10\"") && older.contains("data-version=\"1\""));
        assert!(!older.contains("data-version=\"60\""));
        assert!(
            older.contains("Save as v61"),
            "the next number does not depend on the page"
        );
    })
    .await;
}
