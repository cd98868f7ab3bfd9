//! Uploading items as CSV or JSON Lines: the file's text arrives in a form
//! field (app.js reads a chosen file into it; without JavaScript it is
//! pasted). `step=preview` parses with the app's import parser and saves
//! nothing: the page shows how the columns map, the first rows, or the line
//! and column of the first broken row. `step=import` parses again and adds
//! every row as one new version, or none.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::datasets::{ImportFormat, parse_items};
use promptrefine_core::datasets::ItemContent;

use super::show::{Extras, ItemRow, ShowQuery, render};
use crate::pages::support::{PageResult, PostForm};
use crate::state::AppState;

/// Rows the preview shows; the count says how many the file holds.
const PREVIEW_ROWS: usize = 5;

/// The upload form's input and what its preview found.
#[derive(Default)]
pub(in crate::pages) struct ImportForm {
    pub format: String,
    pub text: String,
    pub preview: Option<Preview>,
    /// The parser's messages, each naming its line and column.
    pub errors: Vec<String>,
}

pub(in crate::pages) struct Preview {
    /// Column (or JSON field) → what it becomes: variable, expected, metadata.
    pub mapping: Vec<(String, &'static str)>,
    pub rows: Vec<ItemRow>,
    pub total: usize,
}

fn preview(items: &[ItemContent], format: ImportFormat) -> Preview {
    let mut mapping: Vec<(String, &'static str)> = Vec::new();
    let mut add = |name: String, role: &'static str| {
        if !mapping.iter().any(|(n, _)| *n == name) {
            mapping.push((name, role));
        }
    };
    let (vars, meta) = match format {
        ImportFormat::Csv => ("", "metadata."),
        ImportFormat::Jsonl => ("variables.", "metadata."),
    };
    for item in items {
        for k in item.variables.keys() {
            add(format!("{vars}{k}"), "variable");
        }
        if item.expected.is_some() {
            add("expected".into(), "expected answer");
        }
        for k in item.metadata.keys() {
            add(format!("{meta}{k}"), "metadata");
        }
    }
    Preview {
        mapping,
        rows: items.iter().take(PREVIEW_ROWS).map(ItemRow::from).collect(),
        total: items.len(),
    }
}

/// The parser's error as sentences a person can act on.
fn messages(e: &AppError) -> Vec<String> {
    match e {
        AppError::InvalidImport { line, violations } => violations
            .0
            .iter()
            .map(|f| format!("Line {line}, {}: {}", f.field, f.message))
            .collect(),
        AppError::Invalid(v) => v.0.iter().map(|f| f.message.clone()).collect(),
        other => vec![other.to_string()],
    }
}

pub(in crate::pages) async fn import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let id = state.app.dataset_ref(&id).await?;
    let mut x = Extras {
        import: ImportForm {
            format: form.get("format").to_string(),
            text: form.get("content").to_string(),
            ..ImportForm::default()
        },
        ..Extras::default()
    };
    let Some(format) = ImportFormat::parse(form.get("format")) else {
        x.import.errors = vec!["Format: choose CSV or JSON Lines.".into()];
        let html = render(&state, &user, id, ShowQuery::default(), x).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    let bytes = x.import.text.as_bytes().to_vec();
    let outcome = if form.get("step") == "import" {
        state
            .app
            .import_items(id, format, &bytes, |_, _| ())
            .await
            .map(|done| Some(done.imported))
    } else {
        parse_items(format, &bytes).map(|items| {
            x.import.preview = Some(preview(&items, format));
            None
        })
    };
    match outcome {
        Ok(Some(_)) => Ok(Redirect::to(&format!("/app/datasets/{id}?ok=imported")).into_response()),
        Ok(None) => {
            Ok(Html(render(&state, &user, id, ShowQuery::default(), x).await?).into_response())
        }
        Err(e @ (AppError::InvalidImport { .. } | AppError::Invalid(_))) => {
            x.import.errors = messages(&e);
            let html = render(&state, &user, id, ShowQuery::default(), x).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_maps_csv_columns_to_variables_expected_and_metadata() {
        let items = parse_items(
            ImportFormat::Csv,
            b"city,expected,metadata.src\nParis,France,a\nRome,Italy,b\n",
        )
        .unwrap();
        let p = preview(&items, ImportFormat::Csv);
        assert_eq!(p.total, 2);
        assert_eq!(
            p.mapping,
            [
                ("city".to_string(), "variable"),
                ("expected".to_string(), "expected answer"),
                ("metadata.src".to_string(), "metadata"),
            ]
        );
    }

    #[test]
    fn a_broken_row_is_named_by_its_line() {
        let e = parse_items(ImportFormat::Csv, b"city,expected\nParis,France\nRome\n").unwrap_err();
        let m = messages(&e);
        assert!(m[0].starts_with("Line 3"), "{m:?}");
    }
}
