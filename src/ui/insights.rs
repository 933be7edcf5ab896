//! Beyond active users: retention cohorts, lifecycle, stickiness by segment, power users,
//! app-version and device performance, anomalies. Each panel turns one part of the engine's
//! `MetricsReport` into a [`ChartData`] for a [`ChartCard`] (CSV/PNG export, hover, expand) and
//! carries its own knobs, which live in the URL like every other setting. Nothing here computes
//! a metric.

use leptos::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement};

use super::card::{
    Bars, CardId, ChartCard, ChartData, Heatmap, Lines, Plot, Series, Table, Unit, AMBER, BLUE,
    GRAY, GREEN, MARK, PURPLE, TEAL,
};
use super::charts::{dates, from_report, opt, segment_color, sum};
use super::controls::SetParam;
use super::permalink::{value_of, Nav};
use crate::engine::params::{CohortBy, Granularity};
use crate::engine::versions::GroupStats;
use crate::protocol::Computed;

/// A labelled select for one engine setting (the value shown is the effective one).
#[component]
fn Knob(
    query: ReadSignal<String>,
    key: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("knob-{key}");
    let on_change = move |ev: leptos::ev::Event| {
        let el: HtmlSelectElement = event_target(&ev);
        set.0.run((key, Some(el.value()), Nav::Push));
    };
    view! {
        <label class="knob">
            <span>{label}</span>
            <select id=id on:change=on_change>
                {options.into_iter().map(|(v, t)| view! {
                    <option value=v selected=move || value_of(&query.get(), key) == v>{t}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// A labelled text/number input for one engine setting, applied on change (Enter or blur).
#[component]
fn Field(
    query: ReadSignal<String>,
    key: &'static str,
    label: &'static str,
    #[prop(optional)] number: bool,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("knob-{key}");
    let on_change = move |ev: leptos::ev::Event| {
        let el: HtmlInputElement = event_target(&ev);
        let v = el.value().trim().to_string();
        set.0.run((key, (!v.is_empty()).then_some(v), Nav::Push));
    };
    view! {
        <label class="knob">
            <span>{label}</span>
            <input id=id type=if number { "number" } else { "text" } step="any"
                placeholder=placeholder spellcheck="false"
                prop:value=move || value_of(&query.get(), key) on:change=on_change />
        </label>
    }
}

fn period_word(g: Granularity) -> &'static str {
    match g {
        Granularity::Day => "day",
        Granularity::Week => "week",
        Granularity::Month => "month",
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

// ---------------------------------------------------------------------------------------------
// Retention

/// Which retention the heatmap shows: recurring (active in period n) or cumulative (active in
/// period n or later). A view choice, kept in the URL as `rview`.
pub const RVIEW_KEY: &str = "rview";

#[component]
pub fn Retention(
    computed: ReadSignal<Option<Computed>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    let cumulative = Memo::new(move |_| {
        super::permalink::ui_value(&query.get(), RVIEW_KEY).as_deref() == Some("cumulative")
    });
    let set = expect_context::<SetParam>();
    let data = Signal::derive(move || {
        let cumulative = cumulative.get();
        computed.with(|c| c.as_ref().map(|c| retention(c, cumulative)))
    });
    let on_view = move |ev: leptos::ev::Event| {
        let el: HtmlSelectElement = event_target(&ev);
        let v = el.value();
        set.0
            .run((RVIEW_KEY, (v == "cumulative").then_some(v), Nav::Push));
    };
    view! {
        <ChartCard id=CardId::Retention title="Retention cohorts" wide=true data=data>
            <div class="knobs">
                <Knob query=query key="rgran" label="Period" options=vec![("day", "Day"), ("week", "Week"), ("month", "Month")] />
                <Knob query=query key="cohort" label="Cohort by" options=vec![("first", "First seen"), ("join", "Join date (metadata)")] />
                <Field query=query key="rspan" label="Span (periods)" number=true />
                <Field query=query key="rstart" label="Start event" placeholder="any (the definition)" />
                <Field query=query key="rreturn" label="Return event" placeholder="any (the definition)" />
                <label class="knob">
                    <span>"Show"</span>
                    <select id="knob-rview" on:change=on_view>
                        <option value="recurring" selected=move || !cumulative.get()>"Recurring (active in period n)"</option>
                        <option value="cumulative" selected=move || cumulative.get()>"Cumulative (period n or later)"</option>
                    </select>
                </label>
            </div>
        </ChartCard>
        <ChartCard id=CardId::RetentionCurve title="Average retention curve" data=from_report(computed, retention_curve) />
    }
}

fn cohort_word(by: CohortBy) -> &'static str {
    match by {
        CohortBy::FirstSeen => "first seen",
        CohortBy::Join => "joined",
    }
}

fn retention(c: &Computed, cumulative: bool) -> ChartData {
    let r = &c.report.retention;
    let periods = r
        .cohorts
        .iter()
        .map(|h| h.retained.len())
        .max()
        .unwrap_or(0);
    let word = period_word(r.granularity);
    let cols: Vec<String> = (0..periods).map(|n| format!("{word} {n}")).collect();
    let rows: Vec<String> = r
        .cohorts
        .iter()
        .map(|h| {
            format!(
                "{} ({} users)",
                h.start.map(|d| d.iso()).unwrap_or_default(),
                super::format_count(h.size)
            )
        })
        .collect();
    let values: Vec<Vec<Option<f64>>> = r
        .cohorts
        .iter()
        .map(|h| {
            let v = if cumulative {
                &h.cumulative_rate
            } else {
                &h.rate
            };
            (0..periods).map(|n| v.get(n).copied()).collect()
        })
        .collect();
    // Shade relative to the largest share after period 0 (period 0 is ~100% by construction
    // for first-seen cohorts and would wash out the rest).
    let max = values
        .iter()
        .flat_map(|r| r.iter().skip(1).flatten().copied())
        .fold(0.0f64, f64::max);
    let mut table = Table::new(&[
        "cohort_start",
        "cohort_size",
        "period",
        "retained",
        "rate",
        "cumulative",
        "cumulative_rate",
    ]);
    for h in &r.cohorts {
        for n in 0..h.retained.len() {
            table.rows.push(vec![
                h.start.map(|d| d.iso()).unwrap_or_default(),
                h.size.to_string(),
                n.to_string(),
                opt(h.retained.get(n)),
                opt(h.rate.get(n)),
                opt(h.cumulative.get(n)),
                opt(h.cumulative_rate.get(n)),
            ]);
        }
    }
    ChartData {
        caption: format!(
            "Share of each {word}ly cohort (users {} in that {word}) active in {word} n — {}{}. {} users are in no cohort of the span.",
            cohort_word(r.cohort_by),
            if cumulative { "cumulative: active in period n or any later one" } else { "recurring: active in period n" },
            if r.last_period_partial { "; the last period is partial" } else { "" },
            super::format_count(r.users_without_cohort),
        ),
        plot: Plot::Heatmap(Heatmap {
            x: cols,
            y: rows,
            values,
            unit: Unit::Ratio,
            x_label: format!("{word}s since the cohort {word}"),
            y_label: "cohort".into(),
            max: (max > 0.0).then_some(max),
            color: BLUE,
        }),
        table,
        attrs: vec![
            ("cohorts", r.cohorts.len().to_string()),
            ("sizes", r.cohorts.iter().map(|h| h.size).sum::<u64>().to_string()),
            (
                "retained-sums",
                r.cohorts.iter().map(|h| sum(&h.retained)).collect::<Vec<_>>().join(","),
            ),
            ("view", if cumulative { "cumulative" } else { "recurring" }.to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

fn retention_curve(c: &Computed) -> ChartData {
    let r = &c.report.retention;
    let word = period_word(r.granularity);
    let x: Vec<String> = (0..r.average.len())
        .map(|n| format!("{word} {n}"))
        .collect();
    let mut table = Table::new(&["period", "average", "average_cumulative"]);
    for n in 0..r.average.len() {
        table.rows.push(vec![
            n.to_string(),
            opt(r.average.get(n).copied().flatten()),
            opt(r.average_cumulative.get(n).copied().flatten()),
        ]);
    }
    ChartData {
        caption: format!(
            "Cohort-size weighted average over the cohorts that reached each {word}: Σ retained / Σ cohort size."
        ),
        plot: Plot::Lines(Lines {
            x,
            series: vec![
                Series { label: "recurring".into(), values: r.average.clone(), color: BLUE },
                Series { label: "cumulative".into(), values: r.average_cumulative.clone(), color: PURPLE },
            ],
            y_label: "share of the cohort".into(),
            y_unit: Unit::Ratio,
            ratio: None,
        }),
        table,
        attrs: vec![
            ("week1", pct(r.average.get(1).copied().flatten())),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

#[component]
pub fn Lifecycle(
    computed: ReadSignal<Option<Computed>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    view! {
        <ChartCard id=CardId::Lifecycle title="Lifecycle" wide=true data=from_report(computed, lifecycle)>
            <div class="knobs">
                <Knob query=query key="lgran" label="Period" options=vec![("day", "Day"), ("week", "Week"), ("month", "Month")] />
                <Knob query=query key="cohort" label="New means" options=vec![("first", "First seen in the data"), ("join", "Joined in the period (metadata)")] />
            </div>
        </ChartCard>
    }
}

fn lifecycle(c: &Computed) -> ChartData {
    let l = &c.report.lifecycle;
    let word = period_word(l.granularity);
    let x: Vec<String> = l
        .periods
        .iter()
        .map(|p| p.start.map(|d| d.iso()).unwrap_or_default())
        .collect();
    let col = |f: fn(&crate::engine::retention::LifecyclePeriod) -> u64| -> Vec<Option<f64>> {
        l.periods.iter().map(|p| Some(f(p) as f64)).collect()
    };
    let mut table = Table::new(&[
        "start",
        "end",
        "partial",
        "new",
        "returning",
        "resurrecting",
        "dormant",
    ]);
    for p in &l.periods {
        table.rows.push(vec![
            p.start.map(|d| d.iso()).unwrap_or_default(),
            p.end.map(|d| d.iso()).unwrap_or_default(),
            p.partial.to_string(),
            p.new.to_string(),
            p.returning.to_string(),
            p.resurrecting.to_string(),
            p.dormant.to_string(),
        ]);
    }
    ChartData {
        caption: format!(
            "Per {word}: new ({}), returning (active the previous {word} too), resurrecting (active before, not the previous {word}), dormant (active the previous {word}, not this one). Partial periods are marked.",
            match l.new_by {
                CohortBy::FirstSeen => "first active in this period",
                CohortBy::Join => "joined in this period per the metadata",
            }
        ),
        plot: Plot::Bars(Bars {
            x,
            x_titles: Vec::new(),
            x_label: String::new(),
            series: vec![
                Series { label: "new".into(), values: col(|p| p.new), color: GREEN },
                Series { label: "returning".into(), values: col(|p| p.returning), color: BLUE },
                Series { label: "resurrecting".into(), values: col(|p| p.resurrecting), color: AMBER },
                Series { label: "dormant".into(), values: col(|p| p.dormant), color: GRAY },
            ],
            y_label: "users".into(),
            y_unit: Unit::Count,
            log_y: false,
            marked: l.periods.iter().map(|p| p.partial).collect(),
            marked_label: "partial period".into(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            ("periods", l.periods.len().to_string()),
            ("new-sum", l.periods.iter().map(|p| p.new).sum::<u64>().to_string()),
            ("returning-sum", l.periods.iter().map(|p| p.returning).sum::<u64>().to_string()),
            ("resurrecting-sum", l.periods.iter().map(|p| p.resurrecting).sum::<u64>().to_string()),
            ("dormant-sum", l.periods.iter().map(|p| p.dormant).sum::<u64>().to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Stickiness by segment over time

#[component]
pub fn SegmentStickiness(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::SegmentStickiness title="Stickiness by segment" wide=true data=from_report(computed, segment_stickiness) /> }
}

fn segment_stickiness(c: &Computed) -> ChartData {
    let x = dates(c);
    let segs = c.report.segments.as_ref();
    let series: Vec<Series> = segs
        .map(|s| {
            s.segments
                .iter()
                .enumerate()
                .map(|(i, g)| Series {
                    label: g.label.clone(),
                    values: g.dau_mau.clone(),
                    color: segment_color(i, &g.label),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut header = vec!["date".to_string()];
    if let Some(s) = segs {
        header.extend(s.segments.iter().map(|g| format!("{} dau_mau", g.label)));
    }
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    for (i, d) in x.iter().enumerate() {
        let mut row = vec![d.clone()];
        if let Some(s) = segs {
            row.extend(
                s.segments
                    .iter()
                    .map(|g| opt(g.dau_mau.get(i).copied().flatten())),
            );
        }
        table.rows.push(row);
    }
    ChartData {
        caption: match segs {
            Some(s) => format!(
                "DAU/MAU per {} value per day ({}): how habitual each segment is, over time.",
                s.column, c.report.axis.time_zone
            ),
            None => "Choose a column under “Break down by” to compare stickiness between segments."
                .into(),
        },
        plot: Plot::Lines(Lines {
            x,
            series,
            y_label: "DAU / MAU".into(),
            y_unit: Unit::Ratio,
            ratio: None,
        }),
        table,
        attrs: vec![
            ("column", segs.map(|s| s.column.clone()).unwrap_or_default()),
            (
                "labels",
                segs.map(|s| {
                    s.segments
                        .iter()
                        .map(|g| g.label.clone())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .unwrap_or_default(),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Power users

#[component]
pub fn PowerUsers(
    computed: ReadSignal<Option<Computed>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    view! {
        <ChartCard id=CardId::Power title="Power users" data=from_report(computed, power)>
            <div class="knobs">
                <Field query=query key="power" label="Top % of users" number=true />
                <Knob query=query key="pseg" label="Who they are by" options=vec![
                    ("country", "Country"), ("device_type", "Device type"), ("subscription_type", "Plan"),
                ] />
            </div>
        </ChartCard>
    }
}

fn power(c: &Computed) -> ChartData {
    let p = &c.report.power_users;
    let x: Vec<String> = p.segments.iter().map(|s| s.label.clone()).collect();
    let mut table = Table::new(&[
        "label",
        "users",
        "power_by_duration",
        "power_by_active_days",
    ]);
    for s in &p.segments {
        table.rows.push(vec![
            s.label.clone(),
            s.users.to_string(),
            s.power_by_duration.to_string(),
            s.power_by_active_days.to_string(),
        ]);
    }
    ChartData {
        caption: format!(
            "The top {}% of {} users: {} users hold {} of all interaction time (duration_ms after the outlier policy) and {} of all active days. Bars: who they are by {}.",
            p.pct,
            super::format_count(p.users),
            super::format_count(p.by_duration.users),
            pct(p.by_duration.share),
            pct(p.by_active_days.share),
            p.column.clone().unwrap_or_else(|| "segment (load metadata)".into()),
        ),
        plot: Plot::Bars(Bars {
            x,
            x_titles: Vec::new(),
            x_label: p.column.clone().unwrap_or_default(),
            series: vec![
                Series {
                    label: "by interaction time".into(),
                    values: p.segments.iter().map(|s| Some(s.power_by_duration as f64)).collect(),
                    color: PURPLE,
                },
                Series {
                    label: "by active days".into(),
                    values: p.segments.iter().map(|s| Some(s.power_by_active_days as f64)).collect(),
                    color: TEAL,
                },
            ],
            y_label: "power users".into(),
            y_unit: Unit::Count,
            log_y: false,
            marked: Vec::new(),
            marked_label: String::new(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            ("top-users", p.by_duration.users.to_string()),
            ("share-duration", opt(p.by_duration.share)),
            ("share-days", opt(p.by_active_days.share)),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// App versions and devices

#[component]
pub fn Versions(
    computed: ReadSignal<Option<Computed>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    view! {
        <ChartCard id=CardId::Versions title="App-version performance" wide=true data=from_report(computed, versions)>
            <div class="knobs">
                <Field query=query key="vtop" label="Versions shown" number=true />
            </div>
        </ChartCard>
        <ChartCard id=CardId::Devices title="Device type and performance" data=from_report(computed, devices) />
    }
}

fn percentile_bars(groups: &[GroupStats], x_label: &str) -> (Plot, Table) {
    let x: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    let s = |label: &str, f: fn(&GroupStats) -> Option<f64>, color| Series {
        label: label.into(),
        values: groups.iter().map(f).collect(),
        color,
    };
    let mut table = Table::new(&["label", "events", "p50_ms", "p95_ms", "p99_ms", "mean_ms"]);
    for g in groups {
        table.rows.push(vec![
            g.label.clone(),
            g.events.to_string(),
            opt(g.p50_ms),
            opt(g.p95_ms),
            opt(g.p99_ms),
            opt(g.mean_ms),
        ]);
    }
    (
        Plot::Bars(Bars {
            x,
            x_titles: Vec::new(),
            x_label: x_label.into(),
            series: vec![
                s("p50", |g| g.p50_ms, BLUE),
                s("p95", |g| g.p95_ms, AMBER),
                s("p99", |g| g.p99_ms, MARK),
            ],
            y_label: "duration_ms".into(),
            y_unit: Unit::Ms,
            log_y: true,
            marked: Vec::new(),
            marked_label: String::new(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
    )
}

fn versions(c: &Computed) -> ChartData {
    let v = &c.report.versions;
    let (plot, table) = percentile_bars(
        &v.versions,
        "app version (oldest first; “other” pools the rest)",
    );
    ChartData {
        caption: format!(
            "Exact p50 / p95 / p99 of duration_ms per app version (log scale), {} distinct versions: the {} with most events, then “other”.",
            v.distinct_versions,
            c.report.params.top_versions,
        ),
        plot,
        table,
        attrs: vec![
            ("labels", v.versions.iter().map(|g| g.label.clone()).collect::<Vec<_>>().join("|")),
            ("p95", v.versions.iter().map(|g| opt(g.p95_ms)).collect::<Vec<_>>().join(",")),
            ("events", v.versions.iter().map(|g| g.events.to_string()).collect::<Vec<_>>().join(",")),
            ("query", c.report.query.clone()),
        ],
    }
}

/// Cohen's rule of thumb for η².
fn effect_size(eta2: f64) -> &'static str {
    if eta2 >= 0.14 {
        "a large effect"
    } else if eta2 >= 0.06 {
        "a medium effect"
    } else if eta2 >= 0.01 {
        "a small effect"
    } else {
        "practically no effect"
    }
}

fn devices(c: &Computed) -> ChartData {
    let d = c.report.versions.devices.as_ref();
    let groups = d.map(|d| d.groups.clone()).unwrap_or_default();
    let (plot, table) = percentile_bars(&groups, "device type");
    let eta = d.and_then(|d| d.eta_squared);
    ChartData {
        caption: match (d, eta) {
            (Some(_), Some(e)) => format!(
                "How long interactions take per device type. The device explains {:.1}% of the variation in duration_ms (η² = {e:.4}: {}).",
                e * 100.0,
                effect_size(e)
            ),
            (Some(_), None) => "Every duration is the same, so the device cannot explain any variation.".into(),
            (None, _) => "Load user metadata with a device_type column to compare devices.".into(),
        },
        plot,
        table,
        attrs: vec![
            ("eta-squared", opt(eta)),
            ("labels", groups.iter().map(|g| g.label.clone()).collect::<Vec<_>>().join("|")),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Anomalies

#[component]
pub fn Anomalies(
    computed: ReadSignal<Option<Computed>>,
    query: ReadSignal<String>,
) -> impl IntoView {
    let list = move || {
        computed.with(|c| {
            let c = c.as_ref()?;
            let a = &c.report.anomalies;
            Some(view! {
                <div class="table-scroll">
                <table class="anomalies" id="anomaly-list" data-count=a.flagged.len().to_string()>
                    <thead><tr><th>"Day"</th><th>"Metric"</th><th>"Actual"</th><th>"Expected"</th><th>"Change"</th><th>"Robust z"</th></tr></thead>
                    <tbody>
                        {a.flagged.iter().map(|f| {
                            let change = if f.expected > 0.0 { format!("{:+.0}%", (f.actual as f64 / f.expected - 1.0) * 100.0) } else { "—".into() };
                            view! {
                                <tr data-date=f.date.map(|d| d.iso()).unwrap_or_default() data-metric=f.metric.clone()>
                                    <td>{f.date.map(|d| d.iso()).unwrap_or_default()}</td>
                                    <td>{if f.metric == "dau" { "DAU" } else { "events" }}</td>
                                    <td class="num">{super::format_count(f.actual)}</td>
                                    <td class="num">{format!("{:.0}", f.expected)}</td>
                                    <td class="num">{change}</td>
                                    <td class="num">{f.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "∞".into())}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            })
        })
    };
    view! {
        <ChartCard id=CardId::Anomalies title="Anomalies" wide=true data=from_report(computed, anomalies)>
            <div class="knobs">
                <Field query=query key="anomz" label="Flag when robust |z| >" number=true />
                <Field query=query key="anomk" label="Baseline weeks" number=true />
            </div>
            {list}
        </ChartCard>
    }
}

/// Flagged days of one metric (`"dau"` or `"events"`) as chart marks: a dot on series
/// `series` (its index in the chart's lines) with what happened.
pub(super) fn anomaly_marks(
    c: &Computed,
    metric: &str,
    series: usize,
) -> Vec<(usize, Option<usize>, String)> {
    c.report
        .anomalies
        .flagged
        .iter()
        .filter(|f| f.metric == metric)
        .filter_map(|f| {
            let i = c
                .report
                .axis
                .dates
                .iter()
                .position(|d| Some(*d) == f.date)?;
            Some((
                i,
                Some(series),
                format!(
                    "anomalous {}: {} vs expected {:.0}",
                    if f.metric == "dau" { "DAU" } else { "events" },
                    super::format_count(f.actual),
                    f.expected
                ),
            ))
        })
        .collect()
}

fn anomalies(c: &Computed) -> ChartData {
    let a = &c.report.anomalies;
    let mut table = Table::new(&["date", "metric", "actual", "expected", "robust_z"]);
    for f in &a.flagged {
        table.rows.push(vec![
            f.date.map(|d| d.iso()).unwrap_or_default(),
            f.metric.clone(),
            f.actual.to_string(),
            f.expected.to_string(),
            opt(f.score),
        ]);
    }
    let count = |m: &str| a.flagged.iter().filter(|f| f.metric == m).count();
    ChartData {
        caption: format!(
            "Days whose DAU or event count departs from the median of the same weekday over the previous {} weeks by a robust z-score |x − median| / (1.4826 · MAD) above {}: {} event-volume days (dots here) and {} DAU days (dots on the active-users chart).",
            a.weeks,
            a.threshold,
            count("events"),
            count("dau"),
        ),
        plot: Plot::Marked(
            Lines {
                x: dates(c),
                series: vec![Series::counts("events", &c.report.events_per_day, GRAY)],
                y_label: "events per day".into(),
                y_unit: Unit::Count,
                ratio: None,
            },
            anomaly_marks(c, "events", 0),
        ),
        table,
        attrs: vec![
            ("flagged", a.flagged.len().to_string()),
            ("flagged-dau", count("dau").to_string()),
            ("flagged-events", count("events").to_string()),
            (
                "dates",
                a.flagged
                    .iter()
                    .map(|f| format!("{}:{}", f.date.map(|d| d.iso()).unwrap_or_default(), f.metric))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}
