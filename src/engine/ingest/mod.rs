//! Ingestion: the files an analyst drops (Parquet from Spark, pyarrow, Polars or DuckDB; CSV;
//! Spark output folders with Hive partitions) into the columnar [`EventStore`] and the
//! [`MetadataTable`], with a [`QualityReport`].
//!
//! Flow: [`inspect`] reads only footers/headers (format, columns, row count, detected
//! [`ColumnMapping`]); the UI shows the mapping and lets the user change it; [`load_events`]
//! checks the size against the memory limit *before decoding*, then decodes only the mapped
//! columns, row group by row group, appending into a [`StoreBuilder`] that sorts once at the end.
//!
//! Runs unchanged in a wasm32 Web Worker: no threads, no clock (the caller passes
//! [`LoadOptions::now_ms`]), no filesystem (files arrive as bytes), no panics on user data.

mod columns;
mod csv;
mod events;
pub mod handoff;
pub mod mapping;
mod meta;
mod parquet;
mod partitions;
pub mod schema;
pub mod source;
pub mod timestamps;

use std::sync::Arc;

use arrow_array::{ArrayRef, DictionaryArray, Int32Array, StringArray};
use bytes::Bytes;

pub use mapping::{ColumnMapping, MetaMapping};
pub use meta::{load_metadata, load_metadata_async, metadata_coverage, LoadedMetadata};
pub use schema::{ColumnInfo, ColumnKind, DatasetSchema, FileFormat};
pub use source::{ByteSource, PendingRead};

use crate::engine::builder::StoreBuilder;
use crate::engine::error::IngestError;
use crate::engine::profile::{Clock, NoClock, Profile, Stage, StageKind};
use crate::engine::quality::{ColumnNulls, FileRows, QualityReport, FUTURE_TOLERANCE_MS};
use crate::engine::store::EventStore;
use events::{EventSink, RoleArrays};
use partitions::{DataFile, Dataset};

/// Receives one decoded batch: `(rows, arrays in the requested column order)`.
pub(crate) type BatchFn<'a> = dyn FnMut(usize, &[ArrayRef]) -> Result<(), IngestError> + 'a;
/// A wait between two batches, asked for by whoever receives them (a decoding worker whose
/// loader is behind: see [`handoff::decode_events`]).
pub type Pace = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
/// Asked after each batch: `Some` = wait for it before decoding the next (Parquet; a CSV file is
/// decoded whole).
pub(crate) type PaceFn<'a> = dyn Fn() -> Option<Pace> + 'a;
/// Like [`BatchFn`], with the name of the file the batch came from first.
pub(crate) type FileBatchFn<'a> =
    dyn FnMut(&str, usize, &[ArrayRef]) -> Result<(), IngestError> + 'a;

/// One dropped file.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Path relative to the dropped folder, `/`-separated
    /// (e.g. `events/date=2023-07-01/part-0000.parquet`); Hive partition values are read from it.
    pub name: String,
    /// Its bytes, read by range (see [`source`]).
    pub source: Arc<dyn ByteSource>,
}

impl InputFile {
    /// A file already in memory.
    pub fn new(name: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        InputFile {
            name: name.into(),
            source: Arc::new(bytes.into()),
        }
    }

    /// A file read by range when the loader needs its bytes (the worker's dropped `File`s).
    pub fn from_source(name: impl Into<String>, source: Arc<dyn ByteSource>) -> Self {
        InputFile {
            name: name.into(),
            source,
        }
    }
}

