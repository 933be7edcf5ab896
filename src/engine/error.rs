//! Errors the engine reports to a person. Each message says what was wrong and what to do.

use thiserror::Error;

/// Why a file could not be turned into an event or metadata table.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IngestError {
    #[error("{file}: this is not a Parquet or CSV file (it does not start with a Parquet footer or a CSV header). Export the data as Parquet or CSV and try again.")]
    UnknownFormat { file: String },
    #[error(
        "{file}: the Parquet file is truncated or corrupt ({detail}). Re-export or re-download it."
    )]
    CorruptParquet { file: String, detail: String },
    #[error("{file}: the file could not be read from disk ({detail}). If it was moved, renamed or deleted after you chose it, choose it again.")]
    Unreadable { file: String, detail: String },
    #[error("{file}: the CSV file could not be read ({detail}).")]
    BadCsv { file: String, detail: String },
    #[error("{file}: the file has no rows.")]
    Empty { file: String },
    #[error("{file}: no column could serve as the {role}. Columns found: {found}. Map one in the column mapping.")]
    MissingRole {
        file: String,
        role: &'static str,
        found: String,
    },
    #[error("{file}: column '{column}' is mapped as the {role} but has type {found}, which cannot be read as {expected}.")]
    WrongType {
        file: String,
        column: String,
        role: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("The column mapping in the link is not valid: {detail}.")]
    BadMapping { detail: String },
    #[error("{file}: column '{column}' does not exist. Columns found: {found}.")]
    NoSuchColumn {
        file: String,
        column: String,
        found: String,
    },
    #[error("The data is too large for this browser tab: about {needed_mb} MB would be needed, the limit is {limit_mb} MB. Load fewer files or a date range, or use the Spark export.")]
    TooLarge { needed_mb: u64, limit_mb: u64 },
    #[error("The {column} column has more than {limit} distinct values; Pulse cannot dictionary-encode it. Map a different column.")]
    TooManyDistinct { column: &'static str, limit: usize },
    #[error("Files of one dataset have different columns: {detail}.")]
    SchemaMismatch { detail: String },
    #[error("No data files to load (skipped as Spark bookkeeping: {ignored}). Drop the Parquet or CSV files themselves, or the folder that holds them.")]
    NoDataFiles { ignored: String },
    #[error(
        "No row could be loaded: {detail}. Check the column mapping (user id and event time)."
    )]
    NoUsableRows { detail: String },
    /// A decoded batch could not be passed from the decoding thread (worker) to the loading one.
    #[error("The decoded data could not be passed between the loader's threads ({detail}). Reload the page and load the files again.")]
    Handoff { detail: String },
    /// What the decoding worker reported, its message unchanged (it is one of the messages
    /// above, written there).
    #[error("{message}")]
    Decoding { message: String },
    #[error("Writing the file failed: {detail}.")]
    WriteFailed { detail: String },
}

impl IngestError {
    /// The file was read, but the column roles do not fit it (missing, wrong type, unknown
    /// column, malformed link mapping, or no row readable with this mapping): choosing other
    /// columns can fix it, so the UI offers the mapping editor.
    pub fn is_mapping_problem(&self) -> bool {
        matches!(
            self,
            IngestError::MissingRole { .. }
                | IngestError::WrongType { .. }
                | IngestError::NoSuchColumn { .. }
                | IngestError::BadMapping { .. }
                | IngestError::NoUsableRows { .. }
        )
    }
}
