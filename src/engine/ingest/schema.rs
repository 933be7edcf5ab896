//! What a dataset looks like before it is loaded: format, columns and their kinds, row count.

use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};

use super::mapping::ColumnMapping;

/// File format of a dataset (all files of one dataset share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileFormat {
    Parquet,
    Csv,
}

/// The broad kind of a column, which decides which roles it can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnKind {
    /// Utf8, LargeUtf8, Utf8View, or a dictionary of those (e.g. Polars categoricals). CSV columns
    /// are always strings.
    String,
    /// Any signed or unsigned integer width.
    Integer,
    Float,
    /// A timestamp of any unit, with or without a zone (including Spark's INT96).
    Timestamp,
    Date,
    /// An Arrow duration of any unit.
    Duration,
    Boolean,
    /// Anything else (binary, decimal, nested): not mappable.
    Other,
}

impl ColumnKind {
    pub fn of(dt: &DataType) -> ColumnKind {
        match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnKind::String,
            DataType::Dictionary(_, v) => match ColumnKind::of(v) {
                ColumnKind::String => ColumnKind::String,
                ColumnKind::Integer => ColumnKind::Integer,
                _ => ColumnKind::Other,
            },
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => ColumnKind::Integer,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnKind::Float,
            DataType::Timestamp(_, _) => ColumnKind::Timestamp,
            DataType::Date32 | DataType::Date64 => ColumnKind::Date,
            DataType::Duration(_) => ColumnKind::Duration,
            DataType::Boolean => ColumnKind::Boolean,
            _ => ColumnKind::Other,
        }
    }

    /// Can this kind be read as an event time? (Strings are parsed; numbers are epoch offsets.)
    pub fn can_be_time(self) -> bool {
        matches!(
            self,
            ColumnKind::Timestamp
                | ColumnKind::Date
                | ColumnKind::String
                | ColumnKind::Integer
                | ColumnKind::Float
        )
    }

    /// Can this kind be a user id? (Floats are refused: ids stored as floats have lost digits.)
    pub fn can_be_user(self) -> bool {
        matches!(self, ColumnKind::String | ColumnKind::Integer)
    }

    /// Can this kind be a categorical label (action, page, app version, metadata attribute)?
    pub fn can_be_label(self) -> bool {
        matches!(
            self,
            ColumnKind::String | ColumnKind::Integer | ColumnKind::Boolean
        )
    }

    /// Can this kind be a duration in milliseconds?
    pub fn can_be_duration(self) -> bool {
        matches!(
            self,
            ColumnKind::Integer | ColumnKind::Float | ColumnKind::Duration | ColumnKind::String
        )
    }
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The Arrow type as text (`Utf8`, `Timestamp(Millisecond, Some("UTC"))`, …), for display.
    pub data_type: String,
    pub kind: ColumnKind,
    /// True for Hive partition columns taken from folder names (`date=2023-07-01/`).
    pub from_partition: bool,
}

/// The result of [`super::inspect`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSchema {
    pub format: FileFormat,
    /// Data files of the dataset, in load order (sorted by name).
    pub files: Vec<String>,
    /// Files skipped as Spark/Hadoop bookkeeping (`_SUCCESS`, `*.crc`, `_committed_*`, hidden).
    pub ignored_files: Vec<String>,
    /// Columns in file order, then partition columns in folder order.
    pub columns: Vec<ColumnInfo>,
    /// Names of the Hive partition columns, outermost folder first.
    pub partition_columns: Vec<String>,
    /// Total rows: exact for Parquet (from the footers); for CSV, the number of line breaks after
    /// the header (exact unless quoted fields contain line breaks).
    pub rows: u64,
    pub rows_exact: bool,
    /// Total size of the data files in bytes.
    pub total_bytes: u64,
    /// Row groups over all Parquet files (0 for CSV).
    pub row_groups: u64,
    /// Roles detected from column names and kinds; `None` when no usable user id or time
    /// column exists (then [`DatasetSchema::detect_mapping`] says which columns were found).
    pub detected: Option<ColumnMapping>,
}

impl DatasetSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Column names joined for error messages.
    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        }
    }
}

/// A short, stable name of an Arrow type for messages.
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Timestamp(unit, tz) => {
            let u = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp[{u}, {tz}]"),
                None => format!("timestamp[{u}]"),
            }
        }
        other => other.to_string(),
    }
}
