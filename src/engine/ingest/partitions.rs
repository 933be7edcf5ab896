//! Turning a dropped folder (or several files) into one dataset: which files are data, which are
//! Spark/Hadoop bookkeeping, what format they are, and which Hive partition values their folder
//! names carry (`events/date=2023-07-01/part-0000.parquet` → `date = "2023-07-01"`).

use std::sync::Arc;

use super::schema::FileFormat;
use super::{ByteSource, InputFile};
use crate::engine::error::IngestError;

/// How much of a file's start decides its format.
pub(crate) const SNIFF_BYTES: usize = 8192;

/// Spark's spelling of a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// One data file of a dataset.
#[derive(Debug, Clone)]
pub(crate) struct DataFile {
    pub name: String,
    pub source: Arc<dyn ByteSource>,
    pub format: FileFormat,
    /// `(column, value)` from `key=value` folders, outermost first; `None` for Hive's null.
    pub partitions: Vec<(String, Option<String>)>,
}

/// The data files (sorted by name, so the load order — and "last row wins" rules — do not depend
/// on the order the browser listed them in) and the skipped ones.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub files: Vec<DataFile>,
    pub ignored: Vec<String>,
    pub format: FileFormat,
    pub partition_columns: Vec<String>,
}

/// True for files Spark/Hadoop write next to the data: `_SUCCESS`, `_committed_*`,
/// `_started_*`, `_metadata`, `.part-0000.parquet.crc`, and any hidden file (`.DS_Store`).
pub(crate) fn is_bookkeeping(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with('_') || base.starts_with('.') || base.ends_with(".crc")
}

fn is_parquet_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".parq") || lower.ends_with(".pq")
}

/// Decide the format from the bytes: the Parquet magic `PAR1`, or text that looks like a CSV
/// (valid UTF-8, no NUL bytes, in the first 8 KiB). A `.parquet` name without the magic is an
/// error rather than being read as text. `head` is the file's first [`SNIFF_BYTES`] (or all of a
/// shorter file), `len` its size.
pub(crate) fn sniff(name: &str, head: &[u8], len: u64) -> Result<FileFormat, IngestError> {
    if len == 0 || head.is_empty() {
        return Err(IngestError::Empty {
            file: name.to_string(),
        });
    }
    if head.starts_with(b"PAR1") {
        return Ok(FileFormat::Parquet);
    }
    let unknown = || IngestError::UnknownFormat {
        file: name.to_string(),
    };
    if is_parquet_name(name) {
        return Err(unknown());
    }
    if head.contains(&0) {
        return Err(unknown());
    }
    match std::str::from_utf8(head) {
        Ok(_) => Ok(FileFormat::Csv),
        // A multi-byte character cut by the 8 KiB window is fine.
        Err(e) if e.error_len().is_none() && head.len() as u64 == SNIFF_BYTES as u64 => {
            Ok(FileFormat::Csv)
        }
        Err(_) => Err(unknown()),
    }
}

/// `key=value` folder names of a path, outermost first.
pub(crate) fn partitions_of(name: &str) -> Vec<(String, Option<String>)> {
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            if k.is_empty() {
                return None;
            }
            let v = percent_decode(v);
            Some((percent_decode(k), (v != HIVE_NULL).then_some(v)))
        })
        .collect()
}

/// Undo Hive's path escaping (`%3A` → `:`). Invalid escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Classify the dropped files into one dataset.
pub(crate) fn dataset(files: &[InputFile]) -> Result<Dataset, IngestError> {
    let mut data = Vec::new();
    let mut ignored = Vec::new();
    for f in files {
        if is_bookkeeping(&f.name) {
            ignored.push(f.name.clone());
            continue;
        }
        let head = f
            .source
            .read(0, SNIFF_BYTES)
            .map_err(|detail| IngestError::Unreadable {
                file: f.name.clone(),
                detail,
            })?;
        let format = sniff(&f.name, &head, f.source.len())?;
        data.push(DataFile {
            name: f.name.clone(),
            source: f.source.clone(),
            format,
            partitions: partitions_of(&f.name),
        });
    }
    data.sort_by(|a, b| a.name.cmp(&b.name));
    ignored.sort();
    let Some(first) = data.first() else {
        return Err(IngestError::NoDataFiles {
            ignored: if ignored.is_empty() {
                "none".to_string()
            } else {
                ignored.join(", ")
            },
        });
    };
    let format = first.format;
    let partition_columns: Vec<String> = first.partitions.iter().map(|(k, _)| k.clone()).collect();
    for f in &data {
        if f.format != format {
            return Err(IngestError::SchemaMismatch {
                detail: format!(
                    "{} is {:?} but {} is {:?}; load one format at a time",
                    first.name, format, f.name, f.format
                ),
            });
        }
        let keys: Vec<&str> = f.partitions.iter().map(|(k, _)| k.as_str()).collect();
        if keys != partition_columns {
            return Err(IngestError::SchemaMismatch {
                detail: format!(
                    "{} is partitioned by [{}] but {} by [{}]",
                    first.name,
                    partition_columns.join(", "),
                    f.name,
                    keys.join(", ")
                ),
            });
        }
    }
    Ok(Dataset {
        files: data,
        ignored,
        format,
        partition_columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_files() {
        for n in [
            "out/_SUCCESS",
            "out/_committed_123",
            "out/.part-0000.parquet.crc",
            "out/part-0000.parquet.crc",
            "_metadata",
            ".DS_Store",
        ] {
            assert!(is_bookkeeping(n), "{n}");
        }
        assert!(!is_bookkeeping("out/date=2023-01-01/part-0000.parquet"));
        assert!(!is_bookkeeping("_dir/part-0000.parquet"));
    }

    #[test]
    fn hive_partitions() {
        assert_eq!(
            partitions_of("events/date=2023-07-01/app=web%3A2/part-0000.parquet"),
            vec![
                ("date".to_string(), Some("2023-07-01".to_string())),
                ("app".to_string(), Some("web:2".to_string()))
            ]
        );
        assert_eq!(
            partitions_of("x/date=__HIVE_DEFAULT_PARTITION__/p.parquet"),
            vec![("date".to_string(), None)]
        );
        assert_eq!(partitions_of("a=b.parquet"), vec![]);
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff("a.parquet", b"PAR1xxxx", 8), Ok(FileFormat::Parquet));
        assert_eq!(
            sniff("a.csv", b"user_id,ts\n1,2\n", 15),
            Ok(FileFormat::Csv)
        );
        assert!(matches!(
            sniff("a.parquet", b"user_id,ts\n", 11),
            Err(IngestError::UnknownFormat { .. })
        ));
        assert!(matches!(
            sniff("a.bin", b"\x00\x01\x02", 3),
            Err(IngestError::UnknownFormat { .. })
        ));
        assert!(matches!(
            sniff("a.csv", b"", 0),
            Err(IngestError::Empty { .. })
        ));
    }
}
