//! The URL is the state: every engine setting lives in the query string, in the engine's own
//! canonical form (`Params::to_query`: human-readable keys, defaults omitted). Keys the engine
//! does not own (UI view state such as `expand`) are kept as given.

use leptos::prelude::ReadSignal;
use wasm_bindgen::JsValue;

use crate::engine::{ParamIssue, Params};

/// The page's query string without `?`.
pub fn current_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map(|s| s.trim_start_matches('?').to_owned())
        .unwrap_or_default()
}

/// Canonical form of a query and the settings that could not be used.
pub fn canonical(query: &str) -> (String, Vec<ParamIssue>) {
    let (params, mut issues, rest) = Params::from_query(query);
    // Keys outside the engine's Params are checked as strictly: a bad one is reported and
    // dropped, so its default applies (column mapping: detection).
    let mut bad: Vec<ParamIssue> = crate::engine::ingest::mapping::url_key_issues(&rest)
        .into_iter()
        .map(|(key, value, reason)| ParamIssue {
            key,
            value,
            reason,
            used: "the detected column".into(),
        })
        .collect();
    bad.extend(super::scale::link_issues(&rest));
    bad.extend(super::profile::link_issues(&rest));
    bad.extend(super::card::link_issues(&rest));
    let mut s = form_urlencoded::Serializer::new(params.to_query());
    for (k, v) in rest {
        if !bad.iter().any(|b| b.key == k) {
            s.append_pair(&k, &v);
        }
    }
    issues.extend(bad);
    (s.finish(), issues)
}

/// The whole URL query (engine settings and UI keys), shared through context.
#[derive(Clone, Copy)]
pub struct Query(pub ReadSignal<String>);

/// UI-only keys, kept in the URL next to the engine's: `expand=<card id>` (the expanded chart;
/// an id no card has is reported, see [`canonical`]) and `src=<https URL>` (a public Parquet
/// file to load). The engine returns them untouched.
///
/// The engine's part of a query: what the worker computes from. UI keys such as `expand` are
/// left out, so expanding a chart does not recompute anything.
pub fn engine_query(query: &str) -> String {
    Params::from_query(query).0.to_query()
}

/// The value of a UI-only key (`expand`, `src`), if present.
pub fn ui_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `query` with `key` set to `value` (or removed), canonicalised, and the settings that could
/// not be used (a typed value the engine rejects falls back to its default and is reported).
pub fn with_value(query: &str, key: &str, value: Option<&str>) -> (String, Vec<ParamIssue>) {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| k != key)
        .collect();
    if let Some(v) = value {
        pairs.push((key.to_owned(), v.to_owned()));
    }
    let joined = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    canonical(&joined)
}

/// The value of an engine setting as written in a URL (defaults included).
pub fn value_of(query: &str, key: &str) -> String {
    Params::from_query(query)
        .0
        .value_of(key)
        .unwrap_or_default()
}

/// How a change enters the browser history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// A new history entry (Back returns to the previous state).
    Push,
    /// Replace the current entry (intermediate positions while dragging a slider).
    Replace,
}

/// Write `query` to the address bar.
pub fn write(query: &str, nav: Nav) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(history) = window.history() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    let url = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let _ = match nav {
        Nav::Push => history.push_state_with_url(&JsValue::NULL, "", Some(&url)),
        Nav::Replace => history.replace_state_with_url(&JsValue::NULL, "", Some(&url)),
    };
}

/// "Copy link": the page's address (every setting, never the data) to the clipboard. Where the
/// clipboard is unavailable (no permission, insecure context) the link is shown selected instead,
/// ready for Ctrl+C.
#[leptos::component]
pub fn CopyLink() -> impl leptos::IntoView {
    use leptos::prelude::*;
    let (status, set_status) = signal(String::new());
    let (fallback, set_fallback) = signal(None::<String>);
    let input = NodeRef::<leptos::html::Input>::new();
    let copy = move |_| {
        let Some(window) = web_sys::window() else {
            return;
        };
        let href = window.location().href().unwrap_or_default();
        let clipboard = window.navigator().clipboard();
        wasm_bindgen_futures::spawn_local(async move {
            let copied = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&href))
                .await
                .is_ok();
            if copied {
                set_fallback.set(None);
                set_status.set("Link copied".into());
            } else {
                set_status.set("Press Ctrl+C to copy the selected link".into());
                set_fallback.set(Some(href));
                request_animation_frame(move || {
                    if let Some(el) = input.get_untracked() {
                        let _ = el.focus();
                        el.select();
                    }
                });
            }
        });
    };
    view! {
        <div class="copy-link">
            <button type="button" id="copy-link" on:click=copy title="Copy a link to this view: every setting, never your data">"Copy link"</button>
            <span id="copy-status" role="status">{move || status.get()}</span>
            {move || fallback.get().map(|href| view! {
                <input id="link-text" node_ref=input type="text" readonly aria-label="Link to this view" prop:value=href />
            })}
        </div>
    }
}
