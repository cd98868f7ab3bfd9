//! Use cases: what a user can do, with validation and transactions, in terms
//! of domain types. No HTTP and no SQL text live here: `web` calls these
//! functions, and these call the store's repositories.

pub mod auth;
pub mod error;
pub mod prompts;

use promptrefine_store::Store;

pub use error::{AppError, Result};

/// The application: a handle every request shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    auth: auth::AuthPolicy,
}

impl App {
    pub fn new(store: Store, auth: auth::AuthPolicy) -> App {
        App { store, auth }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Page size rules shared by every list: default 20, at most 100.
pub fn page_limit(limit: Option<i64>) -> Result<usize> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(_) => Err(AppError::invalid("limit", "range", "limit must be between 1 and 100")),
    }
}
