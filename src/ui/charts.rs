//! Charts drawn with plotters on a `<canvas>`, sized in device pixels so they stay crisp on
//! high-DPI screens. Each chart also exposes its numbers as `data-*` attributes for tests and
//! for CSV export.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::engine::overview::DatasetOverview;
use crate::protocol::Computed;

const DAY_MS: i64 = 86_400_000;

/// Events per UTC day of the loaded data.
#[component]
pub fn EventsPerDay(overview: ReadSignal<Option<DatasetOverview>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let Some(o) = overview.get() else { return };
        if let Some(el) = canvas.get() {
            if let Err(e) = draw_events_per_day(&el, &o) {
                web_sys::console::warn_1(&format!("chart: {e}").into());
            }
        }
    });
    let total = move || {
        overview
            .get()
            .map(|o| o.events_per_day.iter().sum::<u64>().to_string())
            .unwrap_or_default()
    };
    let days = move || {
        overview
            .get()
            .map(|o| o.events_per_day.len().to_string())
            .unwrap_or_default()
    };
    view! {
        <figure class="chart" id="chart-events-per-day" data-total=total data-days=days>
            <figcaption>"Events per day (UTC)"</figcaption>
            <canvas node_ref=canvas class="chart-canvas" role="img" aria-label="Events per day"></canvas>
        </figure>
    }
}

fn draw_events_per_day(el: &HtmlCanvasElement, o: &DatasetOverview) -> Result<(), String> {
    let dates: Vec<String> = (0..o.events_per_day.len() as i64)
        .map(|i| day_label(o.first_day + i))
        .collect();
    draw_lines(
        el,
        &dates,
        &[Line {
            label: "events",
            values: as_f64(&o.events_per_day),
            color: RGBColor(37, 99, 235),
        }],
        None,
        "events",
    )
}

/// "2023-07-01" for a day number.
fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn prefers_dark() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .map(|m| m.matches())
        .unwrap_or(false)
}

/// One line of a time-series chart.
struct Line<'a> {
    label: &'a str,
    values: Vec<f64>,
    color: RGBColor,
}

fn palette(dark: bool) -> (RGBColor, RGBColor) {
    if dark {
        (RGBColor(24, 26, 31), RGBColor(220, 222, 228))
    } else {
        (WHITE, RGBColor(40, 42, 48))
    }
}

