//! Every user flow, clicked through in a real browser.

use crate::bounded;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, browser, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_creates_the_admin_and_then_is_gone() {
    bounded(async {
        let server = spawn(false).await;
        let Some(b) = browser().await else { return };
        let token = server.setup_token.clone().expect("a setup token");
        b.goto(&server.url(&format!("/setup?token={token}"))).await;
        b.fill("#email", "owner@example.com").await;
        b.fill("#password", "short").await;
        b.click("#create-admin").await;
        // The browser's minlength stops a short password; the server checks too.
        assert!(b.path().await.starts_with("/setup"));
        b.fill("#password", ADMIN_PASSWORD).await;
        b.click("#create-admin").await;
        b.wait_text("[data-testid=signed-in-email]", "owner@example.com")
            .await;
        assert_eq!(b.path().await, "/app");
        assert!(b.body().await.contains("No prompts yet"));
        b.goto(&server.url(&format!("/setup?token={token}"))).await;
        assert_eq!(b.path().await, "/app", "setup is gone once a user exists");
        b.screenshot("first_run_setup").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_follows_next_and_signing_out_ends_the_session() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        b.goto(&server.url("/app")).await;
        assert_eq!(b.path().await, "/login?next=%2Fapp");
        b.fill("#email", ADMIN_EMAIL).await;
        b.fill("#password", "wrong password!!").await;
        b.click("#sign-in").await;
        b.wait_text("#login-error", "Wrong email or password").await;
        assert_eq!(
            b.wait("#email")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(ADMIN_EMAIL),
            "the form keeps the email"
        );
        b.fill("#password", ADMIN_PASSWORD).await;
        b.click("#sign-in").await;
        b.wait_text("[data-testid=signed-in-email]", ADMIN_EMAIL)
            .await;
        assert_eq!(b.path().await, "/app");
        b.click("#logout").await;
        b.wait_text("body", "You are signed out").await;
        b.goto(&server.url("/app/settings")).await;
        assert_eq!(b.path().await, "/login?next=%2Fapp%2Fsettings");
        b.screenshot("login_logout").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_next_is_not_followed() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        b.goto(&server.url("/login?next=//evil.example/x")).await;
        b.fill("#email", ADMIN_EMAIL).await;
        b.fill("#password", ADMIN_PASSWORD).await;
        b.click("#sign-in").await;
        b.wait_text("[data-testid=signed-in-email]", ADMIN_EMAIL)
            .await;
        let url = b.c.current_url().await.unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert_eq!(url.path(), "/app");
        b.screenshot("external_next").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_is_created_edited_diffed_restored_labelled_and_deleted() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        // Create: a validation error keeps the input.
        b.fill("#new-tags", "support, email").await;
        b.fill("#new-body", "Hello {{name}}").await;
        b.js("document.getElementById('new-title').removeAttribute('required'); return null")
            .await;
        b.click("#create-prompt").await;
        b.wait(".field-error").await;
        assert_eq!(
            b.wait("#new-tags")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("support, email")
        );
        b.fill("#new-title", "Greeting").await;
        b.click("#create-prompt").await;
        b.wait_text(".flash", "Prompt created").await;
        assert!(b.text("#var-list").await.contains("name"));
        // Versions 2 and 3: the variable list follows typing.
        b.fill("#body", "Hi {{name}}, welcome to {{place}}").await;
        b.wait_text("#var-list", "place").await;
        // ...and each variable is highlighted inside the editor itself.
        b.wait_text(".hl-backdrop mark:last-of-type", "{{place}}")
            .await;
        b.fill("#note", "second").await;
        b.click("#save-version").await;
        b.wait_text(".flash", "New version saved").await;
        b.fill("#body", "Hi {{name}}, welcome to {{place}}!\nBye.")
            .await;
        b.fill("#note", "third").await;
        // Ctrl+S saves.
        b.wait("#note")
            .await
            .send_keys(&format!("{}s", '\u{E009}'))
            .await
            .unwrap();
        b.wait_text(".flash", "New version saved").await;
        b.wait_text("#versions", "v3").await;
        // Diff of the latest two, then the inline view.
        b.click("#diff-latest").await;
        b.wait_text("h1", "v2 → v3").await;
        b.wait_text("table.diff-split", "Bye.").await;
        b.click("#diff-toggle").await;
        b.wait_text("table.diff-inline", "Bye.").await;
        b.screenshot("diff").await;
        // Restore version 1 (with confirmation).
        b.goto(&server.url(&format!(
            "{}/versions/1",
            b.path().await.split("/diff").next().unwrap()
        )))
        .await;
        b.click("#restore").await;
        b.accept_dialog().await;
        b.wait_text(".flash", "Version restored").await;
        b.wait_text("#versions tr[data-version='1']", "current")
            .await;
        b.wait_text("#save-version", "Save as v4").await;
        assert_eq!(
            b.wait("#body")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("Hello {{name}}")
        );
        // Set a label on v3 (the newest is listed first).
        b.fill("#label-name", "production").await;
        b.click("#set-label").await;
        b.wait_text(".flash", "Label updated").await;
        b.wait_text("#versions tr[data-version='3']", "production")
            .await;
        b.screenshot("prompt_page").await;
        // Delete, confirming on a page that names the prompt.
        b.click(".menu summary").await;
        b.click("#delete-prompt").await;
        b.wait_text("h1", "Delete “Greeting”?").await;
        b.click("#confirm-delete").await;
        b.wait_text(".flash", "Prompt deleted").await;
        assert!(b.body().await.contains("No prompts yet"));
        b.screenshot("deleted").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_streams_its_output_lands_in_history_and_two_runs_compare() {
    bounded(async {
        let server = spawn(true).await;
        let id = server
            .prompt("Echo", "Say {{word}} please", "mock-echo")
            .await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/prompts/{id}"))).await;
        b.fill("#var-word", "banana").await;
        b.click("#run-button").await;
        b.wait_text("#run-status", "succeeded").await;
        assert!(
            b.text("#run-output").await.contains("banana"),
            "{}",
            b.text("#run-output").await
        );
        assert!(b.text("#stat-tokens").await.contains("total"));
        assert!(b.text("#stat-latency").await.contains("ms"));
        b.wait_text("#run-rows", "mock-echo").await;
        b.screenshot("run_streamed").await;
        // A second run with Ctrl+Enter, then both in the history after a reload.
        b.fill("#var-word", "cherry").await;
        b.wait("#var-word")
            .await
            .send_keys(&format!("{}{}", '\u{E009}', '\u{E007}'))
            .await
            .unwrap();
        b.wait_text("#run-output", "cherry").await;
        b.wait_text("#run-status", "succeeded").await;
        b.goto(&server.url(&format!("/app/prompts/{id}"))).await;
        let rows =
            b.c.find_all(fantoccini::Locator::Css("#run-rows tr"))
                .await
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(b.text("#run-rows").await.contains("succeeded"));
        // Open one.
        b.click("#run-rows tr:first-child td:last-child a").await;
        b.wait_text("h1", "Run of Echo").await;
        assert!(
            b.body().await.contains("Say cherry please"),
            "the rendered input"
        );
        b.c.back().await.unwrap();
        for cb in
            b.c.find_all(fantoccini::Locator::Css("#run-rows input[type=checkbox]"))
                .await
                .unwrap()
        {
            cb.click().await.unwrap();
        }
        b.click("#compare-button").await;
        b.wait_text("h1", "Compare runs").await;
        let body = b.body().await;
        assert!(body.contains("banana") && body.contains("cherry"));
        b.screenshot("compare_runs").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_run_can_be_cancelled() {
    bounded(async {
        let server = spawn(true).await;
        let id = server
            .prompt("Slow", "Tell a long story", "mock-slow")
            .await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/prompts/{id}"))).await;
        b.click("#run-button").await;
        // The run has started once its link is shown.
        for _ in 0..100 {
            if b.wait("#run-link").await.is_displayed().await.unwrap() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        b.click("#cancel-button").await;
        b.wait_text("#run-status", "cancelled").await;
        b.goto(&server.url(&format!("/app/prompts/{id}?run_status=cancelled")))
            .await;
        b.wait_text("#run-rows", "cancelled").await;
        b.screenshot("run_cancelled").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_is_shown_once_and_can_be_revoked() {
    bounded(async {
        let server = spawn(true).await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url("/app/settings")).await;
        assert!(b.text("#providers").await.contains("key present"));
        b.fill("#token-name", "ci-pipeline").await;
        b.click("#create-token").await;
        let token = b
            .wait("#new-token")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(token.len() > 20, "the token is shown: {token:?}");
        assert!(b.text("#tokens").await.contains("ci-pipeline"));
        // It works, then it is revoked.
        let http = reqwest::Client::new();
        let res = http
            .get(server.url("/api/prompts"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        b.goto(&server.url("/app/settings")).await;
        assert!(!b.body().await.contains(&token), "shown once only");
        b.click("tr[data-token='ci-pipeline'] button").await;
        b.accept_dialog().await;
        b.wait_text(".flash", "Token revoked").await;
        b.wait_text("tr[data-token='ci-pipeline']", "revoked").await;
        let res = http
            .get(server.url("/api/prompts"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        b.screenshot("tokens").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_body_holding_a_script_shows_as_text() {
    bounded(async {
        let server = spawn(true).await;
        let body = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">";
        let id = server.prompt("<b>bold</b> title", body, "mock-echo").await;
        let Some(b) = browser().await else { return };
        b.login(&server).await;
        b.goto(&server.url(&format!("/app/prompts/{id}"))).await;
        assert_eq!(
            b.wait("#body")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(body)
        );
        assert!(b.text("#prompt-title").await.contains("<b>bold</b> title"));
        b.goto(&server.url(&format!("/app/prompts/{id}/versions/1")))
            .await;
        assert!(b.text("#version-body").await.contains("<script>"));
        assert_eq!(
            b.js("return window.__pwned === undefined").await,
            serde_json::json!(true)
        );
        b.goto(&server.url("/app")).await;
        assert!(b.text("#prompt-list").await.contains("<b>bold</b> title"));
        b.screenshot("escaped").await;
        b.close().await;
    })
    .await;
}
