//! The dashboard's charts. Each panel turns one part of the engine's `MetricsReport` into a
//! [`ChartData`] — the plot, the CSV table (the engine's numbers, unchanged) and `data-*`
//! attributes for tests — and hands it to a [`ChartCard`]. Nothing here computes a metric.

use leptos::prelude::*;

use super::card::{
    format_ms, Bars, CardId, ChartCard, ChartData, Heatmap, Lines, Plot, Series, Stems, Table,
    Unit, AMBER, BLUE, GRAY, GREEN, PINK, PURPLE, TEAL,
};
use super::format_count;
use crate::engine::outliers::{DurationStats, HistogramBin, OutlierReport};
use crate::engine::overview::DatasetOverview;
use crate::engine::sessions::CountDistribution;
use crate::protocol::Computed;

const DAY_MS: i64 = 86_400_000;

/// A card's data from the current report.
pub(super) fn from_report(
    computed: ReadSignal<Option<Computed>>,
    build: fn(&Computed) -> ChartData,
) -> Signal<Option<ChartData>> {
    Signal::derive(move || computed.with(|c| c.as_ref().map(build)))
}

pub(super) fn dates(c: &Computed) -> Vec<String> {
    c.report.axis.dates.iter().map(|d| d.iso()).collect()
}

pub(super) fn sum(v: &[u64]) -> String {
    v.iter().sum::<u64>().to_string()
}

pub(super) fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn tz(c: &Computed) -> String {
    c.report.axis.time_zone.clone()
}

// ---------------------------------------------------------------------------------------------
// Activity

/// DAU / WAU / MAU per day under the chosen definition, with DAU/MAU on its own axis.
#[component]
pub fn ActiveUsers(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::ActiveUsers title="Active users" wide=true data=from_report(computed, active_users) /> }
}

