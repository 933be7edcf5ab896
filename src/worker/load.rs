//! Loading dropped files: hand the bytes to the engine's ingestion and keep the result.

use crate::engine::ingest::{self, InputFile, LoadOptions};
use crate::engine::overview::DatasetOverview;
use crate::engine::Dataset;
use crate::protocol::{Loaded, MappingNeeded, MetadataLoaded, Response};

use super::{progress, STATE};

fn input_files(names: Vec<String>, buffers: Vec<Vec<u8>>) -> Vec<InputFile> {
    names
        .into_iter()
        .zip(buffers)
        .map(|(name, bytes)| InputFile::new(name, bytes))
        .collect()
}

fn options() -> LoadOptions {
    LoadOptions {
        now_ms: js_sys::Date::now() as i64,
        ..LoadOptions::default()
    }
}

pub(super) fn load_files(
    id: u64,
    names: Vec<String>,
    url_mapping: &[(String, String)],
    buffers: Vec<Vec<u8>>,
) -> Response {
    let source = names.join(", ");
    let files = input_files(names, buffers);
    let opts = options();
    let schema = match ingest::inspect(&files) {
        Ok(schema) => schema,
        Err(err) => {
            return Response::Failed {
                message: err.to_string(),
            }
        }
    };
    let result = schema.resolve_mapping(url_mapping).and_then(|resolved| {
        ingest::load_events(&files, &resolved.mapping, &opts, &mut |p| {
            progress(
                id,
                &format!("decoding {}", p.file),
                p.rows_done,
                p.rows_total,
            )
        })
        .map(|loaded| (resolved, loaded))
    });
    drop(files);
    match result {
        Ok((resolved, loaded)) => {
            let overview = DatasetOverview::of(&loaded.store, source);
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

pub(super) fn load_metadata(id: u64, names: Vec<String>, buffers: Vec<Vec<u8>>) -> Response {
    let source = names.join(", ");
    let files = input_files(names, buffers);
    let result = ingest::load_metadata(&files, None, &options(), &mut |p| {
        progress(
            id,
            &format!("decoding {}", p.file),
            p.rows_done,
            p.rows_total,
        )
    });
    drop(files);
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
