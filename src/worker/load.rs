//! Loading dropped files: hand the bytes to the engine's ingestion and keep the result.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use js_sys::Uint8Array;
use web_sys::{File, FileReaderSync};

use crate::engine::ingest::{self, ByteSource, InputFile, LoadOptions};
use crate::engine::overview::DatasetOverview;
use crate::engine::profile::Clock;
use crate::engine::Dataset;
use crate::protocol::{LoadProfile, Loaded, MappingNeeded, MetadataLoaded, Response};

use super::{now_ms, progress, wasm_memory_bytes, STATE};

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
}

/// A dropped file, read by range with `FileReaderSync` (synchronous, allowed in workers) from a
/// `File.slice()`: the loader fetches the footer and then one row group's column chunks at a
/// time, so the file is never copied into wasm memory whole (wasm memory never shrinks).
#[derive(Debug)]
struct DiskFile {
    slot: usize,
    len: u64,
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
            let describe = |e: wasm_bindgen::JsValue| {
                js_sys::Reflect::get(&e, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
                    .unwrap_or_else(|| format!("{e:?}"))
            };
            let piece = file
                .slice_with_f64_and_f64(start as f64, end as f64)
                .map_err(describe)?;
            let buffer = FileReaderSync::new()
                .and_then(|r| r.read_as_array_buffer(&piece))
                .map_err(describe)?;
            Ok(Bytes::from(Uint8Array::new(&buffer).to_vec()))
        })
    }
}

/// Open `files` for reading by range; they stay open until [`close_files`].
fn open_files(names: Vec<String>, files: Vec<File>) -> Vec<InputFile> {
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

fn close_files() {
    OPEN_FILES.with(|f| f.borrow_mut().clear());
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

pub(super) fn load_files(
    id: u64,
    names: Vec<String>,
    url_mapping: &[(String, String)],
    files: Vec<File>,
) -> Response {
    let source = names.join(", ");
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
    let result = schema.resolve_mapping(url_mapping).and_then(|resolved| {
        ingest::load_events_profiled(
            &files,
            &resolved.mapping,
            &opts,
            &PerformanceClock,
            &mut |p| {
                progress(
                    id,
                    &format!("decoding {}", p.file),
                    p.rows_done,
                    p.rows_total,
                )
            },
        )
        .map(|loaded| (resolved, loaded))
    });
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

pub(super) fn load_metadata(id: u64, names: Vec<String>, files: Vec<File>) -> Response {
    let source = names.join(", ");
    let files = open_files(names, files);
    let result = ingest::load_metadata(&files, None, &options(), &mut |p| {
        progress(
            id,
            &format!("decoding {}", p.file),
            p.rows_done,
            p.rows_total,
        )
    });
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
