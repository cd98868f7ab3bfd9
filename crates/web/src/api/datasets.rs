//! `/api/datasets`: datasets, their versioned items, import and export; and
//! `POST /api/test-runs/{id}/to-dataset`. A dataset's `{id}` may be its id
//! or its slug on every route.
//!
//! Three router groups, because their limits differ: [`routes`] under the
//! request timeout and the ordinary body limit; [`export_routes`] without
//! the timeout (a large version takes a while to write); [`import_routes`]
//! without the timeout and under the import body limit (`server.rs`).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use promptrefine_app::datasets::{ExportFormat, ImportFormat, parse_item_id};
use promptrefine_core::RunId;
use promptrefine_core::validate::Rule;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::datasets::{
    AddItems, CreateDataset, DatasetBody, DatasetPage, EditItem, ExportQuery, ImportResult,
    ItemBody, ItemDeleted, ItemEdited, ItemPage, ItemsAdded, ItemsQuery, ListQuery, RunToDataset,
    UpdateDataset, VersionQuery,
};
use super::dto::prompts::Deleted;
use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath, read_body};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(list_items, add_items))
        .routes(routes!(get_item, edit_item, delete_item))
        .routes(routes!(run_to_dataset))
}

pub(super) fn export_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// Mounted by `server.rs` under the import body limit.
pub(super) fn import_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

