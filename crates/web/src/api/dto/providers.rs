//! `/api/providers`: provider connections. The API key and header values
//! are write-only: requests carry them (as [`SecretString`], so no `Debug`
//! or log line can show them), answers carry `hasKey` and `headerNames`.

use std::collections::BTreeMap;

use promptrefine_app::providers::{
    ConnectionTest, NewProviderInput, ProviderPatchInput, ProviderView,
};
use promptrefine_core::ProviderId;
use promptrefine_store::ModelPrice;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// USD per million tokens.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    pub input: f64,
    pub output: f64,
}

impl From<PriceBody> for ModelPrice {
    fn from(p: PriceBody) -> Self {
        ModelPrice {
            input: p.input,
            output: p.output,
        }
    }
}

impl From<ModelPrice> for PriceBody {
    fn from(p: ModelPrice) -> Self {
        PriceBody {
            input: p.input,
            output: p.output,
        }
    }
}

/// A provider as answered: never its key or header values.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderBody {
    /// Null for providers configured in the server's environment (they are
    /// addressed by name).
    pub id: Option<ProviderId>,
    pub name: String,
    pub base_url: String,
    /// Whether an API key is set (the key itself is never answered).
    pub has_key: bool,
    /// The names of the extra headers sent (their values are never answered).
    pub header_names: Vec<String>,
    pub models: Vec<String>,
    pub prices: BTreeMap<String, PriceBody>,
    /// `env`: configured in the server's environment, read-only here;
    /// `stored`: managed through this API.
    #[schema(example = "stored")]
    pub source: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
}

impl From<ProviderView> for ProviderBody {
    fn from(v: ProviderView) -> Self {
        ProviderBody {
            id: v.id,
            name: v.name,
            base_url: v.base_url,
            has_key: v.has_key,
            header_names: v.header_names,
            models: v.models,
            prices: v.prices.into_iter().map(|(m, p)| (m, p.into())).collect(),
            source: v.source.as_str(),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// `POST /api/providers`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProvider {
    /// 1–50 of a–z, 0–9, '-', '_', '.'; what runs name the provider by.
    name: String,
    /// http(s), including the version path (`https://api.openai.com/v1`).
    base_url: String,
    /// Sent as `Authorization: Bearer …`; stored encrypted, never answered.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    api_key: Option<SecretString>,
    /// Sent with every request (e.g. Azure's `api-key`); stored encrypted,
    /// only the names are answered.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    extra_headers: Option<BTreeMap<String, SecretString>>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    prices: BTreeMap<String, PriceBody>,
}

impl From<CreateProvider> for NewProviderInput {
    fn from(b: CreateProvider) -> Self {
        NewProviderInput {
            name: b.name,
            base_url: b.base_url,
            api_key: b.api_key,
            extra_headers: b.extra_headers.unwrap_or_default().into_iter().collect(),
            models: b.models,
            prices: b.prices.into_iter().map(|(m, p)| (m, p.into())).collect(),
        }
    }
}

/// `PATCH /api/providers/{id}`: the fields sent change; `apiKey: null`
/// removes the key, `extraHeaders: {}` every header. Changing the base
/// URL's origin needs the key (and headers) sent again.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProvider {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    api_key: Option<Option<SecretString>>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    extra_headers: Option<BTreeMap<String, SecretString>>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    prices: Option<BTreeMap<String, PriceBody>>,
}

impl From<UpdateProvider> for ProviderPatchInput {
    fn from(b: UpdateProvider) -> Self {
        ProviderPatchInput {
            name: b.name,
            base_url: b.base_url,
            api_key: b.api_key,
            extra_headers: b.extra_headers.map(|h| h.into_iter().collect()),
            models: b.models,
            prices: b
                .prices
                .map(|p| p.into_iter().map(|(m, p)| (m, p.into())).collect()),
        }
    }
}

/// What `POST /api/providers/{id}/test` found.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestBody {
    /// Whether `GET {baseUrl}/models` answered with a model list.
    pub ok: bool,
    pub models: Vec<String>,
    /// Why not, with the code a run would have stored (`auth_failed`,
    /// `connection_failed`, `timeout`, …).
    pub error: Option<ConnectionError>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionError {
    pub code: &'static str,
    pub message: String,
    /// The upstream's HTTP status, when it answered with one.
    pub upstream_status: Option<u16>,
}

impl From<ConnectionTest> for ConnectionTestBody {
    fn from(t: ConnectionTest) -> Self {
        match t {
            ConnectionTest::Ok { models } => ConnectionTestBody {
                ok: true,
                models,
                error: None,
            },
            ConnectionTest::Failed {
                code,
                message,
                http_status,
            } => ConnectionTestBody {
                ok: false,
                models: Vec::new(),
                error: Some(ConnectionError {
                    code,
                    message,
                    upstream_status: http_status,
                }),
            },
        }
    }
}
