//! `src=<https URL>`: a link can name a public Parquet (or CSV) file; the page fetches it over
//! CORS, streaming, with progress (bytes received of `Content-Length`), then loads it exactly like
//! a dropped file. A failed fetch says why: a bad URL, a network/CORS failure, an HTTP status.
//! (A body that is not Parquet or CSV is rejected by the engine's loader with its own message.)

use js_sys::{Array, Function, Reflect, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, Response};

use super::client::{EngineClient, FileKind};

/// Where a `src=` fetch is.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteState {
    Fetching {
        url: String,
        received: u64,
        total: Option<u64>,
    },
    /// Fetched and handed to the engine.
    Fetched {
        url: String,
        bytes: u64,
    },
    Failed {
        url: String,
        message: String,
    },
}

/// Only https (and http on this machine, for local testing) — a link must not make the page
/// fetch from odd schemes.
fn check_url(url: &str) -> Result<(), String> {
    let ok = url.starts_with("https://")
        || url.starts_with("http://127.0.0.1")
        || url.starts_with("http://localhost");
    if ok {
        Ok(())
    } else {
        Err("src must be an https:// URL of a public Parquet or CSV file".into())
    }
}

/// The file name for the data panel: the URL's last path segment.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("remote.parquet")
        .to_string()
}

/// Fetch `url` and load it; on failure load the sample so the dashboard is not empty.
pub fn load(url: String, client: EngineClient, set_state: WriteSignal<Option<RemoteState>>) {
    wasm_bindgen_futures::spawn_local(async move {
        let progress = |received: u64, total: Option<u64>| {
            set_state.set(Some(RemoteState::Fetching {
                url: url.clone(),
                received,
                total,
            }))
        };
        progress(0, None);
        match fetch(&url, progress).await {
            Ok((file, bytes)) => {
                set_state.set(Some(RemoteState::Fetched {
                    url: url.clone(),
                    bytes,
                }));
                client.load_files(vec![file], FileKind::Events);
            }
            Err(message) => {
                set_state.set(Some(RemoteState::Failed {
                    url: url.clone(),
                    message,
                }));
                client.load_sample();
            }
        }
    });
}

async fn fetch(url: &str, progress: impl Fn(u64, Option<u64>)) -> Result<(File, u64), String> {
    check_url(url)?;
    let window = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(window.fetch_with_str(url)).await.map_err(|_| {
        format!("could not fetch {url}: a network error, or the server does not allow cross-origin requests (CORS: it must send Access-Control-Allow-Origin)")
    })?;
    let resp: Response = resp.unchecked_into();
    if !resp.ok() {
        return Err(format!(
            "the server answered HTTP {} {} for {url}",
            resp.status(),
            resp.status_text()
        ));
    }
    let total = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok());
    let body = resp.body().ok_or("the response has no body")?;
    let reader = call0(&body, "getReader")?;
    let chunks = Array::new();
    let mut received = 0u64;
    progress(0, total);
    loop {
        let next = JsFuture::from(js_sys::Promise::from(call0(&reader, "read")?))
            .await
            .map_err(|_| format!("the download of {url} broke off after {received} bytes"))?;
        if Reflect::get(&next, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value: Uint8Array = Reflect::get(&next, &"value".into())
            .map_err(|_| "unreadable chunk")?
            .unchecked_into();
        received += value.length() as u64;
        chunks.push(&value);
        progress(received, total);
    }
    let file = File::new_with_buffer_source_sequence(&chunks, &file_name(url))
        .map_err(|_| "could not assemble the downloaded bytes")?;
    Ok((file, received))
}

fn header(resp: &Response, name: &str) -> Option<String> {
    let headers = Reflect::get(resp, &"headers".into()).ok()?;
    let get: Function = Reflect::get(&headers, &"get".into())
        .ok()?
        .dyn_into()
        .ok()?;
    get.call1(&headers, &name.into()).ok()?.as_string()
}

fn call0(target: &JsValue, method: &str) -> Result<JsValue, String> {
    let f: Function = Reflect::get(target, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("this browser cannot stream downloads ({method} missing)"))?;
    f.call0(target).map_err(|_| format!("{method} failed"))
}

/// The rail's line about a `src=` file.
#[component]
pub fn RemoteStatus(state: ReadSignal<Option<RemoteState>>) -> impl IntoView {
    move || {
        state.get().map(|s| match s {
            RemoteState::Fetching { url, received, total } => {
                let pct = total.filter(|t| *t > 0).map(|t| received as f64 * 100.0 / t as f64);
                view! {
                    <div class="status" id="src-status" data-state="loading" data-received=received.to_string()>
                        <label for="src-progress">{format!(
                            "Fetching {} — {}",
                            file_name(&url),
                            match total {
                                Some(t) => format!("{:.1} of {:.1} MB", received as f64 / 1e6, t as f64 / 1e6),
                                None => format!("{:.1} MB", received as f64 / 1e6),
                            }
                        )}</label>
                        {match pct {
                            Some(p) => view! { <progress id="src-progress" max="100" value=format!("{p:.0}")></progress> }.into_any(),
                            None => view! { <progress id="src-progress"></progress> }.into_any(),
                        }}
                    </div>
                }
                .into_any()
            }
            RemoteState::Fetched { url, bytes } => view! {
                <div class="status muted" id="src-status" data-state="fetched" data-bytes=bytes.to_string()>
                    {format!("Fetched {} ({:.1} MB) from the link.", url, bytes as f64 / 1e6)}
                </div>
            }
            .into_any(),
            RemoteState::Failed { url: _, message } => view! {
                <div class="status error" id="src-status" data-state="error" role="alert">
                    {format!("The linked data could not be loaded: {message}. Showing the sample instead.")}
                </div>
            }
            .into_any(),
        })
    }
}
