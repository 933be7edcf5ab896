//! Decoded batches handed from a decoding thread to the loading one.
//!
//! Why: a load is three stages one after another on one thread — **decode** (read the column
//! chunks, decompress, Parquet pages → Arrow arrays), **map** (arrays → the store's codes,
//! interning every id) and **sort**. Decode is a third of a 10M-event load in Chromium
//! (docs/BENCHMARKS.md), and nothing in it needs the store. With a second thread decoding batch
//! k+1 while the first maps batch k, the load costs about the larger of decode and map, not
//! their sum. Natively the second thread is a scoped thread and batches pass through a bounded
//! channel ([`super::load_events_pipelined`]); in the browser it is a second worker (GitHub Pages
//! cannot send the headers shared memory needs), and a batch crosses as one Arrow IPC stream
//! ([`encode`] / [`decode`]) in a transferred buffer.
//!
//! Either way the loading side reads [`EventBatch`]es from a [`BatchFeed`] instead of decoding
//! them itself; mapping, checks, errors and the store are exactly those of a load that decodes
//! on its own thread (the tests compare the stores).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Field, Schema};

use super::{check_mapping, for_each_batch, load_columns, open, ColumnMapping, InputFile, Pace};
use crate::engine::error::IngestError;

/// One decoded batch of an event file: the mapped columns' arrays, in the order of the load's
/// column list (the mapping's roles, each column once).
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// The file it came from (for the quality report's rows per file and for messages).
    pub file: String,
    pub rows: usize,
    pub arrays: Vec<ArrayRef>,
}

/// A batch that may arrive later: `Ok(None)` once the files are decoded to their end.
pub type PendingBatch<'a> =
    Pin<Box<dyn Future<Output = Result<Option<EventBatch>, IngestError>> + 'a>>;

/// Where a load's decoded batches come from when another thread decodes them.
pub trait BatchFeed {
    /// The next batch, in file order; an error ends the load with it.
    fn next_batch(&mut self) -> PendingBatch<'_>;
}

/// The detail of a fed load's decode stage: what it timed is the loader's wait for batches (and
/// their hand-over), not the decoding itself.
pub const DECODED_ELSEWHERE: &str = "on a second thread; the wait for its batches";

/// Schema metadata key holding [`EventBatch::file`] in an encoded batch.
const FILE_KEY: &str = "pulse.file";

fn handoff_error(detail: impl std::fmt::Display) -> IngestError {
    IngestError::Handoff {
        detail: detail.to_string(),
    }
}

/// A batch as one self-contained Arrow IPC stream (schema, dictionaries, the batch): the bytes a
/// decoding worker posts. Columns are named by position; the file name rides in the schema's
/// metadata.
pub fn encode(batch: &EventBatch) -> Result<Vec<u8>, IngestError> {
    let fields: Vec<Field> = batch
        .arrays
        .iter()
        .enumerate()
        .map(|(i, a)| Field::new(i.to_string(), a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        std::collections::HashMap::from([(FILE_KEY.to_string(), batch.file.clone())]),
    ));
    let options = RecordBatchOptions::new().with_row_count(Some(batch.rows));
    let record = RecordBatch::try_new_with_options(schema.clone(), batch.arrays.clone(), &options)
        .map_err(handoff_error)?;
    let bytes: usize = batch
        .arrays
        .iter()
        .map(|a| a.get_buffer_memory_size())
        .sum();
    let mut writer =
        StreamWriter::try_new(Vec::with_capacity(bytes + 4096), &schema).map_err(handoff_error)?;
    writer.write(&record).map_err(handoff_error)?;
    writer.into_inner().map_err(handoff_error)
}

/// The batch [`encode`] wrote. The arrays borrow `bytes`' allocation where it is aligned (no
/// copy).
pub fn decode(bytes: Vec<u8>) -> Result<EventBatch, IngestError> {
    let mut buffer = Buffer::from_vec(bytes);
    let mut decoder = StreamDecoder::new();
    let mut record = None;
    while !buffer.is_empty() {
        if let Some(r) = decoder.decode(&mut buffer).map_err(handoff_error)? {
            record = Some(r);
            break;
        }
    }
    let record = record.ok_or_else(|| handoff_error("the batch ended before its rows"))?;
    let file = record
        .schema()
        .metadata()
        .get(FILE_KEY)
        .cloned()
        .unwrap_or_default();
    Ok(EventBatch {
        file,
        rows: record.num_rows(),
        arrays: record.columns().to_vec(),
    })
}

/// The decoding side of a load: open `files`, check `mapping` against them, and decode the
/// mapped columns batch by batch into `each` — what the loading side would decode itself. The
/// same checks run on the loading side first, so a mapping error is reported there, with the
/// same message.
///
/// `pace` is asked after each Parquet batch: `Some(wait)` holds the next batch's decoding until
/// `wait` completes. Why: the loading side maps more slowly than this side decodes, and batches
/// it has not taken yet are memory (a few MB each) — a worker that posts them cannot be blocked
/// by its receiver, so it waits for the receiver's word instead.
pub async fn decode_events(
    files: &[InputFile],
    mapping: &ColumnMapping,
    each: &mut dyn FnMut(EventBatch) -> Result<(), IngestError>,
    pace: &dyn Fn() -> Option<Pace>,
) -> Result<(), IngestError> {
    let (_, opened, schema) = open(files)?;
    check_mapping(&schema, mapping)?;
    let columns = load_columns(mapping);
    let mut handed = |file: &str, rows: usize, arrays: &[ArrayRef]| {
        each(EventBatch {
            file: file.to_string(),
            rows,
            arrays: arrays.to_vec(),
        })
    };
    for_each_batch(&opened, &columns, &mut handed, pace).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, DictionaryArray, Int32Array, Int64Array, StringArray};

    #[test]
    fn a_batch_survives_its_encoding() {
        let keys = Int32Array::from(vec![Some(1), None, Some(0), Some(1)]);
        let values = Arc::new(StringArray::from(vec!["u-0", "u-1"]));
        let users: ArrayRef = Arc::new(DictionaryArray::try_new(keys, values).unwrap());
        let times: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(6), None, Some(8)]));
        let batch = EventBatch {
            file: "events/date=2024-01-01/part-0.parquet".to_string(),
            rows: 4,
            arrays: vec![users.clone(), times.clone()],
        };
        let back = decode(encode(&batch).unwrap()).unwrap();
        assert_eq!(back.file, batch.file);
        assert_eq!(back.rows, 4);
        assert_eq!(back.arrays.len(), 2);
        assert_eq!(back.arrays[0].to_data(), users.to_data());
        assert_eq!(back.arrays[1].to_data(), times.to_data());
        // A batch with no columns keeps its row count.
        let empty = EventBatch {
            file: String::new(),
            rows: 7,
            arrays: Vec::new(),
        };
        assert_eq!(decode(encode(&empty).unwrap()).unwrap().rows, 7);
    }

    #[test]
    fn bytes_that_are_not_a_batch_are_an_error() {
        for bytes in [
            Vec::new(),
            vec![0u8; 3],
            b"not an arrow stream at all".to_vec(),
        ] {
            assert!(matches!(decode(bytes), Err(IngestError::Handoff { .. })));
        }
    }
}