/// Lines over a day axis, with an optional ratio line (0–1) on a secondary axis.
fn draw_lines(
    el: &HtmlCanvasElement,
    dates: &[String],
    lines: &[Line<'_>],
    ratio: Option<Line<'_>>,
    y_desc: &str,
) -> Result<(), String> {
    let dpr = web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .unwrap_or(1.0);
    let css_w = el.client_width().max(300) as f64;
    let css_h = el.client_height().max(200) as f64;
    el.set_width((css_w * dpr) as u32);
    el.set_height((css_h * dpr) as u32);
    let backend = CanvasBackend::with_canvas_object(el.clone()).ok_or("no 2d context")?;
    let root = backend.into_drawing_area();
    let (bg, fg) = palette(prefers_dark());
    root.fill(&bg).map_err(|e| e.to_string())?;
    let n = dates.len().max(1) as i64;
    let max = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .fold(1.0f64, f64::max);
    let font = (12.0 * dpr) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin((10.0 * dpr) as u32)
        .x_label_area_size((30.0 * dpr) as u32)
        .y_label_area_size((56.0 * dpr) as u32)
        .right_y_label_area_size(if ratio.is_some() {
            (48.0 * dpr) as u32
        } else {
            0
        })
        .build_cartesian_2d(0i64..n, 0f64..max * 1.1)
        .map_err(|e| e.to_string())?
        .set_secondary_coord(0i64..n, 0f64..1f64);
    let label = |d: &i64| dates.get(*d as usize).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(fg.mix(0.06))
        .bold_line_style(fg.mix(0.12))
        .axis_style(fg.mix(0.6))
        .label_style(("sans-serif", font).into_font().color(&fg))
        .y_desc(y_desc)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_labels(8)
        .x_label_formatter(&label)
        .draw()
        .map_err(|e| e.to_string())?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.values.iter().enumerate().map(|(i, v)| (i as i64, *v)),
                color.stroke_width((1.5 * dpr) as u32),
            ))
            .map_err(|e| e.to_string())?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
            });
    }
    if let Some(r) = &ratio {
        chart
            .configure_secondary_axes()
            .axis_style(fg.mix(0.6))
            .label_style(("sans-serif", font).into_font().color(&fg))
            .y_desc(r.label)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()
            .map_err(|e| e.to_string())?;
        let color = r.color;
        chart
            .draw_secondary_series(LineSeries::new(
                r.values.iter().enumerate().map(|(i, v)| (i as i64, *v)),
                color.mix(0.8).stroke_width((1.0 * dpr) as u32),
            ))
            .map_err(|e| e.to_string())?
            .label(r.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(bg.mix(0.85))
        .border_style(fg.mix(0.3))
        .label_font(("sans-serif", font).into_font().color(&fg))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Redraw `canvas` whenever `computed` changes.
fn redraw_on(
    computed: ReadSignal<Option<Computed>>,
    canvas: NodeRef<Canvas>,
    draw: fn(&HtmlCanvasElement, &Computed) -> Result<(), String>,
) {
    Effect::new(move |_| {
        let Some(c) = computed.get() else { return };
        if let Some(el) = canvas.get() {
            if let Err(e) = draw(&el, &c) {
                web_sys::console::warn_1(&format!("chart: {e}").into());
            }
        }
    });
}

fn dates(c: &Computed) -> Vec<String> {
    c.report.axis.dates.iter().map(|d| d.iso()).collect()
}

fn as_f64(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// DAU / WAU / MAU per day under the chosen definition, with DAU/MAU on its own axis.
#[component]
pub fn ActiveUsers(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    redraw_on(computed, canvas, |el, c| {
        let a = &c.report.activity;
        draw_lines(
            el,
            &dates(c),
            &[
                Line {
                    label: "DAU",
                    values: as_f64(&a.dau),
                    color: RGBColor(37, 99, 235),
                },
                Line {
                    label: "WAU",
                    values: as_f64(&a.wau),
                    color: RGBColor(16, 163, 127),
                },
                Line {
                    label: "MAU",
                    values: as_f64(&a.mau),
                    color: RGBColor(217, 119, 6),
                },
            ],
            Some(Line {
                label: "DAU/MAU",
                values: a.dau_mau.iter().map(|r| r.unwrap_or(0.0)).collect(),
                color: RGBColor(190, 24, 93),
            }),
            "active users",
        )
    });
    let attr =
        move |f: fn(&Computed) -> String| move || computed.get().map(|c| f(&c)).unwrap_or_default();
    view! {
        <figure class="chart" id="chart-active-users"
            data-dau-sum=attr(|c| c.report.activity.dau.iter().sum::<u64>().to_string())
            data-wau-sum=attr(|c| c.report.activity.wau.iter().sum::<u64>().to_string())
            data-mau-sum=attr(|c| c.report.activity.mau.iter().sum::<u64>().to_string())
            data-days=attr(|c| c.report.axis.dates.len().to_string())
            data-query=attr(|c| c.report.query.clone())>
            <figcaption>
                "Active users — " {move || computed.get().map(|c| c.report.definition.clone()).unwrap_or_default()}
            </figcaption>
            <canvas node_ref=canvas class="chart-canvas" role="img" aria-label="DAU, WAU and MAU per day"></canvas>
        </figure>
    }
}

/// Sessions started per day (by the session's start day in the chosen zone).
#[component]
pub fn SessionsPerDay(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    redraw_on(computed, canvas, |el, c| {
        draw_lines(
            el,
            &dates(c),
            &[Line {
                label: "sessions",
                values: as_f64(&c.report.sessions.per_day),
                color: RGBColor(124, 58, 237),
            }],
            None,
            "sessions",
        )
    });
    let attr =
        move |f: fn(&Computed) -> String| move || computed.get().map(|c| f(&c)).unwrap_or_default();
    view! {
        <figure class="chart" id="chart-sessions"
            data-sessions=attr(|c| c.report.sessions.count.to_string())
            data-query=attr(|c| c.report.query.clone())>
            <figcaption>
                "Sessions per day — " {move || computed.get().map(|c| format!("{} sessions, gap {}", super::format_count(c.report.sessions.count), c.report.params.value_of("gap").unwrap_or_default())).unwrap_or_default()}
            </figcaption>
            <canvas node_ref=canvas class="chart-canvas" role="img" aria-label="Sessions per day"></canvas>
        </figure>
    }
}
