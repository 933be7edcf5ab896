//! Loading dropped files: hand the bytes to the engine's ingestion and keep the result.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use js_sys::Promise;
use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FileReaderSync};

use crate::engine::ingest::handoff::BatchFeed;
use crate::engine::ingest::{
    self, ByteSource, ColumnMapping, FileFormat, InputFile, LoadOptions, LoadedEvents, PendingRead,
};
use crate::engine::overview::DatasetOverview;
use crate::engine::profile::Clock;
use crate::engine::Dataset;
use crate::engine::IngestError;
use crate::protocol::{LoadProfile, Loaded, MappingNeeded, MetadataLoaded, Response};

use super::decoder::Decoder;
use super::{now_ms, progress, reader, wasm_memory_bytes, STATE};

/// The worker's clock for load profiles: `performance.now()`.
struct PerformanceClock;

impl Clock for PerformanceClock {
    fn now_ms(&self) -> f64 {
        now_ms()
    }
}

thread_local! {
    /// The `File`s of the load in progress. A [`DiskFile`] names its file by position here: a
    /// `File` handle is a JS object (neither `Send` nor `Sync`), while the engine's
    /// [`ByteSource`] must be both.
    static OPEN_FILES: RefCell<Vec<File>> = const { RefCell::new(Vec::new()) };
    /// Spans announced to the reader ([`ByteSource::will_read`]) and not read yet, with the
    /// promise of their bytes.
    static AHEAD: RefCell<Vec<(SpanKey, Promise)>> = const { RefCell::new(Vec::new()) };
}

/// A span of a file being loaded: `(slot in OPEN_FILES, start, end)`.
type SpanKey = (usize, u64, u64);

/// A dropped file, read by range from a `File.slice()`: the loader fetches the footer and then
/// a span of row groups' column chunks at a time, so the file is never copied into wasm memory
/// whole (wasm memory never shrinks). The spans are read by the reader worker one span ahead
/// of the decoder (see [`reader`]); the footer, and anything the decoder asks for beyond the
/// spans, with `FileReaderSync` here (synchronous, allowed in workers).
#[derive(Debug)]
struct DiskFile {
    slot: usize,
    len: u64,
}

/// The name of a JS exception (e.g. `NotFoundError` when the file was moved after the drop).
fn describe(e: JsValue) -> String {
    Reflect::get(&e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

impl DiskFile {
    /// `start..start + len` clamped to the file.
    fn clamp(&self, start: u64, len: usize) -> (u64, u64) {
        let end = start.saturating_add(len as u64).min(self.len);
        (start.min(end), end)
    }

    fn file(&self) -> Option<File> {
        OPEN_FILES.with(|files| files.borrow().get(self.slot).cloned())
    }
}

impl ByteSource for DiskFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, start: u64, len: usize) -> Result<Bytes, String> {
        let end = start.saturating_add(len as u64).min(self.len);
        let start = start.min(end);
        OPEN_FILES.with(|files| {
            let files = files.borrow();
            let file = files
                .get(self.slot)
                .ok_or_else(|| "the file is no longer open".to_string())?;
            let piece = file
                .slice_with_f64_and_f64(start as f64, end as f64)
                .map_err(describe)?;
            let buffer = FileReaderSync::new()
                .and_then(|r| r.read_as_array_buffer(&piece))
                .map_err(describe)?;
            Ok(Bytes::from(Uint8Array::new(&buffer).to_vec()))
        })
    }

    fn will_read(&self, start: u64, len: usize) {
        // A decoding worker reads on its own thread (`read_async` below): it waits for its loader
        // anyway (~0.5 s of a 10M-event load), and one reader thread fewer competes with the
        // loader for this machine's two cores (measured: load 2.37 → 2.29 s with sync reads in
        // the decoder, vs no gain with a reader of its own).
        if super::decoder::is_decoder() {
            return;
        }
        let (start, end) = self.clamp(start, len);
        if let Some(promise) = self
            .file()
            .and_then(|f| reader::request(&f, start as f64, end as f64))
        {
            AHEAD.with(|a| a.borrow_mut().push(((self.slot, start, end), promise)));
        }
    }

    fn read_async(&self, start: u64, len: usize) -> PendingRead<'_> {
        if super::decoder::is_decoder() {
            return Box::pin(std::future::ready(self.read(start, len)));
        }
        let (from, end) = self.clamp(start, len);
        let key = (self.slot, from, end);
        let ahead = AHEAD.with(|a| {
            let mut a = a.borrow_mut();
            let i = a.iter().position(|(k, _)| *k == key)?;
            Some(a.remove(i).1)
        });
        let promise = ahead.or_else(|| {
            self.file()
                .and_then(|f| reader::request(&f, from as f64, end as f64))
        });
        let Some(promise) = promise else {
            // No reader worker: read on this thread.
            return Box::pin(std::future::ready(self.read(start, len)));
        };
        Box::pin(async move {
            let reply = match JsFuture::from(promise).await {
                Ok(reply) => reply,
                Err(e) if e.as_string().as_deref() == Some(reader::STOPPED) => {
                    return self.read(start, len);
                }
                Err(e) => return Err(describe(e)),
            };
            let buf: ArrayBuffer = Reflect::get(&reply, &"buf".into())
                .and_then(|b| b.dyn_into())
                .map_err(describe)?;
            let got = Reflect::get(&reply, &"len".into())
                .ok()
                .and_then(|n| n.as_f64())
                .unwrap_or(0.0) as u32;
            let bytes = Uint8Array::new_with_byte_offset_and_length(&buf, 0, got).to_vec();
            reader::recycle(buf);
            Ok(Bytes::from(bytes))
        })
    }
}

