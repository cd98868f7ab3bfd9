//! Provider connections managed in the app (issue 17), beside the ones the
//! environment configures.
//!
//! * The environment's providers come first: they are listed read-only
//!   (`source: env`), keep their names, and a stored provider may not take
//!   one of their names.
//! * A stored provider's API key and extra headers are sealed
//!   ([`crate::secrets`]) before they reach the store and opened only to
//!   build the client that sends them; no view of a provider carries them
//!   (only `has_key` and the header names).
//! * Runs find a provider by name: the environment's, then the database's
//!   ([`App::find_provider`]). A built client is kept per provider and
//!   reused while the row's `updated_at` is unchanged, so an edit made on
//!   another replica is picked up on the next run.
//! * Every stored provider's client has redirects off (the key goes to the
//!   configured origin only) and, unless `allow_link_local` is set, refuses
//!   link-local and metadata addresses, by URL here and by DNS in the client.

mod validate;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use promptrefine_core::ProviderId;
use promptrefine_core::validate::{Rule, Violations};
use promptrefine_llm::{Price, PriceTable, Provider, ProviderConfig};
use promptrefine_store::{ModelPrice, ProviderRecord, ProviderWrite, SealedBytes, StoreError};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::App;
use crate::error::{AppError, OrNotFound, Result, check};
use crate::secrets::{Sealed, Sealer, SecretKey};

pub use validate::refused_ip;

/// How stored providers are kept and reached.
#[derive(Clone, Debug, Default)]
pub struct ProviderSettings {
    /// The server key secrets are sealed under; without one, stored
    /// providers cannot be created or used.
    pub key: Option<SecretKey>,
    /// Lets base URLs point at link-local / metadata addresses
    /// (`PROVIDERS_ALLOW_LINK_LOCAL`); off by default.
    pub allow_link_local: bool,
}

/// Where a provider is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderSource {
    /// The server's environment or configuration file: read-only here.
    Env,
    /// The database, managed through the API.
    Stored,
}

impl ProviderSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderSource::Env => "env",
            ProviderSource::Stored => "stored",
        }
    }
}

/// A provider as shown: never its key or header values.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderView {
    /// `None` for the environment's providers (they are named, not stored).
    pub id: Option<ProviderId>,
    pub name: String,
    /// For the environment's providers, without user-info or query.
    pub base_url: String,
    pub has_key: bool,
    pub header_names: Vec<String>,
    pub models: Vec<String>,
    pub prices: BTreeMap<String, ModelPrice>,
    pub source: ProviderSource,
    pub created_at: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
}

/// A provider to store.
#[derive(Debug)]
pub struct NewProviderInput {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub extra_headers: Vec<(String, SecretString)>,
    pub models: Vec<String>,
    pub prices: BTreeMap<String, ModelPrice>,
}

/// What PATCH may change: `None` keeps a field; `api_key: Some(None)`
/// removes the key.
#[derive(Debug, Default)]
pub struct ProviderPatchInput {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<Option<SecretString>>,
    pub extra_headers: Option<Vec<(String, SecretString)>>,
    pub models: Option<Vec<String>>,
    pub prices: Option<BTreeMap<String, ModelPrice>>,
}

/// What a connection test found.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionTest {
    /// `GET {base}/models` answered these.
    Ok { models: Vec<String> },
    /// The same code and message a run would have stored.
    Failed {
        code: &'static str,
        message: String,
        http_status: Option<u16>,
    },
}

/// Shared by every clone of [`App`]; see the module docs.
#[derive(Default)]
pub(crate) struct ProviderRegistry {
    sealer: Option<Sealer>,
    allow_link_local: bool,
    clients: Mutex<HashMap<ProviderId, Client>>,
}

/// A built client, the row version it was built from, and its prices over
/// the server's.
struct Client {
    updated_at: OffsetDateTime,
    provider: Provider,
    prices: Option<Arc<PriceTable>>,
}

impl ProviderRegistry {
    pub(crate) fn new(settings: ProviderSettings) -> ProviderRegistry {
        ProviderRegistry {
            sealer: settings.key.as_ref().map(Sealer::new),
            allow_link_local: settings.allow_link_local,
            clients: Mutex::default(),
        }
    }

