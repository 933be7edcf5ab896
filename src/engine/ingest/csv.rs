//! CSV input through the `csv` crate (RFC 4180: quoting, embedded delimiters and newlines).
//!
//! - The first line is the header. A UTF-8 byte-order mark (Excel) is skipped.
//! - The delimiter is sniffed from the header line: whichever of `,` `;` and tab occurs most
//!   (ties and none → `,`).
//! - Every column is text; the roles parse what they need (times, numbers). These spellings are
//!   null in any column: the empty field, `null` (any case), `NaN`, `None` — what pandas and
//!   Spark write for missing values.
//! - Rows are handed on in batches of [`BATCH_ROWS`] as Arrow string arrays, so CSV and Parquet
//!   share one loading path.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::ArrayRef;
use bytes::Bytes;

use super::BatchFn;
use crate::engine::error::IngestError;

/// Rows per batch handed to the loader.
pub(crate) const BATCH_ROWS: usize = 65_536;

/// An opened CSV file: header parsed, delimiter chosen, rows not yet read.
pub(crate) struct CsvFile {
    name: String,
    /// The bytes after any byte-order mark.
    body: Bytes,
    pub(crate) delimiter: u8,
    pub(crate) header: Vec<String>,
    /// Line breaks after the header line (the row count unless quoted fields span lines or the
    /// last line lacks a break).
    pub(crate) rows_estimate: u64,
}

fn is_null_text(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("null") || s == "NaN" || s == "None"
}

impl CsvFile {
    pub(crate) fn open(name: &str, bytes: Bytes) -> Result<CsvFile, IngestError> {
        let body = if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.slice(3..)
        } else {
            bytes
        };
        let first_line_end = body.iter().position(|&c| c == b'\n').unwrap_or(body.len());
        let first = body.get(..first_line_end).unwrap_or(&[]);
        let count = |d: u8| first.iter().filter(|&&c| c == d).count();
        let mut delimiter = b',';
        let mut best = count(b',');
        for d in [b';', b'\t'] {
            if count(d) > best {
                best = count(d);
                delimiter = d;
            }
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_reader(body.as_ref());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| IngestError::BadCsv {
                file: name.to_string(),
                detail: e.to_string(),
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if header.iter().all(String::is_empty) {
            return Err(IngestError::UnknownFormat {
                file: name.to_string(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for h in &header {
            if !seen.insert(h.as_str()) {
                return Err(IngestError::BadCsv {
                    file: name.to_string(),
                    detail: format!("the header names column '{h}' twice"),
                });
            }
        }
        let rest = body.get(first_line_end + 1..).unwrap_or(&[]);
        let mut rows_estimate = rest.iter().filter(|&&c| c == b'\n').count() as u64;
        if !rest.is_empty() && !rest.ends_with(b"\n") {
            rows_estimate += 1;
        }
        Ok(CsvFile {
            name: name.to_string(),
            body,
            delimiter,
            header,
            rows_estimate,
        })
    }

    /// Read the named columns in batches, calling `f(rows, arrays)` with one Utf8 array per
    /// requested column (nulls per the module rules).
    pub(crate) fn for_each_batch(
        &self,
        columns: &[&str],
        f: &mut BatchFn<'_>,
    ) -> Result<(), IngestError> {
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| {
                self.header
                    .iter()
                    .position(|h| h == c)
                    .ok_or_else(|| IngestError::NoSuchColumn {
                        file: self.name.clone(),
                        column: c.to_string(),
                        found: self.header.join(", "),
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(true)
            .from_reader(self.body.as_ref());
        let new_builders = || -> Vec<StringBuilder> {
            idx.iter()
                .map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8))
                .collect()
        };
        let mut builders = new_builders();
        let mut rows = 0usize;
        let mut record = csv::ByteRecord::new();
        let mut flush = |builders: &mut Vec<StringBuilder>, rows: &mut usize| {
            let arrays: Vec<ArrayRef> = builders
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            let n = *rows;
            *rows = 0;
            f(n, &arrays)
        };
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(IngestError::BadCsv {
                        file: self.name.clone(),
                        detail: e.to_string(),
                    })
                }
            }
            if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
                continue; // a blank line
            }
            for (b, &i) in builders.iter_mut().zip(&idx) {
                let field = record.get(i).unwrap_or(b"");
                let text = std::str::from_utf8(field).map_err(|_| IngestError::BadCsv {
                    file: self.name.clone(),
                    detail: format!(
                        "line {}: column '{}' is not valid UTF-8 text; re-export the file as UTF-8",
                        record.position().map_or(0, |p| p.line()),
                        columns.get(builders_index(&idx, i)).copied().unwrap_or("?")
                    ),
                })?;
                let text = text.trim();
                if is_null_text(text) {
                    b.append_null();
                } else {
                    b.append_value(text);
                }
            }
            rows += 1;
            if rows == BATCH_ROWS {
                flush(&mut builders, &mut rows)?;
            }
        }
        if rows > 0 {
            flush(&mut builders, &mut rows)?;
        }
        Ok(())
    }
}

fn builders_index(idx: &[usize], col: usize) -> usize {
    idx.iter().position(|&i| i == col).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ingest::columns::strings;

    fn read(text: &str, cols: &[&str]) -> Vec<Vec<Option<String>>> {
        let f = CsvFile::open("t.csv", Bytes::from(text.to_string())).unwrap();
        let mut out = vec![Vec::new(); cols.len()];
        f.for_each_batch(cols, &mut |_, arrays| {
            for (o, a) in out.iter_mut().zip(arrays) {
                o.extend(
                    strings(a.as_ref())
                        .unwrap()
                        .into_iter()
                        .map(|s| s.map(str::to_string)),
                );
            }
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn sniffs_delimiters_and_nulls() {
        let f = CsvFile::open("t.csv", Bytes::from_static(b"\xEF\xBB\xBFa;b;c\n1;2;3\n")).unwrap();
        assert_eq!(f.delimiter, b';');
        assert_eq!(f.header, vec!["a", "b", "c"]);
        assert_eq!(f.rows_estimate, 1);
        let f = CsvFile::open("t.csv", Bytes::from_static(b"a\tb\n1\t2")).unwrap();
        assert_eq!(f.delimiter, b'\t');
        assert_eq!(f.rows_estimate, 1);
        let got = read("a,b\n\"x,1\",NULL\n,\"multi\nline\"\n", &["b", "a"]);
        assert_eq!(got[0], vec![None, Some("multi\nline".to_string())]);
        assert_eq!(got[1], vec![Some("x,1".to_string()), None]);
    }

    #[test]
    fn ragged_rows_are_an_error() {
        let f = CsvFile::open("t.csv", Bytes::from_static(b"a,b\n1,2\n3\n")).unwrap();
        let e = f.for_each_batch(&["a"], &mut |_, _| Ok(())).unwrap_err();
        assert!(matches!(e, IngestError::BadCsv { .. }), "{e}");
        let e = CsvFile::open("t.csv", Bytes::from_static(b"a,a\n1,2\n"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
