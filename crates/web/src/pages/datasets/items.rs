//! The item forms on the dataset page: add, edit and delete, each one new
//! dataset version. Variables are `name=value` lines (one per line, the
//! value may hold `=`), the expected answer is text (blank: none), metadata
//! a JSON object (blank: none). A broken form re-renders the page with the
//! input and a message naming the field.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::datasets::{EditItem, parse_item_id};
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::validate::{Rule, Violations};
use serde_json::{Map, Value};

use super::show::{Extras, ItemForm, ShowQuery, render};
use crate::pages::support::{Errors, FormData, PageResult, PostForm};
use crate::state::AppState;

/// The form's three fields as item content, or every problem at once.
fn parse_item(form: &FormData) -> Result<ItemContent, AppError> {
    let mut v = Violations::new();
    let mut variables = BTreeMap::new();
    for (n, line) in form.get("variables").lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => {
                variables.insert(k.trim().to_string(), val.to_string());
            }
            _ => v.push(
                "variables",
                Rule::Format.as_str(),
                format!("line {} is not name=value", n + 1),
            ),
        }
    }
    let expected = form.get("expected");
    let expected = (!expected.trim().is_empty()).then(|| Value::String(expected.to_string()));
    let metadata = match form.get("metadata").trim() {
        "" => Map::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                v.push(
                    "metadata",
                    Rule::Format.as_str(),
                    "metadata must be a JSON object such as {\"source\": \"support\"}",
                );
                Map::new()
            }
        },
    };
    if !v.is_empty() {
        return Err(AppError::Invalid(v));
    }
    Ok(ItemContent {
        variables,
        expected,
        metadata,
    })
}

/// The app names an added item's fields `items[0].…`; the form has one item.
fn form_errors(e: &AppError) -> Errors {
    let mut errors = Errors::of(e);
    for (field, _) in &mut errors.0 {
        if let Some(rest) = field.strip_prefix("items[0].") {
            *field = rest.to_string();
        } else if field == "items" {
            *field = "form".into();
        }
        // `variables.city` → `variables`, the one input that holds them.
        if let Some(top) = field
            .split(['.', '['])
            .next()
            .filter(|t| *t != field.as_str())
        {
            *field = top.to_string();
        }
    }
    errors
}

pub(in crate::pages) async fn add_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let id = state.app.dataset_ref(&id).await?;
    let result = match parse_item(&form) {
        Ok(item) => state.app.add_items(id, vec![item]).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/app/datasets/{id}?ok=item_added")).into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let x = Extras {
                add: ItemForm {
                    variables: form.get("variables").into(),
                    expected: form.get("expected").into(),
                    metadata: form.get("metadata").into(),
                },
                add_errors: form_errors(&e),
                ..Extras::default()
            };
            let html = render(&state, &user, id, ShowQuery::default(), x).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(in crate::pages) async fn edit_item(
    State(state): State<AppState>,
    Path((id, item)): Path<(String, String)>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let id = state.app.dataset_ref(&id).await?;
    let item_id = parse_item_id(&item)?;
    let result = match parse_item(&form) {
        Ok(c) => {
            let edit = EditItem {
                variables: Some(c.variables),
                expected: Some(c.expected),
                metadata: Some(c.metadata),
            };
            state.app.edit_item(id, item_id, edit).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/app/datasets/{id}?ok=item_saved")).into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let x = Extras {
                edit_errors: Some((item_id.to_string(), form_errors(&e))),
                ..Extras::default()
            };
            let html = render(&state, &user, id, ShowQuery::default(), x).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(in crate::pages) async fn delete_item(
    State(state): State<AppState>,
    Path((id, item)): Path<(String, String)>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    let id = state.app.dataset_ref(&id).await?;
    state.app.delete_item(id, parse_item_id(&item)?).await?;
    Ok(Redirect::to(&format!("/app/datasets/{id}?ok=item_deleted")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_form_reads_name_value_lines_and_a_json_object() {
        let form = FormData::parse(
            b"variables=city%3DParis%0Anote%3Da%3Db&expected=yes&metadata=%7B%22k%22%3A1%7D",
        );
        let item = parse_item(&form).unwrap();
        assert_eq!(item.variables["city"], "Paris");
        assert_eq!(item.variables["note"], "a=b");
        assert_eq!(item.expected, Some(Value::String("yes".into())));
        assert_eq!(item.metadata["k"], 1);
    }

    #[test]
    fn a_broken_item_form_names_each_field() {
        let form = FormData::parse(b"variables=nonsense&metadata=%5B1%5D");
        let errors = form_errors(&parse_item(&form).unwrap_err());
        assert!(errors.get("variables").contains("line 1"));
        assert!(errors.get("metadata").contains("JSON object"));
    }
}
