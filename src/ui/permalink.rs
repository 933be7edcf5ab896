//! The URL is the state: every engine setting lives in the query string, in the engine's own
//! canonical form (`Params::to_query`: human-readable keys, defaults omitted). Keys the engine
//! does not own (UI view state such as `expand`) are kept as given.

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
    let mut s = form_urlencoded::Serializer::new(params.to_query());
    for (k, v) in rest {
        if !bad.iter().any(|b| b.key == k) {
            s.append_pair(&k, &v);
        }
    }
    issues.extend(bad);
    (s.finish(), issues)
}

/// `query` with `key` set to `value` (or removed), canonicalised.
pub fn with_value(query: &str, key: &str, value: Option<&str>) -> String {
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
    canonical(&joined).0
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