/// Peak bytes per event of a load followed by the first compute of every metric — what a tab
/// needs before the dashboard shows, so the guard refuses what would fail later too. The load
/// alone peaks at ~46 B/event (builder columns 24, the sort's destinations 4 and one column
/// being moved 8, the dictionaries' tables); the first compute then adds the metrics cache
/// (considered events and prefix sums 8 + 8, sorted durations and their scratch 8 + 8, gap
/// codes 2). Measured in the worker (wasm memory after the first compute): 72 B/event at 10M
/// events, 73.5 at 50M; so 76.
pub const PEAK_BYTES_PER_EVENT: u64 = 76;
/// Peak bytes per metadata row (key string, hash slot, a few categorical columns).
pub const PEAK_BYTES_PER_METADATA_ROW: u64 = 96;
/// Upper bound on the rows allocated up front from a footer's row count (256 Mi rows).
pub const MAX_PREALLOCATED_ROWS: u64 = 1 << 28;
/// Default memory limit, for native runs (the CLI): 8 GiB. The worker sets its own (wasm32 has a
/// 4 GiB address space).
pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 8 << 30;

/// Knobs of a load.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// The caller's clock, ms since epoch: times more than a day after it are dropped as "in the
    /// future". `i64::MAX` disables the check.
    pub now_ms: i64,
    /// Refuse datasets whose estimated peak memory (rows × [`PEAK_BYTES_PER_EVENT`], plus the
    /// file bytes of a CSV, which is read whole) exceeds this.
    pub memory_limit_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            now_ms: i64::MAX,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
        }
    }
}

/// Progress of a load, reported after every decoded batch (≤ 65,536 rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProgress {
    pub rows_done: u64,
    /// From the footers (Parquet) or line count (CSV).
    pub rows_total: u64,
    /// The file being decoded.
    pub file: String,
}

/// A loaded event dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedEvents {
    pub store: EventStore,
    pub quality: QualityReport,
    pub mapping: ColumnMapping,
    pub schema: DatasetSchema,
    /// Where the load's time went: decode (Parquet/CSV → Arrow arrays, including reading the
    /// footers), map (arrays → dictionary codes and ms, appended to the builder), sort (by user
    /// and time, plus the duplicate scan). All zero when loaded without a clock.
    pub profile: Profile,
}

enum Source {
    Parquet(parquet::ParquetFile),
    Csv(csv::CsvFile),
}

struct Opened {
    file: DataFile,
    source: Source,
}

impl Opened {
    fn rows(&self) -> u64 {
        match &self.source {
            Source::Parquet(p) => p.rows(),
            Source::Csv(c) => c.rows_estimate,
        }
    }

    /// The file's own columns (partition columns are added by the dataset).
    fn columns(&self) -> Vec<ColumnInfo> {
        match &self.source {
            Source::Parquet(p) => p
                .schema()
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: schema::type_name(f.data_type()),
                    kind: ColumnKind::of(f.data_type()),
                    from_partition: false,
                })
                .collect(),
            Source::Csv(c) => c
                .header
                .iter()
                .map(|h| ColumnInfo {
                    name: h.clone(),
                    data_type: "Utf8".to_string(),
                    kind: ColumnKind::String,
                    from_partition: false,
                })
                .collect(),
        }
    }

    async fn for_each_batch(
        &self,
        columns: &[&str],
        f: &mut BatchFn<'_>,
        pace: &PaceFn<'_>,
    ) -> Result<(), IngestError> {
        match &self.source {
            Source::Parquet(p) => p.for_each_batch(columns, f, pace).await,
            Source::Csv(c) => c.for_each_batch(columns, f),
        }
    }
}

