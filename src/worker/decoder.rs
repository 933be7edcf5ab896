//! The decoding worker: a second instance of this worker that decodes a Parquet load's row groups
//! while this one maps the batch before (`engine::ingest::handoff` says why).
//!
//! The worker starts one when it starts ([`prepare`]: a `blob:` boot script given this program's
//! compiled module), and a load of at least [`super::load::DECODER_MIN_ROWS`] Parquet rows takes
//! it: after the decoder's `Ready`, the loader posts `DecodeFiles` with the `File` handles. The
//! decoder reads the files by range (synchronously: see `load::DiskFile`), and posts each decoded
//! batch as Arrow IPC bytes in a transferred buffer: `{ batch, len }`, then `{ end: true }`, or
//! `{ error }` with the load's error message. The loader answers each batch it has taken with
//! `{ taken: n, buf }`, giving the buffer back for a later batch; the decoder holds its next
//! batch while [`AHEAD`] batches are not taken yet, so the posted batches never pile up. The
//! loader ends the decoder as soon as the last batch is in (its memory goes before the sort); a
//! later load starts a new one.
//!
//! Measured (Chromium, a 2-core VM; docs/BENCHMARKS.md, loading round 6): at 10M events the
//! loader's own decode stage (~0.7 s) becomes ~0.5 s of waiting and hand-over and its map stage
//! grows by ~0.15–0.2 s (the two threads share two cores with Chromium's own), so the load time
//! is unchanged; the worker's wasm memory after the load is 32 MiB smaller (no read spans, no
//! decoding scratch in it) and the browser's peak ~39 MiB lower. At 50M the load is 1.4 s
//! shorter. Round 8: allowed six batches ahead instead of two, it no longer leaves the loader
//! waiting through each of its synchronous reads, and the 10M load is ~0.1 s shorter.
//!
//! Anything that goes wrong with the decoder itself (it cannot start, stops, posts something
//! unreadable) is an `IngestError::Handoff`: the load then runs again with decoding on the
//! loading thread (`load::load_files`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, File, MessageEvent, Url, Worker};

use crate::engine::ingest::handoff::{self, BatchFeed, EventBatch, PendingBatch};
use crate::engine::ingest::{ColumnMapping, Pace};
use crate::engine::IngestError;
use crate::protocol::{self, Request, Response};

/// The decoder's boot script: its first message brings this worker's script URL and its compiled
/// `WebAssembly.Module`, so the decoder instantiates the same program without fetching or
/// compiling it again (measured: ~160 ms from `new Worker` to `Ready` when it loads the script
/// itself, as Trunk's loader shim does). Its `Ready` then comes from the program's own start.
const BOOT: &str = r#"
onmessage = (e) => {
  onmessage = null;
  self.pulseDecoder = true;
  importScripts(e.data.script);
  wasm_bindgen.initSync({ module: e.data.module });
};
"#;