fn active_users(c: &Computed) -> ChartData {
    let a = &c.report.activity;
    let x = dates(c);
    let mut table = Table::new(&["date", "dau", "wau", "mau", "dau_mau"]);
    for (i, d) in x.iter().enumerate() {
        table.rows.push(vec![
            d.clone(),
            opt(a.dau.get(i)),
            opt(a.wau.get(i)),
            opt(a.mau.get(i)),
            opt(a.dau_mau.get(i).copied().flatten()),
        ]);
    }
    ChartData {
        caption: format!(
            "Users per day ({}); MAU window {} days; stickiness DAU/MAU in % on the right axis. Active = {}.",
            tz(c),
            c.report.params.mau_window_days,
            c.report.definition
        ),
        // Days with anomalous DAU (see the anomalies panel) get a dot on the DAU line.
        plot: Plot::Marked(
            Lines {
                x,
                series: vec![
                    Series::counts("DAU", &a.dau, BLUE),
                    Series::counts("WAU", &a.wau, GREEN),
                    Series::counts("MAU", &a.mau, AMBER),
                ],
                y_label: "users".into(),
                y_unit: Unit::Count,
                ratio: Some(Series {
                    label: "DAU/MAU".into(),
                    values: a.dau_mau.clone(),
                    color: PINK,
                }),
            },
            super::insights::anomaly_marks(c, "dau", 0),
        ),
        table,
        attrs: vec![
            ("dau-sum", sum(&a.dau)),
            (
                "anomalies",
                c.report.anomalies.flagged.iter().filter(|f| f.metric == "dau").count().to_string(),
            ),
            ("wau-sum", sum(&a.wau)),
            ("mau-sum", sum(&a.mau)),
            ("days", c.report.axis.dates.len().to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

/// Users active in each calendar month (partial months marked).
#[component]
pub fn MonthlyActives(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::Months title="Monthly active users (calendar months)" data=from_report(computed, monthly) /> }
}

fn monthly(c: &Computed) -> ChartData {
    let months = &c.report.activity.months;
    let mut table = Table::new(&["start", "end", "partial", "actives"]);
    for m in months {
        table.rows.push(vec![
            m.start.iso(),
            m.end.iso(),
            m.partial.to_string(),
            m.actives.to_string(),
        ]);
    }
    ChartData {
        caption: format!(
            "Users active on at least one day of the month ({}); months cut by the date range are marked partial.",
            tz(c)
        ),
        plot: Plot::Bars(Bars {
            x_titles: Vec::new(),
            x: months.iter().map(|m| m.start.iso()[..7].to_string()).collect(),
            x_label: String::new(),
            series: vec![Series {
                label: "active users".into(),
                values: months.iter().map(|m| Some(m.actives as f64)).collect(),
                color: AMBER,
            }],
            y_label: "users".into(),
            y_unit: Unit::Count,
            log_y: false,
            marked: months.iter().map(|m| m.partial).collect(),
            marked_label: "partial month".into(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            (
                "actives",
                months
                    .iter()
                    .map(|m| m.actives.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}

/// L7 or L30: users by the number of days they were active in the last 7 / 30 days.
#[component]
pub fn Stickiness(computed: ReadSignal<Option<Computed>>, days: u32) -> impl IntoView {
    let (id, title, build): (CardId, &'static str, fn(&Computed) -> ChartData) = if days == 7 {
        (CardId::L7, "L7: days active in the last 7", |c| {
            lness(c, &c.report.activity.l7, 7)
        })
    } else {
        (CardId::L30, "L30: days active in the last 30", |c| {
            lness(c, &c.report.activity.l30, 30)
        })
    };
    view! { <ChartCard id=id title=title data=from_report(computed, build) /> }
}

fn lness(c: &Computed, h: &crate::engine::activity::StickinessHistogram, days: u32) -> ChartData {
    let mut table = Table::new(&["days_active", "users", "users_at_least"]);
    for (i, n) in h.counts.iter().enumerate() {
        table.rows.push(vec![
            (i + 1).to_string(),
            n.to_string(),
            opt(h.cumulative.get(i)),
        ]);
    }
    ChartData {
        caption: format!(
            "Users by the number of days they were active in the {days} days up to {}.",
            h.as_of.iso()
        ),
        plot: Plot::Bars(Bars {
            x_titles: Vec::new(),
            x: (1..=h.counts.len()).map(|i| i.to_string()).collect(),
            x_label: "days active".into(),
            series: vec![Series::counts("users", &h.counts, TEAL)],
            y_label: "users".into(),
            y_unit: Unit::Count,
            log_y: false,
            marked: Vec::new(),
            marked_label: String::new(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            ("as-of", h.as_of.iso()),
            (
                "counts",
                h.counts
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// Sessions started per day (by the session's start day in the chosen zone).
#[component]
pub fn SessionsPerDay(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::Sessions title="Sessions per day" wide=true data=from_report(computed, sessions_per_day) /> }
}

fn sessions_per_day(c: &Computed) -> ChartData {
    let s = &c.report.sessions;
    let x = dates(c);
    let mut table = Table::new(&["date", "sessions"]);
    for (i, d) in x.iter().enumerate() {
        table.rows.push(vec![d.clone(), opt(s.per_day.get(i))]);
    }
    let p = &c.report.params;
    ChartData {
        caption: format!(
            "{} sessions; a session ends after a gap of {} (max length {}); counted on its start day ({}).",
            format_count(s.count),
            p.value_of("gap").unwrap_or_default(),
            p.value_of("maxlen").unwrap_or_default(),
            tz(c)
        ),
        plot: Plot::Lines(Lines {
            x,
            series: vec![Series::counts("sessions", &s.per_day, PURPLE)],
            y_label: "sessions".into(),
            y_unit: Unit::Count,
            ratio: None,
        }),
        table,
        attrs: vec![
            ("sessions", s.count.to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

/// `[lower, upper)` of a log bin, e.g. `1 s – 2 s`.
fn bin_label(b: &HistogramBin) -> String {
    match (b.lower_ms, b.upper_ms) {
        (i64::MIN, _) => "< 0".into(),
        (lo, Some(hi)) => format!("{} – {}", format_ms(lo as f64), format_ms(hi as f64)),
        (lo, None) => format!("≥ {}", format_ms(lo as f64)),
    }
}

/// The bin's lower edge, for the axis: `< 0`, `0`, `1 s`, `2 s` …
fn bin_tick(b: &HistogramBin) -> String {
    match b.lower_ms {
        i64::MIN => "< 0".into(),
        0 => "0".into(),
        lo => format_ms(lo as f64)
            .replace(" min", "m")
            .replace(" s", "s")
            .replace(" h", "h"),
    }
}

/// Where the threshold falls on the category axis (bins are centred on 0, 1, 2 …), log-scaled
/// inside its bin. Drawing only.
fn threshold_position(bins: &[HistogramBin], t: i64) -> Option<f64> {
    let i = bins
        .iter()
        .position(|b| b.lower_ms <= t && b.upper_ms.is_none_or(|u| t < u))?;
    let b = &bins[i];
    let frac = match b.upper_ms {
        Some(hi) if b.lower_ms > 0 => {
            ((t as f64).ln() - (b.lower_ms as f64).ln())
                / ((hi as f64).ln() - (b.lower_ms as f64).ln())
        }
        Some(hi) if b.lower_ms == 0 => t as f64 / hi as f64,
        _ => 0.5,
    };
    Some(i as f64 - 0.5 + frac.clamp(0.0, 1.0))
}

/// Session durations in log-scaled bins, the outlier threshold and the flagged bucket marked.
#[component]
pub fn SessionDurations(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::SessionDuration title="Session duration distribution" data=from_report(computed, session_durations) /> }
}

fn session_durations(c: &Computed) -> ChartData {
    let o = &c.report.sessions.duration;
    let flag = o.policy == crate::engine::params::OutlierPolicy::Flag;
    let mut x: Vec<String> = o.histogram.iter().map(bin_tick).collect();
    let mut titles: Vec<String> = o.histogram.iter().map(bin_label).collect();
    let mut values: Vec<Option<f64>> = o.histogram.iter().map(|b| Some(b.count as f64)).collect();
    let mut marked: Vec<bool> = o
        .histogram
        .iter()
        .map(|b| o.threshold_ms.is_some_and(|t| b.lower_ms > t))
        .collect();
    let mut table = Table::new(&["lower_ms", "upper_ms", "count"]);
    for b in &o.histogram {
        table.rows.push(vec![
            b.lower_ms.to_string(),
            opt(b.upper_ms),
            b.count.to_string(),
        ]);
    }
    if flag {
        x.push("flagged".into());
        titles.push("flagged outliers (separate bucket)".into());
        values.push(Some(o.outlier_bucket as f64));
        marked.push(true);
        table.rows.push(vec![
            "outlier_bucket".into(),
            String::new(),
            o.outlier_bucket.to_string(),
        ]);
    }
    let vline = o.threshold_ms.and_then(|t| {
        threshold_position(&o.histogram, t)
            .map(|p| (p, format!("threshold {}", format_ms(t as f64))))
    });
    ChartData {
        caption: format!(
            "Sessions by duration (last − first event), log-scaled bins; {}.",
            outlier_summary(o)
        ),
        plot: Plot::Bars(Bars {
            x_titles: titles,
            x,
            x_label: "session duration".into(),
            series: vec![Series {
                label: "sessions".into(),
                values,
                color: PURPLE,
            }],
            y_label: "sessions (log)".into(),
            y_unit: Unit::Count,
            log_y: true,
            marked,
            marked_label: if flag {
                "outliers (flagged bucket)".into()
            } else {
                "above the threshold".into()
            },
            vline,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            ("count", o.before.count.to_string()),
            ("detected", o.detected.to_string()),
            ("touched", o.touched.to_string()),
            ("outlier-bucket", o.outlier_bucket.to_string()),
            ("threshold-ms", opt(o.threshold_ms)),
            ("query", c.report.query.clone()),
        ],
    }
}

fn outlier_summary(o: &OutlierReport) -> String {
    let threshold = o
        .threshold_ms
        .map(|t| format!("outlier above {}", format_ms(t as f64)))
        .unwrap_or_else(|| "no outlier threshold".into());
    format!(
        "{threshold} ({} detector), {} detected, {} touched by the {} policy",
        o.detector.key(),
        format_count(o.detected),
        format_count(o.touched),
        o.policy.key()
    )
}

/// A count distribution (events per session, sessions per user) on log–log axes.
#[component]
pub fn Distribution(computed: ReadSignal<Option<Computed>>, of: &'static str) -> impl IntoView {
    let (id, title, build): (CardId, &'static str, fn(&Computed) -> ChartData) =
        if of == "events_per_session" {
            (CardId::EventsPerSession, "Events per session", |c| {
                distribution(
                    c,
                    &c.report.sessions.events_per_session,
                    "events in the session",
                    "sessions",
                )
            })
        } else {
            (CardId::SessionsPerUser, "Sessions per user", |c| {
                distribution(
                    c,
                    &c.report.sessions.per_user,
                    "sessions of the user",
                    "users",
                )
            })
        };
    view! { <ChartCard id=id title=title data=from_report(computed, build) /> }
}

fn distribution(c: &Computed, d: &CountDistribution, x_label: &str, y_label: &str) -> ChartData {
    let mut table = Table::new(&["value", "count"]);
    for (v, n) in &d.frequencies {
        table.rows.push(vec![v.to_string(), n.to_string()]);
    }
    let f = |v: Option<f64>| {
        v.map(|v| {
            format!("{:.2}", v)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .unwrap_or_else(|| "—".into())
    };
    ChartData {
        caption: format!(
            "How many {y_label} have each value (log–log). Mean {}, median {}, p90 {}, p99 {}, max {}.",
            f(d.mean),
            f(d.p50),
            f(d.p90),
            f(d.p99),
            opt(d.max)
        ),
        plot: Plot::Stems(Stems {
            points: d.frequencies.clone(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            color: BLUE,
        }),
        table,
        attrs: vec![
            ("count", d.count.to_string()),
            ("total", d.total.to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Outliers

/// One duration metric before and after the outlier policy, and the values it touched.
#[component]
pub fn OutlierView(computed: ReadSignal<Option<Computed>>, target: &'static str) -> impl IntoView {
    let (id, title, build): (CardId, &'static str, fn(&Computed) -> ChartData) =
        if target == "events" {
            (CardId::OutliersEvents, "Outliers: event durations", |c| {
                outliers(c, &c.report.event_durations, "event duration_ms")
            })
        } else {
            (
                CardId::OutliersSessions,
                "Outliers: session durations",
                |c| outliers(c, &c.report.sessions.duration, "session durations"),
            )
        };
    view! { <ChartCard id=id title=title data=from_report(computed, build) /> }
}

fn stats_rows(s: &DurationStats) -> [(&'static str, String); 9] {
    [
        ("count", s.count.to_string()),
        ("sum_ms", s.sum_ms.to_string()),
        ("mean_ms", opt(s.mean_ms)),
        ("min_ms", opt(s.min_ms)),
        ("p50_ms", opt(s.p50_ms)),
        ("p90_ms", opt(s.p90_ms)),
        ("p95_ms", opt(s.p95_ms)),
        ("p99_ms", opt(s.p99_ms)),
        ("max_ms", opt(s.max_ms)),
    ]
}

fn outliers(c: &Computed, o: &OutlierReport, what: &str) -> ChartData {
    let mut table = Table::new(&["statistic", "before", "after", "outliers"]);
    let (b, a, x) = (
        stats_rows(&o.before),
        stats_rows(&o.after),
        stats_rows(&o.outliers),
    );
    for i in 0..b.len() {
        table.rows.push(vec![
            b[i].0.into(),
            b[i].1.clone(),
            a[i].1.clone(),
            x[i].1.clone(),
        ]);
    }
    for (k, v) in [
        ("threshold_ms", opt(o.threshold_ms)),
        ("detected", o.detected.to_string()),
        ("touched", o.touched.to_string()),
        ("outlier_bucket", o.outlier_bucket.to_string()),
    ] {
        table
            .rows
            .push(vec![k.into(), v, String::new(), String::new()]);
    }
    let pick = |s: &DurationStats| {
        vec![
            s.p50_ms,
            s.mean_ms,
            s.p90_ms,
            s.p95_ms,
            s.p99_ms,
            s.max_ms.map(|v| v as f64),
        ]
    };
    ChartData {
        caption: format!(
            "{what}: statistics of all {} values before and after the policy (log scale); {}.",
            format_count(o.before.count),
            outlier_summary(o)
        ),
        plot: Plot::Bars(Bars {
            x_titles: Vec::new(),
            x: ["median", "mean", "p90", "p95", "p99", "max"]
                .map(String::from)
                .to_vec(),
            x_label: String::new(),
            series: vec![
                Series {
                    label: format!("before ({} values)", format_count(o.before.count)),
                    values: pick(&o.before),
                    color: GRAY,
                },
                Series {
                    label: format!(
                        "after {} ({} values)",
                        o.policy.key(),
                        format_count(o.after.count)
                    ),
                    values: pick(&o.after),
                    color: BLUE,
                },
            ],
            y_label: "duration (log)".into(),
            y_unit: Unit::Ms,
            log_y: true,
            marked: Vec::new(),
            marked_label: String::new(),
            vline: None,
            hlines: o
                .threshold_ms
                .map(|t| vec![(t as f64, format!("threshold {}", format_ms(t as f64)))])
                .unwrap_or_default(),
        }),
        table,
        attrs: vec![
            ("detected", o.detected.to_string()),
            ("touched", o.touched.to_string()),
            ("threshold-ms", opt(o.threshold_ms)),
            ("before-count", o.before.count.to_string()),
            ("after-count", o.after.count.to_string()),
            ("after-sum-ms", o.after.sum_ms.to_string()),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Segments

/// The colour of the `i`-th segment: the palette in order, grey for the pooled "other".
pub(super) fn segment_color(i: usize, label: &str) -> usize {
    const PALETTE: [usize; 6] = [BLUE, GREEN, AMBER, PINK, PURPLE, TEAL];
    if label == "other" {
        GRAY
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

/// Daily active users per segment: the top N values and "other".
#[component]
pub fn SegmentBreakdown(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::Segments title="Active users by segment" wide=true data=from_report(computed, segments) /> }
}

fn segments(c: &Computed) -> ChartData {
    let x = dates(c);
    let Some(s) = &c.report.segments else {
        return ChartData {
            caption: "Choose a column under “Break down by” to split the active users.".into(),
            plot: Plot::Lines(Lines {
                x,
                series: Vec::new(),
                y_label: "users".into(),
                y_unit: Unit::Count,
                ratio: None,
            }),
            table: Table::new(&["date"]),
            attrs: vec![
                ("column", String::new()),
                ("labels", String::new()),
                ("query", c.report.query.clone()),
            ],
        };
    };
    let series: Vec<Series> = s
        .segments
        .iter()
        .enumerate()
        .map(|(i, seg)| Series::counts(&seg.label, &seg.dau, segment_color(i, &seg.label)))
        .collect();
    let mut header = vec!["date".to_string()];
    header.extend(s.segments.iter().map(|seg| format!("{} dau", seg.label)));
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    for (i, d) in x.iter().enumerate() {
        let mut row = vec![d.clone()];
        row.extend(s.segments.iter().map(|seg| opt(seg.dau.get(i))));
        table.rows.push(row);
    }
    ChartData {
        caption: format!(
            "DAU per {} value ({}): the top {} by {} and “other”{}.",
            s.column,
            tz(c),
            c.report.params.top_segments,
            if s.per_user { "users" } else { "events" },
            if s.per_user {
                ""
            } else {
                "; per-event column: a user can be active in several segments"
            }
        ),
        plot: Plot::Lines(Lines {
            x,
            series,
            y_label: "users".into(),
            y_unit: Unit::Count,
            ratio: None,
        }),
        table,
        attrs: vec![
            ("column", s.column.clone()),
            (
                "labels",
                s.segments
                    .iter()
                    .map(|g| g.label.clone())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            (
                "users",
                s.segments
                    .iter()
                    .map(|g| g.users.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "dau-sums",
                s.segments
                    .iter()
                    .map(|g| sum(&g.dau))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}

/// Users active in each calendar month, per segment (a heatmap: segments × months).
#[component]
pub fn SegmentMonths(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::SegmentMonths title="Monthly active users by segment" wide=true data=from_report(computed, segment_months) /> }
}

fn segment_months(c: &Computed) -> ChartData {
    let months: Vec<String> = c
        .report
        .activity
        .months
        .iter()
        .map(|m| m.start.iso()[..7].to_string())
        .collect();
    let Some(s) = &c.report.segments else {
        return ChartData {
            caption: "Choose a column under “Break down by” to see each segment's calendar months."
                .into(),
            plot: Plot::Heatmap(Heatmap {
                x: months,
                y: Vec::new(),
                values: Vec::new(),
                unit: Unit::Count,
                x_label: "month".into(),
                y_label: "segment".into(),
                max: None,
                color: AMBER,
            }),
            table: Table::new(&["segment", "start", "end", "partial", "actives"]),
            attrs: vec![("query", c.report.query.clone())],
        };
    };
    let mut table = Table::new(&["segment", "start", "end", "partial", "actives"]);
    for seg in &s.segments {
        for m in &seg.months {
            table.rows.push(vec![
                seg.label.clone(),
                m.start.iso(),
                m.end.iso(),
                m.partial.to_string(),
                m.actives.to_string(),
            ]);
        }
    }
    ChartData {
        caption: format!(
            "Users active on at least one day of each calendar month ({}), per {} value; darker = more.",
            tz(c),
            s.column
        ),
        plot: Plot::Heatmap(Heatmap {
            x: s.segments
                .first()
                .map(|g| g.months.iter().map(|m| m.start.iso()[..7].to_string()).collect())
                .unwrap_or(months),
            y: s.segments.iter().map(|g| g.label.clone()).collect(),
            values: s
                .segments
                .iter()
                .map(|g| g.months.iter().map(|m| Some(m.actives as f64)).collect())
                .collect(),
            unit: Unit::Count,
            x_label: "month".into(),
            y_label: "segment".into(),
            max: None,
            color: AMBER,
        }),
        table,
        attrs: vec![
            (
                "actives",
                s.segments
                    .iter()
                    .map(|g| g.months.iter().map(|m| m.actives.to_string()).collect::<Vec<_>>().join(","))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Skew

/// The heaviest users' share of all events.
#[component]
pub fn TopUsers(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    view! { <ChartCard id=CardId::TopUsers title="Skew: top users" data=from_report(computed, top_users) /> }
}

fn top_users(c: &Computed) -> ChartData {
    let s = &c.report.skew;
    let mut table = Table::new(&["rank", "user", "events", "share"]);
    for (i, u) in s.top_users.iter().enumerate() {
        table.rows.push(vec![
            (i + 1).to_string(),
            u.user.clone(),
            u.events.to_string(),
            u.share.to_string(),
        ]);
    }
    ChartData {
        caption: format!(
            "Share of all {} events by the {} heaviest of {} users: together {:.1}%; Gini {}.",
            format_count(s.events),
            s.top_users.len(),
            format_count(s.users),
            s.top_share * 100.0,
            s.gini
                .map(|g| format!("{g:.3}"))
                .unwrap_or_else(|| "—".into())
        ),
        plot: Plot::Bars(Bars {
            x_titles: Vec::new(),
            x: s.top_users.iter().map(|u| u.user.clone()).collect(),
            x_label: String::new(),
            series: vec![Series {
                label: "share of events".into(),
                values: s.top_users.iter().map(|u| Some(u.share)).collect(),
                color: PINK,
            }],
            y_label: "share of events".into(),
            y_unit: Unit::Ratio,
            log_y: false,
            marked: Vec::new(),
            marked_label: String::new(),
            vline: None,
            hlines: Vec::new(),
        }),
        table,
        attrs: vec![
            ("top-share", s.top_share.to_string()),
            ("gini", opt(s.gini)),
            ("query", c.report.query.clone()),
        ],
    }
}

/// Events per hash partition of the user key: how unevenly a Spark shuffle would split them.
#[component]
pub fn Partitions(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    let notes = move || {
        computed.with(|c| {
            c.as_ref().map(|c| {
                c.report
                    .skew
                    .advice
                    .notes
                    .iter()
                    .map(|n| view! { <li>{n.clone()}</li> })
                    .collect_view()
            })
        })
    };
    view! {
        <ChartCard id=CardId::Partitions title="Skew: partition sizes" data=from_report(computed, partitions)>
            <ul class="notes" id="skew-advice">{notes}</ul>
        </ChartCard>
    }
}

fn partitions(c: &Computed) -> ChartData {
    let p = &c.report.skew.partitioning;
    let largest = p.sizes.iter().copied().max();
    let mut table = Table::new(&["partition", "events"]);
    for (i, n) in p.sizes.iter().enumerate() {
        table.rows.push(vec![i.to_string(), n.to_string()]);
    }
    ChartData {
        caption: format!(
            "Events per partition when users are hashed ({}) into {} partitions: largest {}, median {}, smallest {}; imbalance (largest / median) {}.",
            p.hash,
            p.partitions,
            format_count(p.largest),
            format_count(p.median),
            format_count(p.smallest),
            p.imbalance.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "—".into())
        ),
        plot: Plot::Bars(Bars {
            x_titles: Vec::new(),
            x: (0..p.sizes.len()).map(|i| i.to_string()).collect(),
            x_label: "partition".into(),
            series: vec![Series::counts("events", &p.sizes, GREEN)],
            y_label: "events".into(),
            y_unit: Unit::Count,
            log_y: false,
            marked: p.sizes.iter().map(|n| Some(*n) == largest).collect(),
            marked_label: "largest".into(),
            vline: None,
            hlines: vec![(p.median as f64, format!("median {}", format_count(p.median)))],
        }),
        table,
        attrs: vec![
            ("partitions", p.partitions.to_string()),
            ("largest", p.largest.to_string()),
            ("median", p.median.to_string()),
            ("imbalance", opt(p.imbalance)),
            ("query", c.report.query.clone()),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Dataset

/// Events per UTC day of the loaded data (the whole dataset, before any setting).
#[component]
pub fn EventsPerDay(overview: ReadSignal<Option<DatasetOverview>>) -> impl IntoView {
    let data = Signal::derive(move || overview.with(|o| o.as_ref().map(events_per_day)));
    view! { <ChartCard id=CardId::EventsPerDay title="Events per day (whole dataset, UTC)" wide=true data=data /> }
}

fn events_per_day(o: &DatasetOverview) -> ChartData {
    let x: Vec<String> = (0..o.events_per_day.len() as i64)
        .map(|i| day_label(o.first_day + i))
        .collect();
    let mut table = Table::new(&["date", "events"]);
    for (d, n) in x.iter().zip(&o.events_per_day) {
        table.rows.push(vec![d.clone(), n.to_string()]);
    }
    ChartData {
        caption: format!(
            "{} events of {} users in the loaded data, per UTC day, before any setting applies.",
            format_count(o.events),
            format_count(o.users)
        ),
        plot: Plot::Lines(Lines {
            x,
            series: vec![Series::counts("events", &o.events_per_day, BLUE)],
            y_label: "events".into(),
            y_unit: Unit::Count,
            ratio: None,
        }),
        table,
        attrs: vec![
            ("total", sum(&o.events_per_day)),
            ("days", o.events_per_day.len().to_string()),
        ],
    }
}

/// "2023-07-01" for a day number.
fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