    fn sealer(&self) -> Result<&Sealer> {
        self.sealer.as_ref().ok_or_else(|| {
            AppError::BadRequest(
                "this server has no key to seal provider secrets with (set SECRET_KEY or a data directory)"
                    .into(),
            )
        })
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<ProviderId, Client>> {
        // Each use is one insert, remove or read: never left half-changed.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Seals every stored provider's key and headers again under `new`
/// (`promptrefine secrets rotate`): each is opened with `old`, and all are
/// written in one transaction, so the database is never half under one key.
/// Fails, changing nothing, when `old` does not open one of them or a
/// provider changed meanwhile. The number of providers re-sealed.
pub async fn rotate_key(
    store: &promptrefine_store::Store,
    old: &SecretKey,
    new: &SecretKey,
) -> Result<usize> {
    let (old, new) = (Sealer::new(old), Sealer::new(new));
    let reseal = |s: &Option<SealedBytes>, ctx: &str, name: &str| -> Result<Option<SealedBytes>> {
        let Some(s) = s else { return Ok(None) };
        let plain = old.open(&from_store(s), ctx).map_err(|_| {
            AppError::invalid(
                "secretKey",
                "oneOf",
                format!("the secrets of provider {name:?} do not open with the current server key; nothing was changed"),
            )
        })?;
        let sealed = new
            .seal(&plain, ctx)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(to_store(sealed)))
    };
    let records = store.providers().list().await?;
    let mut rows = Vec::with_capacity(records.len());
    for r in &records {
        rows.push(promptrefine_store::Resealed {
            id: r.id,
            read_at: r.updated_at,
            api_key: reseal(&r.api_key, &context(r.id, "api_key"), &r.name)?,
            headers: reseal(&r.headers, &context(r.id, "headers"), &r.name)?,
        });
    }
    store.providers().reseal(&rows).await.map_err(|e| match e {
        StoreError::NotFound => AppError::Conflict {
            field: "providers",
            message:
                "a provider changed while the key was rotated; nothing was changed, run it again"
                    .into(),
        },
        other => other.into(),
    })?;
    Ok(rows.len())
}

/// What a sealed value belongs to, bound into its ciphertext.
fn context(id: ProviderId, field: &str) -> String {
    format!("provider:{id}:{field}")
}

fn to_store(s: Sealed) -> SealedBytes {
    SealedBytes {
        nonce: s.nonce,
        ciphertext: s.ciphertext,
    }
}

fn from_store(s: &SealedBytes) -> Sealed {
    Sealed {
        nonce: s.nonce.clone(),
        ciphertext: s.ciphertext.clone(),
    }
}

/// A stored provider's secrets, opened.
struct Opened {
    api_key: Option<SecretString>,
    headers: Vec<(String, SecretString)>,
}

impl App {
    /// The environment's providers (in configuration order), then the
    /// stored ones by name.
    pub async fn list_providers(&self) -> Result<Vec<ProviderView>> {
        let mut out: Vec<ProviderView> = self.runs.providers().iter().map(env_view).collect();
        for record in self.store.providers().list().await? {
            out.push(self.stored_view(&record));
        }
        Ok(out)
    }

    /// By id, or by name (the environment's providers have only a name).
    pub async fn get_provider(&self, id_or_name: &str) -> Result<ProviderView> {
        if let Some(p) = self.env_provider(id_or_name) {
            return Ok(env_view(p));
        }
        let record = self.stored_provider(id_or_name).await?;
        Ok(self.stored_view(&record))
    }

    #[tracing::instrument(skip_all, fields(name = %input.name))]
    pub async fn create_provider(&self, input: NewProviderInput) -> Result<ProviderView> {
        let mut v = Violations::default();
        let name = input.name.trim().to_owned();
        let base_url = input.base_url.trim().to_owned();
        self.check_fields(&mut v, &name, &base_url, &input.models, &input.prices);
        if let Some(key) = &input.api_key {
            validate::api_key(&mut v, "apiKey", key.expose_secret());
        }
        check_headers(&mut v, &input.extra_headers);
        check(v)?;
        self.refuse_env_name(&name)?;
        let id = ProviderId::new();
        let write = ProviderWrite {
            name,
            base_url,
            api_key: self.seal_key(id, input.api_key.as_ref())?,
            headers: self.seal_headers(id, &input.extra_headers)?,
            models: input.models,
            prices: input.prices,
        };
        let record = self.store.providers().create(id, &write).await?;
        tracing::info!(provider_id = %id, "provider stored");
        Ok(self.stored_view(&record))
    }

    /// Changes the fields `patch` names. The key and headers are replaced
    /// only when given; their old values are never read back out.
    #[tracing::instrument(skip_all)]
    pub async fn update_provider(
        &self,
        id_or_name: &str,
        patch: ProviderPatchInput,
    ) -> Result<ProviderView> {
        self.refuse_env_change(id_or_name)?;
        let record = self.stored_provider(id_or_name).await?;
        let id = record.id;
        let name = patch
            .name
            .as_deref()
            .map_or(record.name.clone(), |n| n.trim().to_owned());
        let base_url = patch
            .base_url
            .as_deref()
            .map_or(record.base_url.clone(), |u| u.trim().to_owned());
        let models = patch.models.unwrap_or(record.models.clone());
        let prices = patch.prices.unwrap_or(record.prices.clone());
        let mut v = Violations::default();
        self.check_fields(&mut v, &name, &base_url, &models, &prices);
        if let Some(Some(key)) = &patch.api_key {
            validate::api_key(&mut v, "apiKey", key.expose_secret());
        }
        if let Some(h) = &patch.extra_headers {
            check_headers(&mut v, h);
        }
        // The key was given for one origin: it goes to another only when
        // sent again, so an edit of the URL alone cannot redirect it.
        if origin(&base_url) != origin(&record.base_url) {
            if record.api_key.is_some() && patch.api_key.is_none() {
                v.push(
                    "apiKey",
                    Rule::Required,
                    "a new base URL origin needs the API key sent again (or null to remove it)",
                );
            }
            if record.headers.is_some() && patch.extra_headers.is_none() {
                v.push(
                    "extraHeaders",
                    Rule::Required,
                    "a new base URL origin needs the extra headers sent again (or {} to remove them)",
                );
            }
        }
        check(v)?;
        if name != record.name {
            self.refuse_env_name(&name)?;
        }
        let api_key = match &patch.api_key {
            None => record.api_key.clone(),
            Some(key) => self.seal_key(id, key.as_ref())?,
        };
        let headers = match &patch.extra_headers {
            None => record.headers.clone(),
            Some(h) => self.seal_headers(id, h)?,
        };
        let write = ProviderWrite {
            name,
            base_url,
            api_key,
            headers,
            models,
            prices,
        };
        let updated = match self
            .store
            .providers()
            .update(id, record.updated_at, &write)
            .await
        {
            Err(StoreError::NotFound) => {
                return Err(AppError::Conflict {
                    field: "provider",
                    message: "the provider was changed or deleted meanwhile; read it and try again"
                        .into(),
                });
            }
            other => other?,
        };
        self.providers.clients().remove(&id);
        tracing::info!(provider_id = %id, "provider updated");
        Ok(self.stored_view(&updated))
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_provider(&self, id_or_name: &str) -> Result<ProviderId> {
        self.refuse_env_change(id_or_name)?;
        let record = self.stored_provider(id_or_name).await?;
        self.store
            .providers()
            .delete(record.id)
            .await
            .or_not_found("provider")?;
        self.providers.clients().remove(&record.id);
        tracing::info!(provider_id = %record.id, "provider deleted");
        Ok(record.id)
    }

    /// Asks the provider for its models with its key, as a run would reach it.
    #[tracing::instrument(skip_all)]
    pub async fn test_provider(&self, id_or_name: &str) -> Result<ConnectionTest> {
        let provider = match self.env_provider(id_or_name) {
            Some(p) => p.clone(),
            None => {
                let record = self.stored_provider(id_or_name).await?;
                self.client_for(&record)?
            }
        };
        Ok(match provider.list_models().await {
            Ok(models) => ConnectionTest::Ok { models },
            Err(e) => ConnectionTest::Failed {
                code: e.code.as_str(),
                message: e.message,
                http_status: e.http_status,
            },
        })
    }

    /// The provider runs reach under `name` (`None`: the default, the
    /// environment's first, else the first stored): the environment's
    /// first, then the database's. `Ok(None)` when there is none.
    pub(crate) async fn find_provider(&self, name: Option<&str>) -> Result<Option<Provider>> {
        if let Some(p) = self.runs.provider(name) {
            return Ok(Some(p.clone()));
        }
        let record = match name {
            Some(n) if crate::runs::is_provider_name(n) => {
                match self.store.providers().get_by_name(n).await {
                    Ok(r) => r,
                    Err(StoreError::NotFound) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(_) => return Ok(None),
            None => match self.store.providers().list().await?.into_iter().next() {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        self.client_for(&record).map(Some)
    }

    /// A client for every stored provider that can be used now (one whose
    /// secrets do not open, or whose URL is now refused, is left out and
    /// logged): what the model selector offers besides the environment's.
    pub(crate) async fn stored_clients(&self) -> Vec<Provider> {
        let records = match self.store.providers().list().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list stored providers for the model list");
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(records.len());
        for record in &records {
            match self.client_for(record) {
                Ok(p) => out.push(p),
                Err(e) => {
                    tracing::warn!(provider_id = %record.id, error = %e, "a stored provider cannot be used");
                }
            }
        }
        out
    }

    /// The prices a run with the stored provider `name` is costed with,
    /// when it has its own (its client was just built by `find_provider`).
    pub(crate) fn provider_prices(&self, name: &str) -> Option<Arc<PriceTable>> {
        if self.env_provider(name).is_some() {
            return None;
        }
        self.providers
            .clients()
            .values()
            .find(|c| c.provider.name() == name)
            .and_then(|c| c.prices.clone())
    }

    /// The prices a run with provider `name` is costed with now: a stored
    /// provider's own (read fresh: another replica may have changed them),
    /// else the server's. What budgets reserve and estimates count.
    pub(crate) async fn prices_for(&self, name: &str) -> Arc<PriceTable> {
        if self.env_provider(name).is_none() {
            // Builds the client, which caches its prices; an unknown or
            // unusable provider is refused elsewhere, with its own message.
            let _ = self.find_provider(Some(name)).await;
            if let Some(own) = self.provider_prices(name) {
                return own;
            }
        }
        self.runs.shared_prices()
    }

    /// Every provider name runs may use, for messages.
    pub(crate) async fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .runs
            .provider_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        // A message helper: a database hiccup only shortens the list.
        if let Ok(stored) = self.store.providers().list().await {
            names.extend(stored.into_iter().map(|r| r.name));
        }
        names
    }

    /// The client of a stored provider: the cached one while the row is
    /// unchanged, else a new one from its opened secrets.
    fn client_for(&self, record: &ProviderRecord) -> Result<Provider> {
        if let Some(c) = self.providers.clients().get(&record.id)
            && c.updated_at == record.updated_at
        {
            return Ok(c.provider.clone());
        }
        let mut v = Violations::default();
        // Checked again: the switch may have been turned off since it was saved.
        validate::base_url(
            &mut v,
            "baseUrl",
            &record.base_url,
            self.providers.allow_link_local,
        );
        check(v)?;
        let opened = self.open(record)?;
        let config = ProviderConfig {
            name: record.name.clone(),
            base_url: record.base_url.clone(),
            api_key: opened.api_key,
            models: record.models.clone(),
            extra_headers: opened
                .headers
                .into_iter()
                .map(|(n, v)| (n, v.expose_secret().to_owned()))
                .collect(),
        };
        let settings = self.runs.client_settings().clone();
        let built = if self.providers.allow_link_local {
            Provider::new(config, settings)
        } else {
            Provider::new_refusing(config, settings, refused_ip)
        };
        let provider = built.map_err(|e| {
            AppError::invalid(
                "provider",
                "format",
                format!("provider {:?}: {e}", record.name),
            )
        })?;
        let prices = (!record.prices.is_empty()).then(|| {
            Arc::new(
                self.runs.prices().clone().with_overrides(
                    record
                        .prices
                        .iter()
                        .map(|(m, p)| (m.clone(), Price::usd(p.input, p.output))),
                ),
            )
        });
        let mut clients = self.providers.clients();
        // One entry per name (`provider_prices` looks up by name): a client
        // left from a provider renamed or deleted on another replica goes.
        clients.retain(|id, c| *id == record.id || c.provider.name() != record.name);
        clients.insert(
            record.id,
            Client {
                updated_at: record.updated_at,
                provider: provider.clone(),
                prices,
            },
        );
        Ok(provider)
    }

    fn open(&self, record: &ProviderRecord) -> Result<Opened> {
        let cannot_open = || {
            AppError::invalid(
                "provider",
                "oneOf",
                format!(
                    "the secrets of provider {:?} cannot be opened with this server's key (was SECRET_KEY changed?); set its key again",
                    record.name
                ),
            )
        };
        let sealer = self.providers.sealer()?;
        let api_key = match &record.api_key {
            None => None,
            Some(s) => {
                let bytes = sealer
                    .open(&from_store(s), &context(record.id, "api_key"))
                    .map_err(|_| cannot_open())?;
                Some(SecretString::from(
                    String::from_utf8(bytes).map_err(|_| cannot_open())?,
                ))
            }
        };
        let headers = match &record.headers {
            None => Vec::new(),
            Some(s) => {
                let bytes = sealer
                    .open(&from_store(s), &context(record.id, "headers"))
                    .map_err(|_| cannot_open())?;
                let map: BTreeMap<String, String> =
                    serde_json::from_slice(&bytes).map_err(|_| cannot_open())?;
                map.into_iter()
                    .map(|(n, v)| (n, SecretString::from(v)))
                    .collect()
            }
        };
        Ok(Opened { api_key, headers })
    }

    fn seal_key(&self, id: ProviderId, key: Option<&SecretString>) -> Result<Option<SealedBytes>> {
        let Some(key) = key else { return Ok(None) };
        let sealed = self
            .providers
            .sealer()?
            .seal(
                key.expose_secret().trim().as_bytes(),
                &context(id, "api_key"),
            )
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(to_store(sealed)))
    }

    /// The headers as one sealed JSON object (any value may be a credential).
    fn seal_headers(
        &self,
        id: ProviderId,
        headers: &[(String, SecretString)],
    ) -> Result<Option<SealedBytes>> {
        if headers.is_empty() {
            return Ok(None);
        }
        let map: BTreeMap<&str, &str> = headers
            .iter()
            .map(|(n, v)| (n.trim(), v.expose_secret().trim()))
            .collect();
        let json = serde_json::to_vec(&map).map_err(|e| AppError::Internal(e.to_string()))?;
        let sealed = self
            .providers
            .sealer()?
            .seal(&json, &context(id, "headers"))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(to_store(sealed)))
    }

    fn check_fields(
        &self,
        v: &mut Violations,
        name: &str,
        base_url: &str,
        models: &[String],
        prices: &BTreeMap<String, ModelPrice>,
    ) {
        validate::name(v, "name", name);
        validate::base_url(v, "baseUrl", base_url, self.providers.allow_link_local);
        validate::models(v, "models", models);
        validate::prices(v, "prices", prices);
    }

    fn env_provider(&self, name: &str) -> Option<&Provider> {
        self.runs.providers().iter().find(|p| p.name() == name)
    }

    fn refuse_env_name(&self, name: &str) -> Result<()> {
        if self.env_provider(name).is_some() {
            return Err(AppError::Conflict {
                field: "name",
                message: format!(
                    "{name:?} is the name of a provider configured in the server's environment"
                ),
            });
        }
        Ok(())
    }

    fn refuse_env_change(&self, id_or_name: &str) -> Result<()> {
        if self.env_provider(id_or_name).is_some() {
            return Err(AppError::invalid(
                "source",
                "reserved",
                format!(
                    "provider {id_or_name:?} is configured in the server's environment and is read-only here; change it in the server's configuration"
                ),
            ));
        }
        Ok(())
    }

    async fn stored_provider(&self, id_or_name: &str) -> Result<ProviderRecord> {
        let found = match id_or_name.parse::<ProviderId>() {
            Ok(id) => self.store.providers().get(id).await,
            Err(_) if crate::runs::is_provider_name(id_or_name) => {
                self.store.providers().get_by_name(id_or_name).await
            }
            Err(_) => Err(StoreError::NotFound),
        };
        found.or_not_found("provider")
    }

    fn stored_view(&self, r: &ProviderRecord) -> ProviderView {
        // Header names come from the sealed object; a value that does not
        // open (another server key) shows none rather than failing a listing.
        let header_names = match (&r.headers, self.providers.sealer()) {
            (Some(_), Ok(_)) => match self.open(r) {
                Ok(o) => o.headers.into_iter().map(|(n, _)| n).collect(),
                Err(_) => {
                    tracing::warn!(provider_id = %r.id, "a stored provider's secrets do not open with this server's key");
                    Vec::new()
                }
            },
            _ => Vec::new(),
        };
        ProviderView {
            id: Some(r.id),
            name: r.name.clone(),
            base_url: r.base_url.clone(),
            has_key: r.api_key.is_some(),
            header_names,
            models: r.models.clone(),
            prices: r.prices.clone(),
            source: ProviderSource::Stored,
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
        }
    }
}

fn check_headers(v: &mut Violations, headers: &[(String, SecretString)]) {
    validate::headers(
        v,
        "extraHeaders",
        headers.iter().map(|(n, s)| (n.as_str(), s.expose_secret())),
    );
}

fn env_view(p: &Provider) -> ProviderView {
    ProviderView {
        id: None,
        name: p.name().to_owned(),
        base_url: shown_url(p.base_url()),
        has_key: p.has_key(),
        header_names: Vec::new(),
        models: p.fallback_models().to_vec(),
        prices: BTreeMap::new(),
        source: ProviderSource::Env,
        created_at: None,
        updated_at: None,
    }
}

/// `scheme://host:port`, or the text itself when it does not parse.
fn origin(text: &str) -> String {
    url::Url::parse(text).map_or_else(|_| text.to_owned(), |u| u.origin().ascii_serialization())
}

/// A configured URL without what may be a credential (user-info, query).
fn shown_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => String::new(),
    }
}
