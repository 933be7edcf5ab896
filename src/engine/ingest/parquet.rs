//! Parquet input through the `parquet` crate's Arrow reader: footer first (schema, row counts —
//! cheap, used for the size guard), then row group by row group with only the mapped columns
//! read and decoded (a [`ProjectionMask`]): the bytes of those column chunks are fetched from the
//! file's [`ByteSource`] per row group, so at most one row group's bytes and Arrow arrays are
//! alive at a time next to the store being built — never the whole file.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::source::{ByteSource, Prefetched};
use super::{BatchFn, PaceFn};
use crate::engine::error::IngestError;

/// Rows per decoded Arrow batch: large enough to amortise per-batch work, small enough that the
/// transient arrays stay a few MB.
pub(crate) const BATCH_ROWS: usize = 131_072;

/// Row groups are fetched in reads of about this many bytes: each read of a browser `File` costs
/// ~4 ms on top of the bytes (measured: a 185 MB file in 2.4 MB reads 741–776 ms, in 8 MB reads
/// 478–644 ms, in 32 MB reads 376–476 ms), while the bytes held at once stay small next to the
/// store.
const READ_SPAN: u64 = 16 << 20;

/// The footer is fetched with this much of the file's end in one read: Parquet footers of files
/// with a few hundred row groups fit; a larger one costs one more read.
const FOOTER_PREFETCH: u64 = 256 << 10;

/// An opened Parquet file: where its bytes are and its parsed footer.
pub(crate) struct ParquetFile {
    name: String,
    source: Arc<dyn ByteSource>,
    /// The footer with the file's own Arrow types (what `inspect` shows).
    meta: ArrowReaderMetadata,
    /// The footer with text columns read as dictionaries (see [`dictionary_hint`]); the same as
    /// `meta` when the hint cannot apply.
    read_meta: ArrowReaderMetadata,
}

