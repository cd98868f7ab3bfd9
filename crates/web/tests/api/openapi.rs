//! The OpenAPI document is part of the contract: it must not change by
//! accident (a refactor that moves a DTO, renames a type or drops a doc
//! comment). The snapshot beside this file was generated before the wire
//! types moved into `web::api`; a deliberate change regenerates it with
//! `UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p promptrefine-web --test api openapi`
//! and shows up in review as a diff of that file.

use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi_snapshot.json")
}

#[test]
fn the_openapi_document_is_byte_identical_to_the_snapshot() {
    let doc = promptrefine_web::api::openapi_document();
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).expect("the document serializes")
    );
    let path = snapshot_path();
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(&path, &text).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("read the snapshot");
    if text != expected {
        // Name the first differing line: the whole document is long.
        let (n, (got, want)) = text
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((text.lines().count().min(expected.lines().count()), ("<end>", "<end>")));
        panic!(
            "the OpenAPI document changed at line {}:\n  snapshot: {want}\n  now:      {got}\n\
             (regenerate with UPDATE_OPENAPI_SNAPSHOT=1 only if the change is deliberate)",
            n + 1
        );
    }
}

