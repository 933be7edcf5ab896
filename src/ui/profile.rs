//! The "Profile" tab — our Spark UI: for the last load and the last recompute, each engine stage
//! (decode, map, sort; sessionize, activity, join, aggregate) as a bar on a timeline with its
//! wall time, rows in/out and memory, plus the dataset's resident bytes per event. The numbers
//! are the engine's own `Profile`s (`engine::profile`); this module only draws them.

use leptos::prelude::*;

use super::card::{
    CardId, ChartCard, ChartData, Plot, Table, Timeline, TimelineBar, AMBER, BLUE, GRAY, GREEN,
    PINK, PURPLE, TEAL,
};
use crate::engine::overview::DatasetOverview;
use crate::engine::profile::{Profile, StageKind};
use crate::protocol::{Computed, Loaded};

/// The UI-only URL key of the selected view: absent = dashboard, `profile` = this tab.
pub const TAB_KEY: &str = "tab";

/// Check `tab=` in a link (strict: an unknown view is reported and the dashboard shown).
pub fn link_issues(pairs: &[(String, String)]) -> Vec<crate::engine::ParamIssue> {
    pairs
        .iter()
        .filter(|(k, v)| k == TAB_KEY && v != "profile")
        .map(|(k, v)| crate::engine::ParamIssue {
            key: k.clone(),
            value: v.clone(),
            reason: "unknown view (expected profile)".into(),
            used: "the dashboard".into(),
        })
        .collect()
}

fn stage_color(kind: StageKind) -> usize {
    match kind {
        StageKind::Decode => GRAY,
        StageKind::Map => TEAL,
        StageKind::Sort => PINK,
        StageKind::Sessionize => BLUE,
        StageKind::Activity => GREEN,
        StageKind::Join => AMBER,
        StageKind::Aggregate => PURPLE,
    }
}

fn timeline(run: &str, profile: &Profile) -> ChartData {
    let bars: Vec<TimelineBar> = profile
        .stages
        .iter()
        .map(|s| TimelineBar {
            label: if s.detail.is_empty() {
                s.kind.label().to_string()
            } else {
                format!("{} · {}", s.kind.label(), s.detail)
            },
            start_ms: s.start_ms,
            wall_ms: s.wall_ms,
            color: stage_color(s.kind),
            note: format!(
                "{} rows in → {} out{}",
                super::format_count(s.rows_in),
                super::format_count(s.rows_out),
                if s.bytes > 0 {
                    format!(", {:.1} MB held", s.bytes as f64 / 1e6)
                } else {
                    String::new()
                }
            ),
        })
        .collect();
    let mut table = Table::new(&[
        "run", "stage", "detail", "start_ms", "wall_ms", "rows_in", "rows_out", "bytes",
    ]);
    for s in &profile.stages {
        table.rows.push(vec![
            run.to_string(),
            s.kind.label().to_string(),
            s.detail.clone(),
            format!("{:.3}", s.start_ms),
            format!("{:.3}", s.wall_ms),
            s.rows_in.to_string(),
            s.rows_out.to_string(),
            s.bytes.to_string(),
        ]);
    }
    ChartData {
        caption: format!(
            "{run}: {} stages in {:.1} ms wall time. Bars start when the stage started; hover for rows and memory.",
            profile.stages.len(),
            profile.total_ms
        ),
        plot: Plot::Timeline(Timeline { bars, total_ms: profile.total_ms }),
        table,
        attrs: vec![
            ("stages", profile.stages.iter().map(|s| s.kind.label()).collect::<Vec<_>>().join(",")),
            ("total-ms", format!("{:.3}", profile.total_ms)),
            (
                "details",
                profile.stages.iter().map(|s| s.detail.as_str()).collect::<Vec<_>>().join("|"),
            ),
        ],
    }
}

#[component]
pub fn ProfileTab(
    computed: ReadSignal<Option<Computed>>,
    loaded: ReadSignal<Option<Loaded>>,
    overview: ReadSignal<Option<DatasetOverview>>,
) -> impl IntoView {
    let compute = Signal::derive(move || {
        computed.with(|c| {
            c.as_ref()
                .map(|c| timeline("Last recompute", &c.report.profile))
        })
    });
    let load = Signal::derive(move || {
        loaded.with(|l| {
            let l = l.as_ref()?;
            Some(match &l.profile {
                Some(p) => timeline("Last load", &p.profile),
                None => {
                    let mut d = timeline("Last load", &Profile::default());
                    d.caption = "The built-in sample is generated in memory, not decoded: load a file to see its decode, map and sort stages.".into();
                    d
                }
            })
        })
    });
    let wasm_bytes = move || {
        loaded.with(|l| {
            l.as_ref()
                .and_then(|l| l.profile.as_ref())
                .map(|p| p.wasm_memory_bytes)
                .filter(|b| *b > 0)
        })
    };
    let memory = move || {
        overview.get().map(|o| {
            let per_event = if o.events == 0 { 0.0 } else { o.resident_bytes as f64 / o.events as f64 };
            let compute_ms = computed.with(|c| c.as_ref().map(|c| c.compute_ms));
            let compute_wasm = computed
                .with(|c| c.as_ref().map(|c| c.wasm_memory_bytes))
                .filter(|b| *b > 0);
            view! {
                <section class="card wide facts" id="profile-memory"
                    data-bytes=o.resident_bytes.to_string() data-bytes-per-event=format!("{per_event:.2}")>
                    <h3 class="card-title">"Dataset in memory"</h3>
                    <dl>
                        <dt>"Events"</dt><dd>{super::format_count(o.events)}</dd>
                        <dt>"Resident"</dt><dd>{format!("{:.1} MB", o.resident_bytes as f64 / 1e6)}</dd>
                        <dt>"Per event"</dt><dd>{format!("{per_event:.1} bytes")}</dd>
                        <dt>"WASM memory after the load"</dt><dd id="profile-wasm-bytes">{wasm_bytes().map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "—".into())}</dd>
                        <dt>"WASM memory after the last recompute"</dt><dd id="profile-wasm-compute-bytes">{compute_wasm.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Last recompute"</dt><dd id="profile-compute-ms">{compute_ms.map(|m| format!("{m:.1} ms (measured by the worker)")).unwrap_or_default()}</dd>
                    </dl>
                </section>
            }
        })
    };
    view! {
        {memory}
        <ChartCard id=CardId::ProfileCompute title="Engine profile: last recompute" wide=true data=compute />
        <ChartCard id=CardId::ProfileLoad title="Engine profile: last load" wide=true data=load />
    }
}
