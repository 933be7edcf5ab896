//! The column-mapping editor: which column of the user's files is the user id, the event time,
//! the action, … Detection picks the roles; the analyst can change any of them here.
//!
//! The mapping is part of the permalink (`col.user=…`, `col.time=…`; only roles that differ
//! from detection are written, so a link without `col.*` keys keeps following detection). A
//! change decodes the kept files again with the new projection. The rules — which columns fit
//! which role, how link keys apply, when a link made for another file falls back to detection —
//! are the engine's (`engine::ingest::mapping`); this module only shows them.

use leptos::prelude::*;
use web_sys::HtmlSelectElement;

use super::controls::SetParam;
use super::permalink::Nav;
use crate::engine::ingest::mapping::{role_fits, ResolvedMapping, ROLES};
use crate::engine::ingest::{ColumnMapping, DatasetSchema};
use crate::protocol::{Loaded, MappingNeeded};

/// What the editor shows: the schema of the files of the newest event load and the mapping in
/// effect (or why none works yet).
#[derive(Debug, Clone, PartialEq)]
pub struct MappingView {
    pub schema: DatasetSchema,
    /// The mapping the loaded data was decoded with; `None` while the files still need one.
    pub mapping: Option<ColumnMapping>,
    pub detected: Option<ColumnMapping>,
    /// Why the link's mapping was not used (it named columns this data lacks).
    pub note: Option<String>,
    /// Why the files could not be loaded with the mapping asked for.
    pub problem: Option<String>,
}

impl MappingView {
    /// The view after a successful load of files (`None` for the generated sample).
    pub fn of_loaded(l: &Loaded) -> Option<MappingView> {
        let schema = l.schema.clone()?;
        Some(MappingView {
            schema,
            mapping: l.mapping.clone(),
            detected: l.detected.clone(),
            note: l.mapping_note.clone(),
            problem: None,
        })
    }

    pub fn of_needed(m: &MappingNeeded) -> MappingView {
        MappingView {
            detected: m.schema.detected.clone(),
            schema: m.schema.clone(),
            mapping: None,
            note: None,
            problem: Some(m.message.clone()),
        }
    }

    /// The `col.*` pairs the URL should carry for the mapping in effect.
    pub fn url_pairs(&self) -> Option<Vec<(String, String)>> {
        let mapping = self.mapping.clone()?;
        Some(
            ResolvedMapping {
                mapping,
                detected: self.detected.clone(),
                note: None,
            }
            .url_pairs(),
        )
    }
}

/// The `col.*` pairs of a permalink query, in role order (so two spellings of one link
/// compare equal).
pub fn url_pairs(query: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.starts_with("col."))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by_key(|(k, _)| ROLES.iter().position(|r| r.0 == k).unwrap_or(ROLES.len()));
    pairs
}

/// `query` with its `col.*` pairs replaced by `pairs` (canonicalised).
pub fn with_pairs(query: &str, pairs: &[(String, String)]) -> String {
    let mut q = query.to_owned();
    for (k, _) in url_pairs(query) {
        q = super::permalink::with_value(&q, &k, None).0;
    }
    for (k, v) in pairs {
        q = super::permalink::with_value(&q, k, Some(v)).0;
    }
    q
}

fn role_value(m: Option<&ColumnMapping>, key: &str) -> Option<String> {
    m?.to_query_pairs()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[component]
pub fn MappingEditor(
    view: ReadSignal<Option<MappingView>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    move || {
        let v = view.get()?;
        let q = query.get();
        let in_url = url_pairs(&q);
        let overridden = !in_url.is_empty();
        let rows = ROLES
            .iter()
            .map(|&(key, label, required)| {
                let detected = role_value(v.detected.as_ref(), key).unwrap_or_default();
                let url = in_url
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone());
                let current = url
                    .clone()
                    .or_else(|| role_value(v.mapping.as_ref(), key))
                    .unwrap_or_else(|| detected.clone());
                let id = format!("map-{}", key.trim_start_matches("col."));
                let mut options: Vec<(String, String)> = Vec::new();
                if !required {
                    options.push((String::new(), "— not mapped —".into()));
                } else if current.is_empty() {
                    options.push((String::new(), "— choose a column —".into()));
                }
                for c in &v.schema.columns {
                    if role_fits(key, c.kind) {
                        options.push((c.name.clone(), format!("{} ({})", c.name, c.data_type)));
                    } else if c.name == current {
                        options.push((
                            c.name.clone(),
                            format!("{} ({}, does not fit)", c.name, c.data_type),
                        ));
                    }
                }
                let on_change = move |ev: leptos::ev::Event| {
                    let el: HtmlSelectElement = event_target(&ev);
                    let chosen = el.value();
                    // Equal to detection: drop the key so the link keeps following detection.
                    let value = (chosen != detected).then_some(chosen);
                    set.0.run((key, value, Nav::Push));
                };
                let changed = url.is_some();
                view! {
                    <div class="control" class:overridden=changed>
                        <label for=id.clone()>{label}{changed.then_some(" (changed)")}</label>
                        <select id=id data-value=current.clone() on:change=on_change>
                            {options.into_iter().map(|(value, text)| {
                                let selected = value == current;
                                view! { <option value=value selected=selected>{text}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                }
            })
            .collect_view();
        let in_url_keys: Vec<&'static str> = ROLES
            .iter()
            .map(|r| r.0)
            .filter(|k| in_url.iter().any(|(u, _)| u == k))
            .collect();
        let reset = move |_| {
            // One history entry for the whole reset.
            for (i, key) in in_url_keys.iter().enumerate() {
                let nav = if i == 0 { Nav::Push } else { Nav::Replace };
                set.0.run((key, None, nav));
            }
        };
        Some(view! {
            <section class="controls mapping-editor" id="mapping-editor" aria-label="Column mapping"
                data-state=if v.problem.is_some() { "needed" } else { "applied" }>
                <h2>"Column mapping"</h2>
                <p class="muted">"Which column plays which role. Only mapped columns are decoded; a change reloads the files."</p>
                {v.problem.clone().map(|p| view! { <p class="status error" id="mapping-problem" role="alert">{p}</p> })}
                {v.note.clone().map(|n| view! { <p class="muted" id="mapping-note" role="status">{n}</p> })}
                {rows}
                {overridden.then(|| view! {
                    <button type="button" class="button secondary" id="mapping-reset" on:click=reset>"Use detected columns"</button>
                })}
            </section>
        })
    }
}