/// Open `files` for reading by range; they stay open until [`close_files`].
pub(super) fn open_files(names: Vec<String>, files: Vec<File>) -> Vec<InputFile> {
    let inputs = names
        .into_iter()
        .zip(&files)
        .enumerate()
        .map(|(slot, (name, file))| {
            let source = DiskFile {
                slot,
                len: file.size() as u64,
            };
            InputFile::from_source(name, Arc::new(source))
        })
        .collect();
    OPEN_FILES.with(|f| *f.borrow_mut() = files);
    inputs
}

pub(super) fn close_files() {
    OPEN_FILES.with(|f| f.borrow_mut().clear());
    AHEAD.with(|a| a.borrow_mut().clear());
    reader::release();
}

/// The worker's memory limit for a load: the estimate (rows × `PEAK_BYTES_PER_EVENT`, plus the
/// bytes of a CSV, which is read whole; Parquet is read by range) must stay under 3.5 GiB of
/// wasm32's 4 GiB, leaving room for the decoder's buffers and the allocator. 50M events (a ~1 GB
/// file; 3,428 MiB of wasm memory after the first compute) fit; past the limit the load stops
/// before decoding with a message.
const WORKER_MEMORY_LIMIT_BYTES: u64 = 3584 << 20;

fn options() -> LoadOptions {
    LoadOptions {
        now_ms: js_sys::Date::now() as i64,
        memory_limit_bytes: WORKER_MEMORY_LIMIT_BYTES,
    }
}

/// Parquet loads of at least this many rows are decoded by the decoding worker
/// (`super::decoder`). Handing batches over has a fixed cost (the decoder opens the footers
/// again, the loader's first batch waits for the decoder's first read and decode). Measured in
/// Chromium on a 2-core VM (docs/BENCHMARKS.md, loading round 6): at 1.1M rows the decoder made
/// the load slower (371 → 473 ms), at 5.0M even (1,327 → 1,293 ms), at 9.9M even with 32 MiB
/// less wasm memory, at 48.9M 1.4 s faster. Round 8 (six batches ahead): at 9.9M ~0.1 s faster,
/// at 2.5M still even (557 vs 552 ms), so the threshold stayed.
pub(super) const DECODER_MIN_ROWS: u64 = 4_000_000;

/// One load of `files`, its batches from `feed` (a decoding worker) or decoded here.
async fn load_fed(
    id: u64,
    files: &[InputFile],
    mapping: &ColumnMapping,
    opts: &LoadOptions,
    feed: Option<&mut dyn BatchFeed>,
) -> Result<LoadedEvents, IngestError> {
    ingest::load_events_fed(
        files,
        mapping,
        opts,
        &PerformanceClock,
        &mut |p| {
            progress(
                id,
                &format!("decoding {}", p.file),
                p.rows_done,
                p.rows_total,
            )
        },
        feed,
    )
    .await
}