/// Open every data file (footers / headers only) and check they share one schema.
fn open(files: &[InputFile]) -> Result<(Dataset, Vec<Opened>, DatasetSchema), IngestError> {
    let ds = partitions::dataset(files)?;
    let mut opened = Vec::with_capacity(ds.files.len());
    for f in &ds.files {
        let source = match f.format {
            FileFormat::Parquet => {
                Source::Parquet(parquet::ParquetFile::open(&f.name, f.source.clone())?)
            }
            FileFormat::Csv => {
                let bytes = f
                    .source
                    .read_all()
                    .map_err(|detail| IngestError::Unreadable {
                        file: f.name.clone(),
                        detail,
                    })?;
                Source::Csv(csv::CsvFile::open(&f.name, bytes)?)
            }
        };
        opened.push(Opened {
            file: f.clone(),
            source,
        });
    }
    let first = opened.first().ok_or_else(|| IngestError::NoDataFiles {
        ignored: ds.ignored.join(", "),
    })?;
    let mut columns = first.columns();
    for o in opened.iter().skip(1) {
        check_same_columns(&first.file.name, &columns, &o.file.name, &o.columns())?;
    }
    for p in &ds.partition_columns {
        if columns.iter().any(|c| &c.name == p) {
            return Err(IngestError::SchemaMismatch {
                detail: format!(
                    "partition folder '{p}=…' repeats a column stored inside the files; rename the folder or drop the column"
                ),
            });
        }
        columns.push(ColumnInfo {
            name: p.clone(),
            data_type: "Utf8 (partition)".to_string(),
            kind: ColumnKind::String,
            from_partition: true,
        });
    }
    let rows = opened.iter().map(Opened::rows).sum();
    let row_groups = opened
        .iter()
        .map(|o| match &o.source {
            Source::Parquet(p) => p.row_groups() as u64,
            Source::Csv(_) => 0,
        })
        .sum();
    let first_name = first.file.name.clone();
    let mut schema = DatasetSchema {
        format: ds.format,
        files: ds.files.iter().map(|f| f.name.clone()).collect(),
        ignored_files: ds.ignored.clone(),
        columns,
        partition_columns: ds.partition_columns.clone(),
        rows,
        rows_exact: ds.format == FileFormat::Parquet,
        total_bytes: ds.files.iter().map(|f| f.source.len()).sum(),
        row_groups,
        detected: None,
    };
    schema.detected = ColumnMapping::detect(&first_name, &schema.columns).ok();
    if rows == 0 {
        return Err(IngestError::Empty { file: first_name });
    }
    Ok((ds, opened, schema))
}

