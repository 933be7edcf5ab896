//! The analytics engine: pure Rust, no web dependencies. Compiled natively for the CLI and tests,
//! and to wasm32 for the Web Worker. Every metric is defined here, once.

pub mod activity;
pub mod anomalies;
pub mod builder;
pub mod calendar;
pub mod dataset;
pub mod error;
pub mod ingest;
mod intern;
pub mod join;
mod masks;
pub mod metadata;
pub mod outliers;
pub mod overview;
pub mod params;
pub mod power;
mod prefetch;
mod prefix;
pub mod profile;
pub mod quality;
pub mod report;
pub mod retention;
pub mod sample;
pub mod sessions;
pub mod sizing;
pub mod skew;
pub mod spark;
pub mod store;
pub mod versions;

pub use builder::{StoreBuilder, UserKeyRef};
pub use dataset::Dataset;
pub use error::IngestError;
pub use metadata::{MetaColumn, MetadataTable};
pub use params::{ParamIssue, Params};
pub use report::{compute, compute_with_clock, MetricsCache, MetricsError, MetricsReport};
pub use store::{Dictionary, DurationMs, EventStore, TimestampMs, UserIdx};
