//! "Run at scale": when the data outgrows the tab, hand the same definitions to Spark. The panel
//! shows the sizing advice for a full-scale volume and node shape (with its arithmetic), the
//! `spark-submit` command, and downloads the PySpark job generated for the current settings —
//! the same job `pulse export-spark` prints. Volume and node shape are in the URL
//! (`scale.gb`, `scale.node`); the numbers come from the worker (`Request::ExportSpark`).

use leptos::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement};

use super::card::download_text;
use super::client::EngineClient;
use super::controls::SetParam;
use super::permalink::Nav;
use crate::engine::sizing::{parse_target_gb, NodeShape};
use crate::engine::spark::{ScaleOut, JOB_FILE};
use crate::engine::ParamIssue;
use crate::protocol::{Loaded, Request};

pub const GB_KEY: &str = "scale.gb";
pub const NODE_KEY: &str = "scale.node";
const DEFAULT_GB: &str = "100";

fn url_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Check the panel's keys in a link (strictly: a bad value is reported and dropped).
pub fn link_issues(pairs: &[(String, String)]) -> Vec<ParamIssue> {
    let mut issues = Vec::new();
    for (k, v) in pairs {
        let (reason, used) = match k.as_str() {
            GB_KEY => (parse_target_gb(v).err(), DEFAULT_GB.to_string()),
            NODE_KEY => (NodeShape::parse(v).err(), NodeShape::default().to_string()),
            _ => (None, String::new()),
        };
        if let Some(reason) = reason {
            issues.push(ParamIssue {
                key: k.clone(),
                value: v.clone(),
                reason,
                used,
            });
        }
    }
    issues
}

#[component]
pub fn RunAtScale(
    query: ReadSignal<String>,
    loaded: ReadSignal<Option<Loaded>>,
    result: ReadSignal<Option<Result<ScaleOut, String>>>,
) -> impl IntoView {
    let client = expect_context::<EngineClient>();
    let set = expect_context::<SetParam>();
    let (open, set_open) = signal(false);
    let gb = move || url_value(&query.get(), GB_KEY).unwrap_or_else(|| DEFAULT_GB.into());
    let node = move || {
        url_value(&query.get(), NODE_KEY).unwrap_or_else(|| NodeShape::default().to_string())
    };
    // Ask the worker while the panel is open, again whenever settings or data change.
    Effect::new(move |_| {
        let q = query.get();
        let bytes = loaded.get().and_then(|l| l.schema.map(|s| s.total_bytes));
        if open.get() {
            client.export_spark(Request::ExportSpark {
                query: q,
                target_gb: gb(),
                node: node(),
                dataset_bytes: bytes,
            });
        }
    });
    let on_toggle = move |ev: leptos::ev::Event| {
        let el: web_sys::HtmlDetailsElement = event_target(&ev);
        set_open.set(el.open());
    };
    let on_gb = move |ev: leptos::ev::Event| {
        let el: HtmlSelectElement = event_target(&ev);
        let v = el.value();
        set.0
            .run((GB_KEY, (v != DEFAULT_GB).then_some(v), Nav::Push));
    };
    let on_node = move |ev: leptos::ev::Event| {
        let el: HtmlInputElement = event_target(&ev);
        let v = el.value().trim().to_string();
        match NodeShape::parse(&v) {
            Ok(shape) => {
                el.set_custom_validity("");
                let canonical = shape.to_string();
                let value = (shape != NodeShape::default()).then_some(canonical);
                set.0.run((NODE_KEY, value, Nav::Push));
            }
            Err(e) => {
                el.set_custom_validity(&e);
                el.report_validity();
            }
        }
    };
    let body = move || match result.get() {
        None => view! { <p class="muted">"Sizing…"</p> }.into_any(),
        Some(Err(message)) => {
            view! { <p class="status error" id="scale-error" role="alert">{message}</p> }.into_any()
        }
        Some(Ok(s)) => {
            let a = &s.advice;
            let job = s.job.clone();
            let submit = s.submit.clone();
            let copy_text = submit.clone();
            view! {
                <div id="scale-advice"
                    data-target-gb=format!("{}", a.target_bytes as f64 / 1e9)
                    data-node=a.node.to_string()
                    data-executors=a.executors.to_string()
                    data-cores-per-executor=a.cores_per_executor.to_string()
                    data-heap-gb=a.executor_heap_gb.to_string()
                    data-overhead-mb=a.executor_overhead_mb.to_string()
                    data-shuffle-partitions=a.shuffle_partitions.to_string()
                    data-recommended-nodes=a.recommended_nodes.to_string()
                    data-job-bytes=s.job.len().to_string()>
                    <h3>"Arithmetic"</h3>
                    <ul class="scale-lines">
                        {a.lines.iter().map(|l| view! { <li>{l.clone()}</li> }).collect_view()}
                    </ul>
                    <h3>"spark-submit"</h3>
                    <pre id="scale-submit" class="code">{submit}</pre>
                    <div class="pickers">
                        <button type="button" class="button" id="scale-download"
                            on:click=move |_| download_text(JOB_FILE, &job, "text/x-python")>
                            {format!("Download {JOB_FILE}")}
                        </button>
                        <button type="button" class="button secondary" id="scale-copy"
                            on:click=move |_| {
                                if let Some(w) = web_sys::window() {
                                    let _ = w.navigator().clipboard().write_text(&copy_text);
                                }
                            }>
                            "Copy command"
                        </button>
                    </div>
                </div>
            }
            .into_any()
        }
    };
    view! {
        <details class="chart scale" id="scale-panel" on:toggle=on_toggle>
            <summary><strong>"Run at scale (Spark)"</strong>
                <span class="muted">" — when the data outgrows this tab: the same definitions as a PySpark job, with cluster sizing"</span>
            </summary>
            <div class="controls scale-controls">
                <div class="control">
                    <label for="scale-gb">"Full-scale volume"</label>
                    <select id="scale-gb" on:change=on_gb>
                        {[("100", "100 GB"), ("500", "500 GB"), ("1000", "1 TB"), ("5000", "5 TB")].into_iter().map(|(v, t)| {
                            view! { <option value=v selected=move || gb() == v>{t}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="control">
                    <label for="scale-node">"Worker nodes (cores × memory GB × count)"</label>
                    <input id="scale-node" type="text" prop:value=node on:change=on_node
                        placeholder="16x64x5" spellcheck="false" />
                </div>
            </div>
            {move || open.get().then(body)}
        </details>
    }
}
