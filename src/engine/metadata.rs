//! The user-metadata table (`user_id, join_date, country, device_type, subscription_type`, plus
//! any other columns a file carries): small — one row per user — so it is the build side of the
//! broadcast hash join in [`crate::engine`]'s join.

use serde::{Deserialize, Serialize};

use super::store::Dictionary;

/// One categorical metadata column, dictionary-encoded (value 0 = null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaColumn {
    pub name: String,
    pub dict: Dictionary,
    /// One entry per row of [`MetadataTable::user_keys`].
    pub values: Vec<u16>,
}

/// Metadata, one row per distinct user key (duplicates already resolved by the loader's rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataTable {
    /// User keys as text, in the same spelling as [`super::EventStore::users`] (integers in
    /// decimal), so the join compares strings.
    pub user_keys: Vec<String>,
    /// Join date as days since 1970-01-01 (a calendar date, no time zone); `None` when missing.
    pub join_day: Vec<Option<i32>>,
    /// Categorical columns: `country`, `device_type`, `subscription_type`, and any others.
    pub columns: Vec<MetaColumn>,
}

impl MetadataTable {
    pub fn len(&self) -> usize {
        self.user_keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.user_keys.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<&MetaColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}
