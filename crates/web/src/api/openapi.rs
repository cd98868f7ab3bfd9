use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::envelope::{ErrorBody, ErrorEnvelope};

#[derive(OpenApi)]
#[openapi(
    info(title = "PromptRefine API", description = "Every body is `{ data, error }`. Authenticate with a session cookie or `Authorization: Bearer <token>`."),
    components(schemas(ErrorBody, ErrorEnvelope)),
    security(("bearer" = []))
)]
struct Base;

pub(super) fn base() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    if let Some(c) = doc.components.as_mut() {
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    doc
}

/// OpenAPI links: which later operation takes its ids from which answer.
/// Clients read them as documentation; schemathesis follows them to test
/// sequences (create a prompt, then read, save, render, label and delete it).
/// Each link: (source path, method, status, link name, target path, method,
/// parameters as `in.name` → runtime expression).
struct Link {
    source: &'static str,
    method: &'static str,
    status: &'static str,
    name: &'static str,
    target: &'static str,
    target_method: &'static str,
    params: &'static [(&'static str, &'static str)],
}

const fn link(
    (source, method, status): (&'static str, &'static str, &'static str),
    name: &'static str,
    (target, target_method): (&'static str, &'static str),
    params: &'static [(&'static str, &'static str)],
) -> Link {
    Link {
        source,
        method,
        status,
        name,
        target,
        target_method,
        params,
    }
}

const LINKS: &[Link] = &[
    link(
        ("/api/prompts", "post", "201"),
        "GetPrompt",
        ("/api/prompts/{id}", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "UpdatePrompt",
        ("/api/prompts/{id}", "patch"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "DeletePrompt",
        ("/api/prompts/{id}", "delete"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "ListVersions",
        ("/api/prompts/{id}/versions", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "SaveVersion",
        ("/api/prompts/{id}/versions", "post"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "Render",
        ("/api/prompts/{id}/render", "post"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "ListLabels",
        ("/api/prompts/{id}/labels", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/prompts", "post", "201"),
        "GetBySlug",
        ("/api/prompts/by-slug/{slug}", "get"),
        &[("path.slug", "$response.body#/data/slug")],
    ),
    link(
        ("/api/prompts/{id}/versions", "post", "201"),
        "GetVersion",
        ("/api/prompts/{id}/versions/{number}", "get"),
        &[
            ("path.id", "$response.body#/data/promptId"),
            ("path.number", "$response.body#/data/version"),
        ],
    ),
    link(
        ("/api/prompts/{id}/versions", "post", "201"),
        "Diff",
        ("/api/prompts/{id}/diff", "get"),
        &[
            ("path.id", "$response.body#/data/promptId"),
            ("query.from", "$response.body#/data/version"),
        ],
    ),
    link(
        ("/api/prompts/{id}/versions", "post", "201"),
        "SetLabel",
        ("/api/prompts/{id}/labels/{label}", "put"),
        &[("path.id", "$response.body#/data/promptId")],
    ),
    link(
        ("/api/test-runs", "post", "201"),
        "GetRun",
        ("/api/test-runs/{id}", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/test-runs", "post", "201"),
        "CancelRun",
        ("/api/test-runs/{id}/cancel", "post"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "GetDataset",
        ("/api/datasets/{id}", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "UpdateDataset",
        ("/api/datasets/{id}", "patch"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "DeleteDataset",
        ("/api/datasets/{id}", "delete"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "ListItems",
        ("/api/datasets/{id}/items", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "AddItems",
        ("/api/datasets/{id}/items", "post"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "ImportItems",
        ("/api/datasets/{id}/import", "post"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets", "post", "201"),
        "ExportItems",
        ("/api/datasets/{id}/export", "get"),
        &[("path.id", "$response.body#/data/id")],
    ),
    link(
        ("/api/datasets/{id}/items", "post", "201"),
        "GetItem",
        ("/api/datasets/{id}/items/{itemId}", "get"),
        &[
            ("path.id", "$response.body#/data/dataset/id"),
            ("path.itemId", "$response.body#/data/items/0/id"),
        ],
    ),
    link(
        ("/api/datasets/{id}/items", "post", "201"),
        "EditItem",
        ("/api/datasets/{id}/items/{itemId}", "patch"),
        &[
            ("path.id", "$response.body#/data/dataset/id"),
            ("path.itemId", "$response.body#/data/items/0/id"),
        ],
    ),
    link(
        ("/api/datasets/{id}/items", "post", "201"),
        "DeleteItem",
        ("/api/datasets/{id}/items/{itemId}", "delete"),
        &[
            ("path.id", "$response.body#/data/dataset/id"),
            ("path.itemId", "$response.body#/data/items/0/id"),
        ],
    ),
    link(
        ("/api/tokens", "post", "201"),
        "RevokeToken",
        ("/api/tokens/{id}", "delete"),
        &[("path.id", "$response.body#/data/id")],
    ),
];

/// Adds [`LINKS`] to the responses they start from. A link whose source or
/// target operation is missing is skipped (a test checks there is none).
pub(super) fn with_links(mut doc: serde_json::Value) -> serde_json::Value {
    for l in LINKS {
        if doc["paths"][l.target][l.target_method].is_null() {
            continue;
        }
        let Some(response) = doc["paths"][l.source][l.method]["responses"].get_mut(l.status) else {
            continue;
        };
        let pointer = format!(
            "#/paths/{}/{}",
            l.target.replace('~', "~0").replace('/', "~1"),
            l.target_method
        );
        let parameters: serde_json::Map<String, serde_json::Value> = l
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        response["links"][l.name] =
            serde_json::json!({ "operationRef": pointer, "parameters": parameters });
    }
    doc
}

/// The links that cannot be attached (for the test that keeps them current).
#[cfg(test)]
fn dangling_links(doc: &serde_json::Value) -> Vec<&'static str> {
    LINKS
        .iter()
        .filter(|l| {
            doc["paths"][l.target][l.target_method].is_null()
                || doc["paths"][l.source][l.method]["responses"][l.status].is_null()
        })
        .map(|l| l.name)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_link_joins_two_documented_operations() {
        let doc = super::super::openapi_document();
        assert_eq!(super::dangling_links(&doc), Vec::<&str>::new());
        let link = &doc["paths"]["/api/prompts"]["post"]["responses"]["201"]["links"]["GetPrompt"];
        assert_eq!(link["operationRef"], "#/paths/~1api~1prompts~1{id}/get");
    }
}