pub(super) async fn load_files(
    id: u64,
    names: Vec<String>,
    url_mapping: &[(String, String)],
    files: Vec<File>,
) -> Response {
    let source = names.join(", ");
    let handles = (names.clone(), files.clone());
    let files = open_files(names, files);
    let opts = options();
    let schema = match ingest::inspect(&files) {
        Ok(schema) => schema,
        Err(err) => {
            close_files();
            return Response::Failed {
                message: err.to_string(),
            };
        }
    };
    let result = match schema.resolve_mapping(url_mapping) {
        Ok(resolved) => {
            // A large Parquet load is decoded by a second worker while this one maps; should
            // that worker fail as such (not the files: their errors are relayed as they are),
            // the load runs again decoding here.
            let decoder = (schema.format == FileFormat::Parquet && schema.rows >= DECODER_MIN_ROWS)
                .then(|| Decoder::decode(handles.0, &resolved.mapping, &handles.1).ok())
                .flatten();
            let loaded = match decoder {
                Some(mut decoder) => {
                    match load_fed(id, &files, &resolved.mapping, &opts, Some(&mut decoder)).await {
                        Err(IngestError::Handoff { detail }) => {
                            drop(decoder);
                            web_sys::console::warn_1(
                                &format!("decoding worker: {detail}; decoding here").into(),
                            );
                            load_fed(id, &files, &resolved.mapping, &opts, None).await
                        }
                        other => other,
                    }
                }
                None => load_fed(id, &files, &resolved.mapping, &opts, None).await,
            };
            loaded.map(|loaded| (resolved, loaded))
        }
        Err(err) => Err(err),
    };
    drop(files);
    close_files();
    match result {
        Ok((resolved, loaded)) => {
            let overview = DatasetOverview::of(&loaded.store, source);
            let profile = LoadProfile {
                profile: loaded.profile,
                store_bytes: loaded.store.resident_bytes() as u64,
                wasm_memory_bytes: wasm_memory_bytes(),
            };
            STATE.with(|s| {
                s.borrow_mut().dataset = Some(Dataset {
                    events: loaded.store,
                    metadata: None,
                })
            });
            Response::Loaded(Box::new(Loaded {
                overview,
                schema: Some(loaded.schema),
                mapping: Some(loaded.mapping),
                detected: resolved.detected,
                mapping_note: resolved.note,
                quality: Some(loaded.quality),
                profile: Some(profile),
            }))
        }
        // The files are readable but the roles do not fit: show the editor for these files.
        Err(err) if err.is_mapping_problem() => Response::MappingNeeded(Box::new(MappingNeeded {
            schema,
            message: err.to_string(),
        })),
        Err(err) => Response::Failed {
            message: err.to_string(),
        },
    }
}

pub(super) async fn load_metadata(id: u64, names: Vec<String>, files: Vec<File>) -> Response {
    let source = names.join(", ");
    let files = open_files(names, files);
    let result = ingest::load_metadata_async(&files, None, &options(), &mut |p| {
        progress(
            id,
            &format!("decoding {}", p.file),
            p.rows_done,
            p.rows_total,
        )
    })
    .await;
    drop(files);
    close_files();
    let loaded = match result {
        Ok(l) => l,
        Err(err) => {
            return Response::Failed {
                message: err.to_string(),
            }
        }
    };
    STATE.with(|s| {
        let mut state = s.borrow_mut();
        let Some(dataset) = state.dataset.as_mut() else {
            return Response::Failed {
                message: "Load events before their user metadata.".into(),
            };
        };
        let coverage = ingest::metadata_coverage(&dataset.events, &loaded.table);
        let columns = loaded
            .table
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        dataset.metadata = Some(loaded.table);
        Response::MetadataLoaded(Box::new(MetadataLoaded {
            source,
            columns,
            quality: loaded.quality,
            coverage,
        }))
    })
}
