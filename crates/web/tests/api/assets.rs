//! Static answers a browser asks for on its own: the icon, the stylesheet, the script.

use promptrefine_testkit::{TestDb, both_backends};

use crate::helpers::spawn_app;

both_backends!(the_browser_gets_an_icon_instead_of_a_404);

async fn the_browser_gets_an_icon_instead_of_a_404(db: TestDb) {
    let app = spawn_app(db).await;
    for path in ["/favicon.ico", "/favicon.svg"] {
        let res = app.anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} needs no session");
        assert_eq!(res.headers()["content-type"], "image/svg+xml", "{path}");
        let body = res.text().await.unwrap();
        assert!(body.starts_with("<svg"), "{path}: {body}");
    }
    let login = app.anon.get(app.url("/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(
        html.contains(r#"<link rel="icon" href="/favicon.svg""#),
        "pages link the icon: {html}"
    );
}