/// The file's schema with every text column read as `Dictionary(Int32, Utf8)`. Parquet writers
/// dictionary-encode text pages, and keeping that encoding lets the loader intern each distinct
/// user id, action, page or version once per batch instead of once per row.
fn dictionary_hint(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn corrupt(name: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::CorruptParquet {
        file: name.to_string(),
        detail: e.to_string(),
    }
}

impl ParquetFile {
    /// Parse the footer. A file that starts with `PAR1` but has no valid footer is reported as
    /// truncated or corrupt.
    pub(crate) fn open(
        name: &str,
        source: Arc<dyn ByteSource>,
    ) -> Result<ParquetFile, IngestError> {
        let len = source.len();
        let tail_start = len.saturating_sub(FOOTER_PREFETCH);
        let footer = tail_start..len;
        let footer = std::slice::from_ref(&footer);
        let tail =
            Prefetched::fetch(&source, footer).map_err(|detail| IngestError::Unreadable {
                file: name.to_string(),
                detail,
            })?;
        let magic = tail.bytes_at(len.saturating_sub(4), 4);
        if len < 12 || magic.as_deref() != Some(b"PAR1".as_slice()) {
            return Err(corrupt(
                name,
                format!("{len} bytes and no Parquet footer at the end; the file was cut off"),
            ));
        }
        let meta = ArrowReaderMetadata::load(&tail, ArrowReaderOptions::new())
            .map_err(|e| corrupt(name, e))?;
        let hinted = ArrowReaderOptions::new().with_schema(dictionary_hint(meta.schema()));
        let read_meta = ArrowReaderMetadata::try_new(meta.metadata().clone(), hinted)
            .unwrap_or_else(|_| meta.clone());
        Ok(ParquetFile {
            name: name.to_string(),
            source,
            meta,
            read_meta,
        })
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        self.meta.schema()
    }

    /// Row count from the footer.
    pub(crate) fn rows(&self) -> u64 {
        u64::try_from(self.meta.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    pub(crate) fn row_groups(&self) -> usize {
        self.meta.metadata().num_row_groups()
    }

    /// Decode the named columns, one row group at a time, calling `f(rows, arrays)` per batch
    /// with the arrays in the order of `columns`.
    ///
    /// The row groups' bytes are read with [`ByteSource::read_async`], a span at a time.
    pub(crate) async fn for_each_batch(
        &self,
        columns: &[&str],
        f: &mut BatchFn<'_>,
        pace: &PaceFn<'_>,
    ) -> Result<(), IngestError> {
        self.for_each_batch_spanned(columns, f, pace, READ_SPAN)
            .await
    }

    /// [`ParquetFile::for_each_batch`], reading about `read_span` bytes of row groups at a time.
    async fn for_each_batch_spanned(
        &self,
        columns: &[&str],
        f: &mut BatchFn<'_>,
        pace: &PaceFn<'_>,
        read_span: u64,
    ) -> Result<(), IngestError> {
        let schema = self.meta.schema().clone();
        let mut roots = Vec::with_capacity(columns.len());
        for c in columns {
            let idx = schema
                .index_of(c)
                .map_err(|_| IngestError::SchemaMismatch {
                    detail: format!("{} has no column '{c}'", self.name),
                })?;
            roots.push(idx);
        }
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), sorted.iter().copied());
        // Position of each requested column in the projected batch (projection keeps file order).
        let positions: Vec<usize> = roots
            .iter()
            .map(|r| sorted.iter().position(|s| s == r).unwrap_or(0))
            .collect();
        let leaves = self.meta.parquet_schema().num_columns();
        // The projected column chunks of a row group.
        let chunks = |rg: usize| -> Vec<std::ops::Range<u64>> {
            self.meta
                .metadata()
                .row_group(rg)
                .columns()
                .iter()
                .enumerate()
                .filter(|(leaf, _)| *leaf < leaves && mask.leaf_included(*leaf))
                .map(|(_, c)| {
                    let (start, len) = c.byte_range();
                    start..start.saturating_add(len)
                })
                .collect()
        };
        // Row groups are read in spans: consecutive row groups' chunks in one read of about
        // `read_span` bytes — the first span an eighth of that: nothing overlaps its read (the
        // later ones are read while the span before is decoded, see `ByteSource::will_read`).
        let mut spans: Vec<(std::ops::Range<usize>, Vec<std::ops::Range<u64>>)> = Vec::new();
        let mut span_bytes = read_span;
        for rg in 0..self.row_groups() {
            let wanted = chunks(rg);
            let bytes: u64 = wanted.iter().map(|r| r.end - r.start).sum();
            let budget = if spans.len() == 1 {
                read_span / 8
            } else {
                read_span
            };
            match spans.last_mut() {
                Some((groups, w)) if span_bytes < budget => {
                    groups.end = rg + 1;
                    w.extend(wanted);
                }
                _ => {
                    spans.push((rg..rg + 1, wanted));
                    span_bytes = 0;
                }
            }
            span_bytes += bytes;
        }
        if let Some((_, first)) = spans.first() {
            Prefetched::announce(&self.source, first);
        }
        for (k, (row_groups, wanted)) in spans.iter().enumerate() {
            // Each span is announced one span ahead (the first above), so a source that reads
            // elsewhere reads it while the one before is decoded. A span's bytes are dropped
            // at the end of its iteration, before the next span is read.
            if let Some((_, after)) = spans.get(k + 1) {
                Prefetched::announce(&self.source, after);
            }
            let bytes = Prefetched::fetch_async(&self.source, wanted)
                .await
                .map_err(|detail| IngestError::Unreadable {
                    file: self.name.clone(),
                    detail,
                })?;
            for rg in row_groups.clone() {
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    bytes.clone(),
                    self.read_meta.clone(),
                )
                .with_row_groups(vec![rg])
                .with_projection(mask.clone())
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| corrupt(&self.name, format!("row group {rg}: {e}")))?;
                for batch in reader {
                    let batch =
                        batch.map_err(|e| corrupt(&self.name, format!("row group {rg}: {e}")))?;
                    let arrays: Vec<ArrayRef> = positions
                        .iter()
                        .map(|&p| batch.columns().get(p).cloned())
                        .collect::<Option<_>>()
                        .ok_or_else(|| corrupt(&self.name, "a projected column is missing"))?;
                    f(batch.num_rows(), &arrays)?;
                    if let Some(wait) = pace() {
                        wait.await;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::sample::{write_events_parquet, SampleConfig};

    /// In-memory bytes that record every read `(start, len)` and every announced one.
    #[derive(Debug)]
    struct Recording {
        bytes: bytes::Bytes,
        reads: Mutex<Vec<(u64, usize)>>,
        announced: Mutex<Vec<(u64, usize)>>,
    }

    impl ByteSource for Recording {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read(&self, start: u64, len: usize) -> Result<bytes::Bytes, String> {
            self.reads
                .lock()
                .map_err(|e| e.to_string())?
                .push((start, len));
            ByteSource::read(&self.bytes, start, len)
        }
        fn will_read(&self, start: u64, len: usize) {
            let reads = self.reads.lock().expect("reads").len();
            let mut announced = self.announced.lock().expect("announced");
            // At most one span is announced beyond the reads made (the footer is read first).
            assert!(announced.len() < reads + 1, "announced too far ahead");
            announced.push((start, len));
        }
    }

    /// Rows of every batch of the file read in spans of `span` bytes, the rows written, the
    /// reads it took and the file's size.
    fn read_in_spans(span: u64) -> (usize, usize, Vec<(u64, usize)>, usize) {
        let mut buf = Vec::new();
        let cfg = SampleConfig::for_events(200_000, 3);
        let (written, _) =
            write_events_parquet(&cfg, &mut buf, parquet::basic::Compression::SNAPPY, 16_384)
                .expect("sample writes");
        let size = buf.len();
        let rec = Arc::new(Recording {
            bytes: buf.into(),
            reads: Mutex::new(Vec::new()),
            announced: Mutex::new(Vec::new()),
        });
        let file = ParquetFile::open("e.parquet", rec.clone()).expect("opens");
        let mut rows = 0;
        crate::engine::ingest::run_ready(file.for_each_batch_spanned(
            &["user_id", "timestamp"],
            &mut |n, _| {
                rows += n;
                Ok(())
            },
            &|| None,
            span,
        ))
        .expect("reads");
        let reads = rec.reads.lock().expect("reads").clone();
        // Every span was announced before it was read, in the order of the reads.
        let announced = rec.announced.lock().expect("announced").clone();
        assert_eq!(announced, reads[1..], "announcements");
        (rows, written as usize, reads, size)
    }

    #[test]
    fn row_groups_are_read_a_span_at_a_time() {
        // One row group per read: no read holds more than a row group's projected chunks.
        let (rows, written, reads, size) = read_in_spans(1);
        assert_eq!(rows, written);
        let row_groups = rows.div_ceil(16_384);
        assert_eq!(
            reads.len(),
            1 + row_groups,
            "the footer, then one read per row group"
        );
        let largest = reads.iter().skip(1).map(|r| r.1).max().unwrap_or(0);
        assert!(largest < size / 4, "largest read {largest} of {size} bytes");
        // The default span gathers this small file's row groups into one read.
        let (same_rows, _, reads, _) = read_in_spans(READ_SPAN);
        assert_eq!(same_rows, rows);
        assert_eq!(reads.len(), 2, "{reads:?}");
    }
}
