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
            .unwrap_or((
                text.lines().count().min(expected.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "the OpenAPI document changed at line {}:\n  snapshot: {want}\n  now:      {got}\n\
             (regenerate with UPDATE_OPENAPI_SNAPSHOT=1 only if the change is deliberate)",
            n + 1
        );
    }
}

/// `/api/prompts/{id}` accepts a slug for reads, so a prompt whose slug is
/// a fixed segment of another route (`by-slug`) could never be read by slug.
/// The core keeps the list of such slugs; this derives it from the router.
#[test]
fn every_fixed_segment_beside_a_prompt_id_is_a_reserved_slug() {
    let doc = promptrefine_web::api::openapi_document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut fixed: Vec<&str> = paths
        .keys()
        .filter_map(|p| p.strip_prefix("/api/prompts/"))
        .filter_map(|rest| rest.split('/').next())
        .filter(|segment| !segment.starts_with('{'))
        .collect();
    fixed.sort_unstable();
    fixed.dedup();
    assert!(!fixed.is_empty(), "the by-slug route is documented");
    for segment in fixed {
        assert!(
            promptrefine_core::slug::RESERVED_SLUGS.contains(&segment),
            "{segment:?} is a route under /api/prompts/ but not a reserved slug"
        );
    }
}