thread_local! {
    /// The boot script's `blob:` URL, made once (a Worker fetches its script after its
    /// constructor returns, so the URL is kept for the worker's lifetime).
    static BOOT_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Start a decoder: a worker from [`BOOT`], sent this program. The script is `worker.js` next to
/// this worker's own script (Trunk's loader shim, `worker_loader.js`, imports it from there);
/// should that not hold, the decoder fails to start and the load decodes here.
fn boot() -> Result<Worker, JsValue> {
    let href = Reflect::get(&js_sys::global(), &"location".into())
        .and_then(|l| Reflect::get(&l, &"href".into()))?
        .as_string()
        .ok_or_else(|| JsValue::from_str("no script URL"))?;
    let script = Url::new_with_base("worker.js", &href)?.href();
    let url = match BOOT_URL.with(|u| u.borrow().clone()) {
        Some(url) => url,
        None => {
            let options = BlobPropertyBag::new();
            options.set_type("text/javascript");
            let blob =
                Blob::new_with_str_sequence_and_options(&Array::of1(&BOOT.into()), &options)?;
            let url = Url::create_object_url_with_blob(&blob)?;
            BOOT_URL.with(|u| *u.borrow_mut() = Some(url.clone()));
            url
        }
    };
    let worker = Worker::new(&url)?;
    let boot = Object::new();
    Reflect::set(&boot, &"script".into(), &script.into())?;
    Reflect::set(&boot, &"module".into(), &wasm_bindgen::module())?;
    worker.post_message(&boot)?;
    Ok(worker)
}

/// Batches the decoder may post ahead of the ones the loader has taken (each ~5 MB at the
/// sample's 131,072 rows).
///
/// Why six: the decoder reads its files synchronously, a span of up to 16 MB at a time (~40 ms
/// in Chromium), and posts nothing meanwhile; the loader maps a batch in ~15 ms. With two
/// ahead, the loader ran dry at every span and waited. Measured at 10M events
/// (`knobs_chromium.mjs`, alternating, docs/BENCHMARKS.md loading round 7): load 2,126 → 2,050 ms
/// and 2,122 → 2,016 ms with six (12 measured 2,079 ms), browser peak unchanged (895–905 vs
/// 896 MiB).
const AHEAD: u32 = 6;

fn handoff_error(detail: impl Into<String>) -> IngestError {
    IngestError::Handoff {
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------- the loading worker's side

/// What the decoder has sent that the loader has not taken yet.
#[derive(Default)]
struct Inbox {
    /// Each batch's buffer and its length in bytes (the buffer may be longer).
    batches: VecDeque<(ArrayBuffer, u32)>,
    /// `Some(Ok)`: the decoder reached the end; `Some(Err)`: it failed or stopped.
    end: Option<Result<(), IngestError>>,
    /// Set once the decoder posted `Ready`.
    ready: bool,
    /// `DecodeFiles`, kept until the decoder is ready for it.
    request: Option<Object>,
    /// The resolve function of the promise the loader awaits, if it is waiting.
    wake: Option<Function>,
}

impl Inbox {
    fn wake(&mut self) {
        if let Some(f) = self.wake.take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}

/// A decoder worker, as the loading worker's [`BatchFeed`] once it was given files
/// ([`Decoder::decode`]). Dropping it ends the worker.
pub(super) struct Decoder {
    worker: Worker,
    inbox: Rc<RefCell<Inbox>>,
    taken: u32,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

thread_local! {
    /// A decoder started ahead of the first load (see [`prepare`]).
    static SPARE: RefCell<Option<Decoder>> = const { RefCell::new(None) };
}

/// Start a decoder now, for the first file load to take: starting one (a worker, this program
/// instantiated in it) takes ~80–100 ms, which would otherwise come first in the load. Not in a
/// decoder itself. An idle decoder is a few MB (its wasm memory starts small; the code is the
/// module this worker compiled).
pub(super) fn prepare() {
    if !is_decoder() {
        SPARE.with(|s| *s.borrow_mut() = Decoder::spawn().ok());
    }
}

/// Whether this instance is a decoder (its boot script says so).
pub(super) fn is_decoder() -> bool {
    Reflect::get(&js_sys::global(), &"pulseDecoder".into()).is_ok_and(|v| v.is_truthy())
}

impl Decoder {
    /// A decoder for a load of `files`: the one [`prepare`] started if it is still alive, else a
    /// new one. Errors when no worker can be created.
    pub(super) fn decode(
        names: Vec<String>,
        mapping: &ColumnMapping,
        files: &[File],
    ) -> Result<Decoder, IngestError> {
        let spare = SPARE.with(|s| s.borrow_mut().take());
        let decoder = match spare.filter(|d| d.inbox.borrow().end.is_none()) {
            Some(d) => d,
            None => Decoder::spawn()?,
        };
        let request = protocol::encode(
            0,
            &Request::DecodeFiles {
                names,
                mapping: mapping.clone(),
            },
        );
        let message = Object::new();
        let _ = Reflect::set(&message, &"json".into(), &request.into());
        let list = Array::new();
        for f in files {
            list.push(f);
        }
        let _ = Reflect::set(&message, &"files".into(), &list);
        let mut inbox = decoder.inbox.borrow_mut();
        if inbox.ready {
            if decoder.worker.post_message(&message).is_err() {
                inbox.end = Some(Err(handoff_error("the files could not be sent")));
            }
        } else {
            inbox.request = Some(message);
        }
        drop(inbox);
        Ok(decoder)
    }

    /// Start a decoder worker; it asks for nothing until [`Decoder::decode`] gives it files.
    fn spawn() -> Result<Decoder, IngestError> {
        let worker = boot().map_err(|_| handoff_error("no decoding worker"))?;
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let on_message = {
            let inbox = inbox.clone();
            let worker = worker.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                let mut inbox = inbox.borrow_mut();
                if let Ok(buf) =
                    Reflect::get(&data, &"batch".into()).and_then(|b| b.dyn_into::<ArrayBuffer>())
                {
                    let len = Reflect::get(&data, &"len".into())
                        .ok()
                        .and_then(|n| n.as_f64())
                        .map_or(buf.byte_length(), |n| n as u32);
                    inbox.batches.push_back((buf, len));
                } else if Reflect::get(&data, &"end".into()).is_ok_and(|e| e.is_truthy()) {
                    inbox.end.get_or_insert(Ok(()));
                } else if let Some(message) = Reflect::get(&data, &"error".into())
                    .ok()
                    .and_then(|e| e.as_string())
                {
                    inbox
                        .end
                        .get_or_insert(Err(IngestError::Decoding { message }));
                } else {
                    let json = Reflect::get(&data, &"json".into())
                        .ok()
                        .and_then(|j| j.as_string())
                        .unwrap_or_default();
                    match protocol::decode::<Response>(&json).map(|e| e.body) {
                        Ok(Response::Ready) if !inbox.ready => {
                            inbox.ready = true;
                            if let Some(request) = inbox.request.take() {
                                if worker.post_message(&request).is_err() {
                                    inbox.end =
                                        Some(Err(handoff_error("the files could not be sent")));
                                }
                            }
                        }
                        // Its panic hook's message, or anything else: it stopped decoding.
                        Ok(Response::Failed { message }) => {
                            inbox.end.get_or_insert(Err(handoff_error(message)));
                        }
                        _ => {
                            inbox
                                .end
                                .get_or_insert(Err(handoff_error("an unexpected message")));
                        }
                    }
                }
                inbox.wake();
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error = {
            let inbox = inbox.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                // Handled here: this worker's own `onerror` is what the UI reads as a crash.
                if let Some(e) = event.dyn_ref::<web_sys::Event>() {
                    e.prevent_default();
                }
                let mut inbox = inbox.borrow_mut();
                inbox
                    .end
                    .get_or_insert(Err(handoff_error("the decoding worker stopped")));
                inbox.wake();
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Decoder {
            worker,
            inbox,
            taken: 0,
            _on_message: on_message,
            _on_error: on_error,
        })
    }
}

impl BatchFeed for Decoder {
    fn next_batch(&mut self) -> PendingBatch<'_> {
        Box::pin(async move {
            loop {
                let waiting = {
                    let mut inbox = self.inbox.borrow_mut();
                    if let Some((buf, len)) = inbox.batches.pop_front() {
                        drop(inbox);
                        let bytes =
                            Uint8Array::new_with_byte_offset_and_length(&buf, 0, len).to_vec();
                        // The word that it was taken brings the buffer back for the next batch
                        // (no garbage buffer per batch on either side).
                        self.taken += 1;
                        let word = Object::new();
                        let _ = Reflect::set(&word, &"taken".into(), &self.taken.into());
                        let _ = Reflect::set(&word, &"buf".into(), &buf);
                        let _ = self
                            .worker
                            .post_message_with_transfer(&word, &Array::of1(&buf));
                        return handoff::decode(bytes).map(Some);
                    }
                    if let Some(end) = &inbox.end {
                        // Done with it: its memory goes now, before the store is sorted.
                        self.worker.terminate();
                        return end.clone().map(|()| None);
                    }
                    Promise::new(&mut |resolve, _| inbox.wake = Some(resolve))
                };
                let _ = JsFuture::from(waiting).await;
            }
        })
    }
}

// ---------------------------------------------------------------- the decoding worker's side

thread_local! {
    /// Batches posted by this decoder, and taken by its loader (from `{ taken }`).
    static POSTED: Cell<u32> = const { Cell::new(0) };
    static TAKEN: Cell<u32> = const { Cell::new(0) };
    /// Buffers the loader gave back, for the next batches.
    static POOL: RefCell<Vec<ArrayBuffer>> = const { RefCell::new(Vec::new()) };
    /// The resolve function of the pause the decoder awaits, if it is paused.
    static RESUME: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// A `{ taken: n }` word from the loader (handled at once, even while the decoding runs).
/// Returns false for any other message.
pub(super) fn taken(data: &JsValue) -> bool {
    let Some(n) = Reflect::get(data, &"taken".into())
        .ok()
        .and_then(|n| n.as_f64())
    else {
        return false;
    };
    TAKEN.set(n as u32);
    if let Ok(buf) = Reflect::get(data, &"buf".into()).and_then(|b| b.dyn_into::<ArrayBuffer>()) {
        POOL.with(|p| p.borrow_mut().push(buf));
    }
    if let Some(f) = RESUME.with(|r| r.borrow_mut().take()) {
        let _ = f.call0(&JsValue::NULL);
    }
    true
}

fn post_to_loader(message: &JsValue, transfer: Option<&ArrayBuffer>) {
    let scope = super::scope();
    let _ = match transfer {
        Some(buf) => scope.post_message_with_transfer(message, &Array::of1(buf)),
        None => scope.post_message(message),
    };
}

/// Hold the next batch while [`AHEAD`] posted batches are not taken yet.
fn pace() -> Option<Pace> {
    let behind = || POSTED.get() >= TAKEN.get() + AHEAD;
    behind().then(|| -> Pace {
        Box::pin(async move {
            // Resumed by each `{ taken }`; wait again while the loader is still behind.
            while behind() {
                let resumed = Promise::new(&mut |resolve, _| {
                    RESUME.with(|r| *r.borrow_mut() = Some(resolve));
                });
                let _ = JsFuture::from(resumed).await;
            }
        })
    })
}

/// Decode `files` for the loader that sent `DecodeFiles`, posting every batch.
pub(super) async fn decode(names: Vec<String>, mapping: ColumnMapping, files: Vec<File>) {
    let inputs = super::load::open_files(names, files);
    let mut each = |batch: EventBatch| -> Result<(), IngestError> {
        let bytes = handoff::encode(&batch)?;
        // A buffer the loader gave back if one is large enough, else a new one with room for
        // the slightly larger batches that follow.
        let len = bytes.len() as u32;
        let buf = POOL
            .with(|p| {
                let mut p = p.borrow_mut();
                let i = p.iter().position(|b| b.byte_length() >= len)?;
                Some(p.swap_remove(i))
            })
            .unwrap_or_else(|| ArrayBuffer::new(len + len / 4));
        Uint8Array::new_with_byte_offset_and_length(&buf, 0, len).copy_from(&bytes);
        let message = Object::new();
        let _ = Reflect::set(&message, &"batch".into(), &buf);
        let _ = Reflect::set(&message, &"len".into(), &len.into());
        post_to_loader(&message, Some(&buf));
        POSTED.set(POSTED.get() + 1);
        Ok(())
    };
    let result = handoff::decode_events(&inputs, &mapping, &mut each, &pace).await;
    drop(inputs);
    super::load::close_files();
    let message = Object::new();
    match result {
        Ok(()) => {
            let _ = Reflect::set(&message, &"end".into(), &true.into());
        }
        Err(e) => {
            let _ = Reflect::set(&message, &"error".into(), &e.to_string().into());
        }
    }
    post_to_loader(&message, None);
}