fn check_same_columns(
    a_name: &str,
    a: &[ColumnInfo],
    b_name: &str,
    b: &[ColumnInfo],
) -> Result<(), IngestError> {
    for c in a {
        match b.iter().find(|x| x.name == c.name) {
            None => {
                return Err(IngestError::SchemaMismatch {
                    detail: format!("{b_name} has no column '{}' (which {a_name} has)", c.name),
                })
            }
            Some(x) if x.kind != c.kind => {
                return Err(IngestError::SchemaMismatch {
                    detail: format!(
                        "column '{}' is {} in {a_name} but {} in {b_name}",
                        c.name, c.data_type, x.data_type
                    ),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = b.iter().find(|x| !a.iter().any(|c| c.name == x.name)) {
        return Err(IngestError::SchemaMismatch {
            detail: format!("{b_name} has a column '{}' that {a_name} lacks", extra.name),
        });
    }
    Ok(())
}

/// Read footers/headers only: format, columns, row count, partition columns and the detected
/// mapping. Errors: unknown format, corrupt/truncated file, no rows, schema mismatch.
pub fn inspect(files: &[InputFile]) -> Result<DatasetSchema, IngestError> {
    open(files).map(|(_, _, schema)| schema)
}

/// The file bytes a load holds in memory at once: a CSV is read whole; a Parquet file is read one
/// row group's column chunks at a time (a few MB, inside the per-row allowance).
fn file_bytes_held(schema: &DatasetSchema) -> u64 {
    match schema.format {
        FileFormat::Csv => schema.total_bytes,
        FileFormat::Parquet => 0,
    }
}

/// Refuse a load whose estimated peak memory exceeds the limit (before decoding anything).
fn check_size(rows: u64, per_row: u64, file_bytes: u64, limit: u64) -> Result<(), IngestError> {
    let needed = rows.saturating_mul(per_row).saturating_add(file_bytes);
    if needed > limit {
        const MB: u64 = 1 << 20;
        return Err(IngestError::TooLarge {
            needed_mb: needed.div_ceil(MB),
            limit_mb: limit / MB,
        });
    }
    Ok(())
}

/// Check every mapped column exists and has a kind that can play its role.
fn check_mapping(schema: &DatasetSchema, mapping: &ColumnMapping) -> Result<(), IngestError> {
    let file = schema.files.first().cloned().unwrap_or_default();
    for (role, col) in mapping.roles() {
        let Some(info) = schema.column(col) else {
            return Err(IngestError::NoSuchColumn {
                file,
                column: col.to_string(),
                found: schema.column_list(),
            });
        };
        let (ok, expected) = match role {
            "user id" => (info.kind.can_be_user(), "a string or integer id"),
            "event time" => (info.kind.can_be_time(), "a time"),
            "duration" => (info.kind.can_be_duration(), "a number of milliseconds"),
            _ => (info.kind.can_be_label(), "text or integer labels"),
        };
        if !ok {
            return Err(IngestError::WrongType {
                file,
                column: col.to_string(),
                role,
                found: info.data_type.clone(),
                expected,
            });
        }
    }
    Ok(())
}

/// A column holding one partition value for every row of a batch (a one-entry dictionary, so it
/// costs 4 bytes per row and one string).
fn constant_array(value: Option<&str>, rows: usize) -> ArrayRef {
    match value {
        Some(v) => {
            let keys = Int32Array::from(vec![0; rows]);
            let values: ArrayRef = Arc::new(StringArray::from(vec![v]));
            match DictionaryArray::try_new(keys, values) {
                Ok(d) => Arc::new(d),
                Err(_) => Arc::new(StringArray::from(vec![v; rows])),
            }
        }
        None => arrow_array::new_null_array(&arrow_schema::DataType::Utf8, rows),
    }
}

/// Decode the requested columns of every file, resolving partition columns to constants;
/// `f(file, rows, arrays)` gets arrays in the order of `columns`.
async fn for_each_batch(
    opened: &[Opened],
    columns: &[&str],
    f: &mut FileBatchFn<'_>,
    pace: &PaceFn<'_>,
) -> Result<(), IngestError> {
    for o in opened {
        let partition_value = |c: &str| {
            o.file
                .partitions
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.as_deref())
        };
        let mut stored: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| partition_value(c).is_none())
            .collect();
        stored.dedup();
        let mut g =
            |rows: usize, arrays: &[ArrayRef]| -> Result<(), IngestError> {
                let mut all = Vec::with_capacity(columns.len());
                for c in columns {
                    match partition_value(c) {
                        Some(v) => all.push(constant_array(v, rows)),
                        None => {
                            let i = stored.iter().position(|s| s == c).unwrap_or(0);
                            let a = arrays.get(i).cloned().ok_or_else(|| {
                                IngestError::SchemaMismatch {
                                    detail: format!("{} has no column '{c}'", o.file.name),
                                }
                            })?;
                            all.push(a);
                        }
                    }
                }
                f(&o.file.name, rows, &all)
            };
        o.for_each_batch(&stored, &mut g, pace).await?;
    }
    Ok(())
}

/// Run a load whose reads all answer at once — bytes in memory, or a source whose
/// [`ByteSource::read_async`] is the default — to completion: the synchronous entry points
/// ([`load_events`], [`load_metadata`]) on the `_async` ones. A read still pending (a source that
/// only answers later, as the worker's `File`s do through the `_async` entry points) is
/// reported as unreadable instead of waited for.
pub(crate) fn run_ready<T>(
    load: impl std::future::Future<Output = Result<T, IngestError>>,
) -> Result<T, IngestError> {
    let load = std::pin::pin!(load);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match load.poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(IngestError::Unreadable {
            file: String::new(),
            detail: "a read did not complete at once; load this source asynchronously".to_string(),
        }),
    }
}

/// Load an event dataset with the given mapping (from [`DatasetSchema::detected`] or the user).
///
/// Decodes only the mapped columns, row group by row group, reporting progress after every
/// batch. Errors (each with an actionable message): unknown format, corrupt or truncated file,
/// no rows, schema mismatch between files, a mapped column missing or of a type that cannot play
/// its role (including a text column none of whose values reads as a time), too large for
/// `opts.memory_limit_bytes`, or no row surviving the checks.
pub fn load_events(
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedEvents, IngestError> {
    load_events_profiled(files, mapping, opts, &NoClock, progress)
}

/// [`load_events`] with stage timings read from `clock` (in [`LoadedEvents::profile`]).
pub fn load_events_profiled(
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedEvents, IngestError> {
    run_ready(load_events_async(files, mapping, opts, clock, progress))
}

/// [`load_events_profiled`] with the batches decoded on a second thread while this one maps the
/// batch before (see [`handoff`]); the same store, report and errors. For the native CLI and
/// benchmarks: wasm32 has no threads (the worker hands decoding to a second worker instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_events_pipelined(
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedEvents, IngestError> {
    use std::sync::mpsc;

    /// Batches decoded ahead of the mapping, at most: enough to keep both threads busy, few
    /// enough that the arrays in flight stay a few row groups.
    const AHEAD: usize = 2;

    struct ChannelFeed(mpsc::Receiver<Result<handoff::EventBatch, IngestError>>);
    impl handoff::BatchFeed for ChannelFeed {
        fn next_batch(&mut self) -> handoff::PendingBatch<'_> {
            // The decoding thread closes the channel at the end (`Ok(None)`), or after sending
            // its error.
            Box::pin(std::future::ready(self.0.recv().ok().transpose()))
        }
    }

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        scope.spawn(move || {
            // The channel's bound paces the decoding: `send` blocks while it is full.
            let decoded = run_ready(handoff::decode_events(
                files,
                mapping,
                &mut |b| {
                    // The loading side stopped (its own error): stop decoding.
                    tx.send(Ok(b)).map_err(|_| IngestError::Handoff {
                        detail: "the loader stopped".to_string(),
                    })
                },
                &|| None,
            ));
            if let Err(e) = decoded {
                let _ = tx.send(Err(e));
            }
        });
        let mut feed = ChannelFeed(rx);
        run_ready(load_events_fed(
            files,
            mapping,
            opts,
            clock,
            progress,
            Some(&mut feed),
        ))
    })
}

/// [`load_events_profiled`] for sources that read asynchronously (the worker's `File`s): the
/// row groups' bytes are awaited ([`ByteSource::read_async`]); footers, headers and CSV text
/// are still read with [`ByteSource::read`].
pub async fn load_events_async(
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedEvents, IngestError> {
    load_events_fed(files, mapping, opts, clock, progress, None).await
}

/// The columns a load decodes: each column the mapping names, once, in role order (the order of
/// an [`handoff::EventBatch`]'s arrays).
fn load_columns(mapping: &ColumnMapping) -> Vec<&str> {
    let mut columns: Vec<&str> = Vec::new();
    for (_, c) in mapping.roles() {
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    columns
}

/// [`load_events_async`], with the batches decoded elsewhere when `feed` is given (a decoding
/// worker: see [`handoff`]): the files' footers are still read here (size guard, mapping
/// check), their column chunks only by the feed's decoder. The profile's decode stage is then
/// the time spent waiting for batches.
pub async fn load_events_fed(
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&LoadProgress),
    feed: Option<&mut dyn handoff::BatchFeed>,
) -> Result<LoadedEvents, IngestError> {
    let started_ms = clock.now_ms();
    let mut map_ms = 0.0;
    let (_, opened, schema) = open(files)?;
    check_size(
        schema.rows,
        PEAK_BYTES_PER_EVENT,
        file_bytes_held(&schema),
        opts.memory_limit_bytes,
    )?;
    check_mapping(&schema, mapping)?;

    let columns = load_columns(mapping);
    let pos = |c: &Option<String>| {
        c.as_deref()
            .and_then(|c| columns.iter().position(|x| *x == c))
    };
    let (pu, pt) = (
        pos(&Some(mapping.user.clone())),
        pos(&Some(mapping.time.clone())),
    );
    let (pa, pp, pd, pv) = (
        pos(&mapping.action),
        pos(&mapping.page),
        pos(&mapping.duration),
        pos(&mapping.version),
    );
    // Allocate the columns once from the footer's row count, but never trust a (possibly corrupt)
    // footer with more than the memory limit allows or MAX_PREALLOCATED_ROWS; beyond that the
    // columns grow as rows arrive.
    let by_limit = opts.memory_limit_bytes / PEAK_BYTES_PER_EVENT;
    let capacity =
        usize::try_from(schema.rows.min(by_limit).min(MAX_PREALLOCATED_ROWS)).unwrap_or(0);
    let mut sink = EventSink::new(capacity, opts.now_ms.saturating_add(FUTURE_TOLERANCE_MS));
    let mut rows_done = 0u64;
    let mut file_rows: Vec<FileRows> = Vec::new();
    let mut map_batch = |file: &str, rows: usize, arrays: &[ArrayRef]| {
        let get = |p: Option<usize>| p.and_then(|p| arrays.get(p).cloned());
        let missing = || IngestError::SchemaMismatch {
            detail: format!("{file}: a mapped column is missing"),
        };
        let r = RoleArrays {
            user: get(pu).ok_or_else(missing)?,
            time: get(pt).ok_or_else(missing)?,
            action: get(pa),
            page: get(pp),
            duration: get(pd),
            version: get(pv),
        };
        if sink.builder.len() + rows > u32::MAX as usize {
            return Err(IngestError::TooLarge {
                needed_mb: (rows_done * PEAK_BYTES_PER_EVENT) >> 20,
                limit_mb: opts.memory_limit_bytes >> 20,
            });
        }
        let t0 = clock.now_ms();
        sink.push(file, mapping, rows, &r)?;
        map_ms += clock.now_ms() - t0;
        rows_done += rows as u64;
        match file_rows.last_mut() {
            Some(fr) if fr.file == file => fr.rows += rows as u64,
            _ => file_rows.push(FileRows {
                file: file.to_string(),
                rows: rows as u64,
            }),
        }
        progress(&LoadProgress {
            rows_done,
            rows_total: schema.rows.max(rows_done),
            file: file.to_string(),
        });
        Ok(())
    };
    let fed = feed.is_some();
    match feed {
        None => for_each_batch(&opened, &columns, &mut map_batch, &|| None).await?,
        Some(feed) => {
            while let Some(b) = feed.next_batch().await? {
                if b.arrays.len() != columns.len() {
                    return Err(IngestError::Handoff {
                        detail: format!(
                            "a batch of {} has {} columns, {} were asked for",
                            b.file,
                            b.arrays.len(),
                            columns.len()
                        ),
                    });
                }
                map_batch(&b.file, b.rows, &b.arrays)?;
            }
        }
    }

    let first_file = schema.files.first().cloned().unwrap_or_default();
    if sink.times_parsed == 0 && sink.times_unparsed > 0 {
        return Err(IngestError::WrongType {
            file: first_file,
            column: mapping.time.clone(),
            role: "event time",
            found: "text that is not a date or time".to_string(),
            expected: "a time",
        });
    }
    if sink.durations_parsed == 0 && sink.durations_unparsed > 0 {
        return Err(IngestError::WrongType {
            file: first_file,
            column: mapping.duration.clone().unwrap_or_default(),
            role: "duration",
            found: "text that is not a number".to_string(),
            expected: "a number of milliseconds",
        });
    }
    let EventSink {
        builder,
        mut report,
        nulls,
        ..
    } = sink;
    if report.rows_read == 0 {
        return Err(IngestError::Empty { file: first_file });
    }
    if report.rows_loaded == 0 {
        return Err(IngestError::NoUsableRows {
            detail: format!(
                "{} rows read: {} without a user id, {} without a time, {} with an unreadable time, {} before 2000, {} in the future",
                report.rows_read,
                report.dropped_null_user,
                report.dropped_null_time,
                report.dropped_unparseable_time,
                report.dropped_time_too_early,
                report.dropped_time_in_future
            ),
        });
    }
    report.nulls = roles_with_nulls(mapping, &nulls);
    report.files = file_rows;
    // Decode and map interleave batch by batch; split the elapsed time by the measured map share.
    let decode_map_ms = clock.now_ms() - started_ms;
    let sort_start_ms = clock.now_ms();
    let store = finish_store(builder);
    report.duplicate_events = store.duplicate_rows.len() as u64;
    report.users = store.user_count() as u64;
    let end_ms = clock.now_ms();
    let stage = |kind, start_ms, wall_ms, rows_in, rows_out, bytes| Stage {
        kind,
        detail: String::new(),
        start_ms,
        wall_ms,
        rows_in,
        rows_out,
        bytes,
    };
    let decode_ms = decode_map_ms - map_ms;
    let mut profile = Profile {
        stages: vec![
            stage(
                StageKind::Decode,
                0.0,
                decode_ms,
                report.rows_read,
                report.rows_read,
                schema.total_bytes,
            ),
            stage(
                StageKind::Map,
                decode_ms,
                map_ms,
                report.rows_read,
                report.rows_loaded,
                0,
            ),
            stage(
                StageKind::Sort,
                sort_start_ms - started_ms,
                end_ms - sort_start_ms,
                report.rows_loaded,
                store.len() as u64,
                store.resident_bytes() as u64,
            ),
        ],
        total_ms: end_ms - started_ms,
    };
    if fed {
        profile.stages[0].detail = handoff::DECODED_ELSEWHERE.to_string();
    }
    Ok(LoadedEvents {
        store,
        quality: report,
        mapping: mapping.clone(),
        schema,
        profile,
    })
}

fn finish_store(builder: StoreBuilder) -> EventStore {
    builder.finish()
}

fn roles_with_nulls(mapping: &ColumnMapping, nulls: &[u64; 6]) -> Vec<ColumnNulls> {
    let cols = [
        ("user id", Some(&mapping.user)),
        ("event time", Some(&mapping.time)),
        ("action", mapping.action.as_ref()),
        ("page", mapping.page.as_ref()),
        ("duration", mapping.duration.as_ref()),
        ("app version", mapping.version.as_ref()),
    ];
    cols.iter()
        .zip(nulls)
        .filter_map(|((role, col), n)| {
            col.map(|c| ColumnNulls {
                role: role.to_string(),
                column: c.clone(),
                nulls: *n,
            })
        })
        .collect()
}

/// Inspect, detect the mapping (or fail with [`IngestError::MissingRole`]) and load: what the CLI
/// and the sample path use when nobody overrides the mapping.
pub fn load_events_auto(
    files: &[InputFile],
    opts: &LoadOptions,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedEvents, IngestError> {
    let schema = inspect(files)?;
    let mapping = schema.detect_mapping()?;
    load_events(files, &mapping, opts, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_csv_is_held_whole() {
        let csv = "user_id,timestamp\nu1,2023-07-01\n";
        let mut schema = inspect(&[InputFile::new("e.csv", csv)]).expect("csv");
        assert_eq!(file_bytes_held(&schema), 32);
        schema.format = FileFormat::Parquet;
        assert_eq!(file_bytes_held(&schema), 0);
    }

    #[test]
    fn size_guard_names_size_and_limit() {
        assert_eq!(check_size(10, 40, 100, 1000), Ok(()));
        let e = check_size(100_000_000, 40, 1 << 30, 2 << 30).unwrap_err();
        assert_eq!(
            e,
            IngestError::TooLarge {
                needed_mb: 4839,
                limit_mb: 2048
            }
        );
        assert!(e.to_string().contains("4839 MB"), "{e}");
    }

    #[test]
    fn csv_end_to_end_in_memory() {
        let csv = "user_id,timestamp,action_type,duration_ms\n\
                   u2,2023-07-01 10:00:00,view,5\n\
                   u1,2023-07-01T09:00:00Z,click,\n\
                   ,2023-07-01 09:00:00,view,1\n\
                   u1,nope,view,1\n\
                   u1,1999-12-31,view,1\n\
                   u1,2023-07-01 09:00:00,click,-3\n";
        let files = [InputFile::new("e.csv", csv.as_bytes().to_vec())];
        let mut calls = 0;
        let l = load_events_auto(&files, &LoadOptions::default(), &mut |_| calls += 1).unwrap();
        assert_eq!(calls, 1);
        let q = &l.quality;
        assert_eq!((q.rows_read, q.rows_loaded), (6, 3));
        assert_eq!(q.dropped_null_user, 1);
        assert_eq!(q.dropped_unparseable_time, 1);
        assert_eq!(q.dropped_time_too_early, 1);
        assert_eq!(q.negative_durations, 1);
        assert_eq!(q.duplicate_events, 0);
        assert_eq!(l.store.users.iter().collect::<Vec<_>>(), &["u1", "u2"]);
        assert_eq!(
            l.store.time_ms,
            vec![1_688_202_000_000, 1_688_202_000_000, 1_688_205_600_000]
        );
        assert_eq!(q.nulls[3].nulls, 1, "{:?}", q.nulls);
    }

    /// Bytes whose asynchronous reads are pending once before they answer (as a browser
    /// stream's do), counting them.
    #[derive(Debug)]
    struct Later {
        bytes: Bytes,
        async_reads: std::sync::atomic::AtomicUsize,
    }

    impl ByteSource for Later {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read(&self, start: u64, len: usize) -> Result<Bytes, String> {
            ByteSource::read(&self.bytes, start, len)
        }
        fn read_async(&self, start: u64, len: usize) -> PendingRead<'_> {
            self.async_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut waited = false;
            let bytes = self.read(start, len);
            let mut bytes = Some(bytes);
            Box::pin(std::future::poll_fn(move |cx| {
                if !waited {
                    waited = true;
                    cx.waker().wake_by_ref();
                    return std::task::Poll::Pending;
                }
                std::task::Poll::Ready(bytes.take().unwrap_or(Ok(Bytes::new())))
            }))
        }
    }

    /// Poll `f` until it is ready (its pending reads wake it at once), counting the polls.
    fn run_to_end<T>(f: impl std::future::Future<Output = T>) -> (T, usize) {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for polls in 1.. {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return (v, polls);
            }
        }
        unreachable!()
    }

    #[test]
    fn an_asynchronous_load_equals_the_synchronous_one() {
        let cfg = crate::engine::sample::SampleConfig::for_events(20_000, 5);
        let mut buf = Vec::new();
        crate::engine::sample::write_events_parquet(
            &cfg,
            &mut buf,
            ::parquet::basic::Compression::SNAPPY,
            4_096,
        )
        .expect("sample writes");
        let bytes = Bytes::from(buf);
        let later = Arc::new(Later {
            bytes: bytes.clone(),
            async_reads: Default::default(),
        });
        let files = [InputFile::from_source("e.parquet", later.clone())];
        let mapping = inspect(&files)
            .expect("footer")
            .detect_mapping()
            .expect("mapping");
        let opts = LoadOptions::default();

        let (loaded, polls) = run_to_end(load_events_async(
            &files,
            &mapping,
            &opts,
            &NoClock,
            &mut |_| {},
        ));
        let loaded = loaded.expect("loads");
        let reads = later.async_reads.load(std::sync::atomic::Ordering::Relaxed);
        assert!(reads >= 1, "the row groups are read asynchronously");
        assert_eq!(polls, reads + 1, "each read suspended the load once");
        let in_memory = load_events(
            &[InputFile::new("e.parquet", bytes)],
            &mapping,
            &opts,
            &mut |_| {},
        )
        .expect("loads");
        assert_eq!(loaded.store, in_memory.store);
        assert_eq!(loaded.quality, in_memory.quality);

        // The synchronous entry point does not wait for such a source.
        let e = load_events(&files, &mapping, &opts, &mut |_| {}).unwrap_err();
        assert!(
            matches!(&e, IngestError::Unreadable { detail, .. } if detail.contains("asynchronously")),
            "{e}"
        );
    }
}
