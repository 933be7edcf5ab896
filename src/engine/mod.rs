//! The analytics engine: pure Rust, no web dependencies. Compiled natively for the CLI and tests,
//! and to wasm32 for the Web Worker. Every metric is defined here, once.

pub mod builder;
pub mod dataset;
pub mod error;
pub mod metadata;
pub mod overview;
pub mod sample;
pub mod store;

pub use builder::{StoreBuilder, UserKeyRef};
pub use dataset::Dataset;
pub use error::IngestError;
pub use metadata::{MetaColumn, MetadataTable};
pub use store::{Dictionary, DurationMs, EventStore, TimestampMs, UserIdx};
