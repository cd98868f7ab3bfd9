//! The records of the export format, one struct per table, each both a
//! database row (`FromRow`) and a line of the file (serde).
//!
//! Field order here is the key order in the file, and JSON columns are
//! written with their object keys sorted: SQLite keeps the JSON text a
//! writer gave it while PostgreSQL's `jsonb` reorders keys, so sorting is what
//! makes an export from either backend byte-identical.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;

use crate::codec::{DbTime, DbUuid};

/// One line of the file after the header, tagged by `"type"`.
// Only one record is alive at a time, so the size of the largest does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Record {
    User(UserRec),
    Prompt(PromptRec),
    Version(VersionRec),
    Label(LabelRec),
    Run(RunRec),
    ApiToken(ApiTokenRec),
    Provider(ProviderRec),
    ModelPreset(PresetRec),
}

impl Record {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Record::User(_) => "user",
            Record::Prompt(_) => "prompt",
            Record::Version(_) => "version",
            Record::Label(_) => "label",
            Record::Run(_) => "run",
            Record::ApiToken(_) => "api_token",
            Record::Provider(_) => "provider",
            Record::ModelPreset(_) => "model_preset",
        }
    }
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UserRec {
    pub id: DbUuid,
    pub email: String,
    /// Only with `--include-secrets`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PromptRec {
    pub id: DbUuid,
    pub title: String,
    pub slug: String,
    #[sqlx(rename = "type")]
    pub prompt_type: String,
    pub tags: Json<Vec<String>>,
    pub current_version_id: Option<DbUuid>,
    pub next_version: i64,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct VersionRec {
    pub id: DbUuid,
    pub prompt_id: DbUuid,
    pub number: i64,
    #[serde(serialize_with = "canonical")]
    pub content: Json<Value>,
    #[serde(serialize_with = "canonical")]
    pub settings: Json<Value>,
    #[serde(serialize_with = "canonical")]
    pub variables: Json<Value>,
    pub note: Option<String>,
    pub author_id: Option<DbUuid>,
    pub created_at: DbTime,
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LabelRec {
    pub prompt_id: DbUuid,
    pub label: String,
    pub version_id: DbUuid,
    pub updated_at: DbTime,
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RunRec {
    pub id: DbUuid,
    pub prompt_id: DbUuid,
    pub version_id: DbUuid,
    pub provider: String,
    pub model: String,
    #[serde(serialize_with = "canonical")]
    pub params: Json<Value>,
    #[serde(serialize_with = "canonical")]
    pub variables: Json<Value>,
    #[serde(serialize_with = "canonical")]
    pub input: Json<Value>,
    pub output: String,
    pub finish_reason: Option<String>,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub request_id: Option<String>,
    pub created_at: DbTime,
    pub finished_at: Option<DbTime>,
    /// Written only when true, so files of runs with counted usage (and files
    /// written before estimates existed) read back unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tokens_estimated: bool,
    /// Migration 0009 (issue 17): the exact body sent, as its text, and the
    /// answer's metadata. Written only when set, so older files read back
    /// unchanged and new files of runs without them are the same as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "canonical_opt"
    )]
    pub tool_calls: Option<Json<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<DbUuid>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiTokenRec {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub created_at: DbTime,
    pub last_used_at: Option<DbTime>,
    pub revoked_at: Option<DbTime>,
    /// Absent (not null) for a token that never expires, so files written
    /// before tokens could expire read back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DbTime>,
}

/// A provider added in the app (migration 0011). Its sealed key and headers
/// (ciphertext under the server key, never clear text) only with
/// `--include-secrets`, as base64; without them an import gives a provider
/// with no key, to be entered again.
#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ProviderRec {
    pub id: DbUuid,
    pub name: String,
    pub base_url: String,
    #[serde(serialize_with = "canonical")]
    pub models: Json<Value>,
    #[serde(serialize_with = "canonical")]
    pub prices: Json<Value>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub api_key_nonce: Option<Vec<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub api_key_sealed: Option<Vec<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub headers_nonce: Option<Vec<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub headers_sealed: Option<Vec<u8>>,
}

impl ProviderRec {
    pub(super) fn drop_secrets(&mut self) {
        self.api_key_nonce = None;
        self.api_key_sealed = None;
        self.headers_nonce = None;
        self.headers_sealed = None;
    }
}

/// A model preset (migration 0012).
#[derive(Debug, FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PresetRec {
    pub id: DbUuid,
    pub name: String,
    pub provider: Option<String>,
    pub model: String,
    #[serde(serialize_with = "canonical")]
    pub params: Json<Value>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

/// Optional bytes as standard base64 text.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            STANDARD
                .decode(&t)
                .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
        })
        .transpose()
    }
}

/// Writes a JSON value with every object's keys in sorted order, whatever
/// map type serde_json was built with.
fn canonical<S: Serializer>(value: &Json<Value>, s: S) -> Result<S::Ok, S::Error> {
    Sorted(&value.0).serialize(s)
}

fn canonical_opt<S: Serializer>(value: &Option<Json<Value>>, s: S) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|v| Sorted(&v.0)).serialize(s)
}

struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    m.serialize_entry(k, &Sorted(&map[k]))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

// Ids are written hyphenated and lowercase, times as fixed-width RFC 3339 in
// UTC with microseconds: the SQLite text form, which PostgreSQL values map to
// exactly (see `codec`).

impl Serialize for DbUuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.hyphenated())
    }
}

impl<'de> Deserialize<'de> for DbUuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        uuid::Uuid::parse_str(&text)
            .map(DbUuid)
            .map_err(|e| D::Error::custom(format!("invalid id {text:?}: {e}")))
    }
}

impl Serialize for DbTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for DbTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DbTime::parse_text(&text)
            .map_err(|e| D::Error::custom(format!("invalid time {text:?}: {e}")))
    }
}
