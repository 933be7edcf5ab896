//! Messages between the UI thread and the worker.
//!
//! Every message is an [`Envelope`] serialised as one JSON string. File loads additionally carry
//! the files' bytes as transferred `ArrayBuffer`s next to the JSON (zero-copy); the JSON lists
//! their names in the same order. Keeping the protocol plain serde means it is tested natively.
//!
//! Requests carry an id; every response echoes the id of the request it answers, so the UI can
//! drop answers to requests it has since superseded.

use serde::{Deserialize, Serialize};

use crate::engine::ingest::{ColumnMapping, DatasetSchema};
use crate::engine::overview::DatasetOverview;
use crate::engine::profile::Profile;
use crate::engine::quality::{MetadataCoverage, MetadataQuality, QualityReport};
use crate::engine::spark::ScaleOut;
use crate::engine::{MetricsReport, ParamIssue};

/// A request or response with the id that ties them together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

/// What the UI asks of the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Generate and load the built-in sample dataset.
    LoadSample { seed: u64, users: u32 },
    /// Load event files; their bytes travel as transferred buffers in the order of `names`.
    /// `mapping` holds the permalink's `col.*` pairs (column-role overrides; empty: detect).
    LoadFiles {
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mapping: Vec<(String, String)>,
    },
    /// Sent by the worker to its decoding worker (never by the UI): decode these event files'
    /// mapped columns and post the batches (see `worker::decoder`).
    DecodeFiles {
        names: Vec<String>,
        mapping: crate::engine::ingest::ColumnMapping,
    },
    /// Load a user-metadata file (or folder) for the current events, same transfer convention.
    LoadMetadata { names: Vec<String> },
    /// Compute every metric for the loaded data with the settings in a permalink query string.
    Compute { query: String },
    /// "Run at scale": Spark sizing for `target_gb` on nodes `node` (`16x64x5`) and the PySpark
    /// job for the settings in `query`. `dataset_bytes`: the loaded files' size (`None` for the
    /// generated sample).
    ExportSpark {
        query: String,
        target_gb: String,
        node: String,
        dataset_bytes: Option<u64>,
    },
}

/// Where a long operation is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

/// What the UI learns about a freshly loaded dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    pub overview: DatasetOverview,
    /// The files' schema; `None` for the generated sample.
    pub schema: Option<DatasetSchema>,
    /// The column mapping used; `None` for the generated sample.
    pub mapping: Option<ColumnMapping>,
    /// What detection alone picks; the editor marks roles that differ as overridden.
    #[serde(default)]
    pub detected: Option<ColumnMapping>,
    /// Why the link's column mapping was not used (it named columns this data lacks).
    #[serde(default)]
    pub mapping_note: Option<String>,
    /// The data-quality report of ingestion; `None` for the generated sample.
    pub quality: Option<QualityReport>,
    /// Where the load's time went and the memory it holds; `None` for the generated sample.
    #[serde(default)]
    pub profile: Option<LoadProfile>,
}

/// A load's stages (decode, map, sort) and memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadProfile {
    #[serde(flatten)]
    pub profile: Profile,
    /// Bytes of the store's columns and dictionaries.
    pub store_bytes: u64,
    /// Size of the worker's wasm linear memory after the load (it never shrinks, so this is the
    /// load's peak); 0 natively.
    pub wasm_memory_bytes: u64,
}

/// What the UI learns about freshly loaded metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataLoaded {
    pub source: String,
    /// Categorical columns available for segments.
    pub columns: Vec<String>,
    pub quality: MetadataQuality,
    pub coverage: MetadataCoverage,
}

/// Files that need a column mapping chosen by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingNeeded {
    pub schema: DatasetSchema,
    /// Why the current mapping does not work, naming the columns found.
    pub message: String,
}

/// The result of a `Compute` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Computed {
    pub report: MetricsReport,
    /// Settings that could not be used (their defaults were).
    pub issues: Vec<ParamIssue>,
    /// Engine time in milliseconds (measured by the worker).
    pub compute_ms: f64,
    /// The worker's wasm memory after this recompute (it only grows: the high-water mark of the
    /// session so far); 0 natively.
    #[serde(default)]
    pub wasm_memory_bytes: u64,
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// Sent once when the worker's wasm has started.
    Ready,
    Progress(Progress),
    /// A dataset was loaded and replaced the previous one.
    Loaded(Box<Loaded>),
    /// User metadata was loaded and attached to the current events.
    MetadataLoaded(Box<MetadataLoaded>),
    /// The event files were read, but no column mapping fits them yet: the UI shows the
    /// editor for `schema`; the previously loaded data is still in place.
    MappingNeeded(Box<MappingNeeded>),
    /// The answer to `ExportSpark`: the advice and job, or why not.
    ScaleOut(Box<Result<ScaleOut, String>>),
    /// Every metric for the settings of a `Compute` request.
    Computed(Box<Computed>),
    /// The request failed; the previously loaded data is still in place.
    Failed {
        message: String,
    },
}

/// Encode a message as the JSON string that crosses the boundary.
pub fn encode<T: Serialize>(id: u64, body: &T) -> String {
    #[derive(Serialize)]
    struct Ref<'a, T> {
        id: u64,
        body: &'a T,
    }
    serde_json::to_string(&Ref { id, body }).unwrap_or_else(|e| {
        format!(r#"{{"id":{id},"body":{{"kind":"failed","message":"could not encode a message: {e}"}}}}"#)
    })
}

/// Decode a JSON string from the other side.
pub fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> Result<Envelope<T>, String> {
    serde_json::from_str(json).map_err(|e| format!("malformed message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let req = Request::LoadFiles {
            names: vec!["a.parquet".into()],
            mapping: vec![],
        };
        let json = encode(7, &req);
        assert_eq!(
            json,
            r#"{"id":7,"body":{"kind":"load_files","names":["a.parquet"]}}"#
        );
        let back: Envelope<Request> = decode(&json).unwrap();
        assert_eq!(back, Envelope { id: 7, body: req });
        let req = Request::LoadFiles {
            names: vec!["a.csv".into()],
            mapping: vec![("col.time".into(), "received_at".into())],
        };
        let json = encode(8, &req);
        assert_eq!(
            json,
            r#"{"id":8,"body":{"kind":"load_files","names":["a.csv"],"mapping":[["col.time","received_at"]]}}"#
        );
        assert_eq!(decode::<Request>(&json).unwrap().body, req);
        let resp = Response::Failed {
            message: "x".into(),
        };
        let back: Envelope<Response> = decode(&encode(3, &resp)).unwrap();
        assert_eq!(back.body, resp);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode::<Request>("{").is_err());
        assert!(decode::<Request>(r#"{"id":1,"body":{"kind":"nope"}}"#).is_err());
    }
}
