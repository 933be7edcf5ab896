//! The file reader: a second, nested worker that reads dropped files' row-group spans while this
//! worker decodes the span before.
//!
//! Why: reading a `File` costs the reading thread itself (Chromium delivers the bytes in tasks on
//! that thread: ~300 ms of a 10M-event load with `FileReaderSync`, ~170–210 ms with a BYOB
//! stream, and no overlap with decoding when the decoder's thread is the one reading). A reader
//! thread of its own takes that off the load's critical path; the span arrives as a transferred
//! `ArrayBuffer` (no copy) and is copied once into wasm memory. The buffer then goes back to the
//! reader, which fills it again (a BYOB stream), so a load leaves no garbage buffers behind.
//!
//! The reader is a classic worker made from a `blob:` URL (no extra file to deploy). If it cannot
//! be started, or stops (its `error` event), `load::DiskFile` reads on this thread instead: the
//! requests waiting for it are rejected with [`STOPPED`] and retried there.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, File, MessageEvent, Url, Worker};

/// The reader's script. Requests `{ id, file, start, end }` are served one after another (a
/// promise chain): a BYOB stream of `file.slice(start, end)` fills a recycled buffer (or a new
/// one when none is large enough), posted back transferred as `{ id, buf, len }`, or
/// `{ id, error }`. `{ recycle: buf }` returns a buffer to the pool (at most 3 kept);
/// `{ release: true }` empties it (a load is over).
const SCRIPT: &str = r#"
let pool = [];
let chain = Promise.resolve();
async function read(file, start, end) {
  const n = end - start;
  const i = pool.findIndex((b) => b.byteLength >= n);
  let buf = i >= 0 ? pool.splice(i, 1)[0] : new ArrayBuffer(n);
  const reader = file.slice(start, end).stream().getReader({ mode: 'byob' });
  let len = 0;
  while (len < n) {
    const { done, value } = await reader.read(new Uint8Array(buf, len, n - len));
    if (value) buf = value.buffer;
    if (done) break;
    len += value.byteLength;
  }
  reader.releaseLock();
  return { buf, len };
}
onmessage = (e) => {
  const m = e.data;
  if (m.recycle) {
    if (pool.length < 3) pool.push(m.recycle);
    return;
  }
  if (m.release) {
    pool = [];
    return;
  }
  chain = chain.then(async () => {
    try {
      const { buf, len } = await read(m.file, m.start, m.end);
      postMessage({ id: m.id, buf, len }, [buf]);
    } catch (err) {
      postMessage({ id: m.id, error: String((err && err.name) || err) });
    }
  });
};
"#;

/// What a request waiting for a reader that stopped is rejected with.
pub(super) const STOPPED: &str = "the file reader stopped";

struct Reader {
    worker: Worker,
    next_id: u32,
    /// Requests not answered yet: id → the resolve and reject of the promise awaiting them.
    waiting: HashMap<u32, (Function, Function)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

thread_local! {
    /// The reader, started by the first request; `Err` once it could not be started.
    static READER: RefCell<Option<Result<Reader, ()>>> = const { RefCell::new(None) };
}

fn spawn_reader() -> Result<Reader, JsValue> {
    let parts = Array::of1(&SCRIPT.into());
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options)?;
    // Not revoked: the script is fetched after the constructor returns, and the URL is one
    // small blob for the worker's lifetime.
    let url = Url::create_object_url_with_blob(&blob)?;
    let worker = Worker::new(&url)?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(answer);
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let on_error = Closure::<dyn FnMut(JsValue)>::new(stopped);
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Reader {
        worker,
        next_id: 1,
        waiting: HashMap::new(),
        _on_message: on_message,
        _on_error: on_error,
    })
}

/// The reader failed (its script did not load, or it threw): no more requests go to it, and the
/// waiting ones are rejected with [`STOPPED`]. The error is handled here (not passed on to this
/// worker's own `onerror`, which the UI reads as an engine crash).
fn stopped(event: JsValue) {
    if let Some(e) = event.dyn_ref::<web_sys::Event>() {
        e.prevent_default();
    }
    let previous = READER.with(|r| r.borrow_mut().replace(Err(())));
    if let Some(Ok(reader)) = previous {
        reader.worker.terminate();
        for (_, (_, reject)) in reader.waiting {
            let _ = reject.call1(&JsValue::NULL, &STOPPED.into());
        }
    }
}

/// A reply from the reader: settle the promise waiting for it.
fn answer(event: MessageEvent) {
    let data = event.data();
    let Some(id) = Reflect::get(&data, &"id".into())
        .ok()
        .and_then(|v| v.as_f64())
    else {
        return;
    };
    let settle = READER.with(|r| match r.borrow_mut().as_mut() {
        Some(Ok(reader)) => reader.waiting.remove(&(id as u32)),
        _ => None,
    });
    let Some((resolve, reject)) = settle else {
        return;
    };
    let error = Reflect::get(&data, &"error".into()).unwrap_or(JsValue::UNDEFINED);
    if error.is_undefined() {
        let _ = resolve.call1(&JsValue::NULL, &data);
    } else {
        let _ = reject.call1(&JsValue::NULL, &error);
    }
}

/// Ask the reader for `file[start..end]`: a promise of `{ buf: ArrayBuffer, len }` (rejected
/// with the error's name), or `None` when there is no reader.
pub(super) fn request(file: &File, start: f64, end: f64) -> Option<Promise> {
    READER.with(|r| {
        let mut slot = r.borrow_mut();
        if slot.is_none() {
            *slot = Some(spawn_reader().map_err(|e| {
                web_sys::console::warn_2(&"Pulse: no reader worker; reading inline".into(), &e);
            }));
        }
        let Some(Ok(reader)) = slot.as_mut() else {
            return None;
        };
        let id = reader.next_id;
        reader.next_id = reader.next_id.wrapping_add(1);
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        let msg = Object::new();
        let _ = Reflect::set(&msg, &"id".into(), &id.into());
        let _ = Reflect::set(&msg, &"file".into(), file);
        let _ = Reflect::set(&msg, &"start".into(), &start.into());
        let _ = Reflect::set(&msg, &"end".into(), &end.into());
        reader.worker.post_message(&msg).ok()?;
        reader.waiting.insert(id, settle?);
        Some(promise)
    })
}

/// A load is over: the reader drops its spare buffers.
pub(super) fn release() {
    READER.with(|r| {
        if let Some(Ok(reader)) = r.borrow().as_ref() {
            let msg = Object::new();
            let _ = Reflect::set(&msg, &"release".into(), &true.into());
            let _ = reader.worker.post_message(&msg);
        }
    });
}

/// Give a read's buffer back to the reader for the next read.
pub(super) fn recycle(buf: ArrayBuffer) {
    READER.with(|r| {
        if let Some(Ok(reader)) = r.borrow().as_ref() {
            let msg = Object::new();
            let _ = Reflect::set(&msg, &"recycle".into(), &buf);
            let _ = reader
                .worker
                .post_message_with_transfer(&msg, &Array::of1(&buf));
        }
    });
}
