//! Typed ids. Every id is a UUIDv7, so ids sort by creation time, which keyset
//! pagination uses as a tie-breaker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A prompt (the named, versioned thing).
    PromptId
);
id_type!(
    /// One immutable saved version of a prompt.
    VersionId
);
id_type!(
    /// One test run of a version against a model.
    RunId
);
id_type!(
    /// A named API token.
    TokenId
);
id_type!(
    /// A model provider connection stored in the database (issue 17).
    ProviderId
);
id_type!(
    /// A model preset: a named provider, model and parameters (issue 17).
    PresetId
);
id_type!(
    /// A batch of runs: prompt versions over a pinned dataset version.
    ExperimentId
);
id_type!(
    /// One server process (or CLI worker) while it lives: the owner of the
    /// work it started, for as long as it renews its lease.
    InstanceId
);
id_type!(
    /// A dataset: a named, versioned list of test cases.
    DatasetId
);
id_type!(
    /// One test case of a dataset, stable across its edits.
    ItemId
);
id_type!(
    /// One immutable revision of an item (what an experiment references, so
    /// it shows the item as it was).
    ItemRevisionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_created_later_sort_later() {
        let a = PromptId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = PromptId::new();
        assert!(a < b);
        assert!(
            a.to_string() < b.to_string(),
            "text order matches byte order"
        );
    }

    #[test]
    fn ids_round_trip_through_text() {
        let a = RunId::new();
        assert_eq!(a.to_string().parse::<RunId>().unwrap(), a);
        assert!("not-a-uuid".parse::<RunId>().is_err());
    }
}