/// Datasets, newest change first.
#[utoipa::path(get, path = "/api/datasets", tag = "datasets", params(ListQuery),
    responses((status = 200, body = Envelope<DatasetPage>), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Data<DatasetPage>, ApiError> {
    let page = state.app.list_datasets(q.into()).await?;
    Ok(Data(DatasetPage {
        items: page.items.into_iter().map(DatasetBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates an empty dataset (version 0); the slug is derived from the name.
#[utoipa::path(post, path = "/api/datasets", tag = "datasets", request_body = CreateDataset,
    responses((status = 201, body = Envelope<DatasetBody>), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreateDataset>,
) -> Result<Created<DatasetBody>, ApiError> {
    Ok(Created(
        state.app.create_dataset(input.into()).await?.into(),
    ))
}

/// A dataset, as it is or as it was at `version`.
#[utoipa::path(get, path = "/api/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "The dataset's id, or its slug"), VersionQuery),
    responses((status = 200, body = Envelope<DatasetBody>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Data<DatasetBody>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    Ok(Data(state.app.get_dataset(id, q.version).await?.into()))
}

/// Renames or re-describes a dataset (no new version: versions count item changes).
#[utoipa::path(patch, path = "/api/datasets/{id}", tag = "datasets", params(("id" = String, Path)), request_body = UpdateDataset,
    responses((status = 200, body = Envelope<DatasetBody>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateDataset>,
) -> Result<Data<DatasetBody>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    Ok(Data(
        state.app.update_dataset(id, input.into()).await?.into(),
    ))
}

/// Deletes a dataset with every version of its items.
#[utoipa::path(delete, path = "/api/datasets/{id}", tag = "datasets", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<Deleted>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    state.app.delete_dataset(id).await?;
    Ok(Data(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}

/// The items at `version` (default: current), in the order they were added.
#[utoipa::path(get, path = "/api/datasets/{id}/items", tag = "datasets", params(("id" = String, Path), ItemsQuery),
    responses((status = 200, body = Envelope<ItemPage>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn list_items(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ItemsQuery>,
) -> Result<Data<ItemPage>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    let (dataset, page) = state.app.list_items(id, q.into()).await?;
    Ok(Data(ItemPage {
        dataset: dataset.into(),
        items: page.items.into_iter().map(ItemBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Adds 1 to 1,000 items as one new version; one bad item adds none.
#[utoipa::path(post, path = "/api/datasets/{id}/items", tag = "datasets", params(("id" = String, Path)), request_body = AddItems,
    responses((status = 201, body = Envelope<ItemsAdded>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn add_items(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AddItems>,
) -> Result<Created<ItemsAdded>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    let items = input.items.into_iter().map(Into::into).collect();
    Ok(Created(state.app.add_items(id, items).await?.into()))
}

/// One item as it is, or as it was at `version`.
#[utoipa::path(get, path = "/api/datasets/{id}/items/{itemId}", tag = "datasets",
    params(("id" = String, Path), ("itemId" = String, Path), VersionQuery),
    responses((status = 200, body = Envelope<ItemBody>), (status = 404, body = ErrorEnvelope)))]
async fn get_item(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, item_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Data<ItemBody>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    let item_id = parse_item_id(&item_id)?;
    Ok(Data(
        state.app.get_item(id, item_id, q.version).await?.into(),
    ))
}

/// Replaces the parts of an item the body names, as one new version; the
/// old revision stays readable at older versions.
#[utoipa::path(patch, path = "/api/datasets/{id}/items/{itemId}", tag = "datasets",
    params(("id" = String, Path), ("itemId" = String, Path)), request_body = EditItem,
    responses((status = 200, body = Envelope<ItemEdited>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn edit_item(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, item_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<EditItem>,
) -> Result<Data<ItemEdited>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    let item_id = parse_item_id(&item_id)?;
    let (dataset, item) = state.app.edit_item(id, item_id, input.into()).await?;
    Ok(Data(ItemEdited {
        dataset: dataset.into(),
        item: item.into(),
    }))
}

/// Removes an item from the next version on.
#[utoipa::path(delete, path = "/api/datasets/{id}/items/{itemId}", tag = "datasets",
    params(("id" = String, Path), ("itemId" = String, Path)),
    responses((status = 200, body = Envelope<ItemDeleted>), (status = 404, body = ErrorEnvelope)))]
async fn delete_item(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, item_id)): Path<(String, String)>,
) -> Result<Data<ItemDeleted>, ApiError> {
    let id = state.app.dataset_ref(&id).await?;
    let item_id = parse_item_id(&item_id)?;
    let dataset = state.app.delete_item(id, item_id).await?;
    Ok(Data(ItemDeleted {
        id: item_id,
        deleted: true,
        dataset: dataset.into(),
    }))
}

/// Adds every row of a CSV or JSON Lines body as one new version, or
/// nothing: a problem answers 422 with `details.line` and the column in
/// `details.fields`. Over the import limit: 413, without reading the rest.
#[utoipa::path(post, path = "/api/datasets/{id}/import", tag = "datasets", params(("id" = String, Path)),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")),
        description = "CSV with a header row (`expected`, `metadata.KEY`, variables), or one item object per line"),
    responses((status = 201, body = Envelope<ImportResult>), (status = 404, body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 415, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn import(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Created<ImportResult>, ApiError> {
    let format = import_format(req.headers().get(header::CONTENT_TYPE))?;
    let id = state.app.dataset_ref(&id).await?;
    let bytes = read_body(req, &state).await?;
    let done = state
        .app
        .import_items(id, format, &bytes, |_, _| ())
        .await?;
    Ok(Created(ImportResult {
        dataset: done.dataset.into(),
        imported: done.imported,
    }))
}

fn import_format(value: Option<&HeaderValue>) -> Result<ImportFormat, ApiError> {
    let mime = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/csv" => Ok(ImportFormat::Csv),
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(ImportFormat::Jsonl)
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as text/csv or application/x-ndjson",
        )),
    }
}

/// The items at `version` (default: current) as a CSV or JSON Lines file,
/// in the shape `import` reads.
#[utoipa::path(get, path = "/api/datasets/{id}/export", tag = "datasets", params(("id" = String, Path), ExportQuery),
    responses((status = 200, content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn export(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = ExportFormat::parse(&q.format).ok_or_else(|| {
        ApiError::invalid(
            "format",
            Rule::OneOf.as_str(),
            "format must be csv or jsonl",
        )
    })?;
    let id = state.app.dataset_ref(&id).await?;
    let (dataset, bytes) = state.app.export_items(id, q.version, format).await?;
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
    };
    // Slugs are [a-z0-9-], so the file name needs no quoting beyond this.
    let disposition = format!(
        "attachment; filename=\"{}-v{}.{ext}\"",
        dataset.slug, dataset.version
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Keeps a run's variables (and, if asked, its output as the expected
/// answer) as a new item of a dataset: one new version.
#[utoipa::path(post, path = "/api/test-runs/{id}/to-dataset", tag = "datasets", params(("id" = String, Path)), request_body = RunToDataset,
    responses((status = 201, body = Envelope<ItemsAdded>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn run_to_dataset(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(run_id): IdPath<RunId>,
    ApiJson(input): ApiJson<RunToDataset>,
) -> Result<Created<ItemsAdded>, ApiError> {
    let input = promptrefine_app::datasets::RunToDataset {
        dataset_id: input.dataset_id,
        use_output_as_expected: input.use_output_as_expected,
    };
    Ok(Created(
        state.app.run_to_dataset(run_id, input).await?.into(),
    ))
}
