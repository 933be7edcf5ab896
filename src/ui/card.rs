//! The chart card every panel uses: a title, a caption with units, a `<canvas>` drawn with
//! plotters at device pixels (crisp on high-DPI screens), a hover / keyboard read-out, "Download
//! CSV" (the engine's numbers behind the chart, unchanged), "Download PNG", and an expand toggle
//! whose state is the UI-only URL key `expand=<card id>`.
//!
//! A panel builds a [`ChartData`] from the engine's report — a [`Table`] (the CSV), a [`Plot`]
//! (what to draw) and `data-*` attributes for tests — and hands the card a signal of it:
//!
//! ```ignore
//! let data = Memo::new(move |_| computed.get().map(|c| ChartData { .. }));
//! view! { <ChartCard id=CardId::Sessions title="Sessions per day" data=data wide=true /> }
//! ```
//!
//! The card never computes a metric: it draws and exports what it is given.

use js_sys::Array;
use leptos::html::{Canvas, Figure};
use leptos::prelude::*;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, MouseEvent};

use super::controls::SetParam;
use super::permalink::{ui_value, Nav, Query};

/// The URL key holding the id of the expanded card.
pub const EXPAND_KEY: &str = "expand";

/// Lists every chart card once: its variant and its element id, which is also the `expand=`
/// value that enlarges it. [`ChartCard`] takes a [`CardId`], so a card cannot have an id this
/// list lacks, and a link's `expand=` is checked against it ([`link_issues`]).
macro_rules! card_ids {
    ($($variant:ident => $id:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CardId {
            $($variant,)*
        }

        impl CardId {
            pub const ALL: &[CardId] = &[$(CardId::$variant,)*];

            /// The element id (and `expand=` value).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CardId::$variant => $id,)*
                }
            }
        }
    };
}

card_ids! {
    ActiveUsers => "chart-active-users",
    Months => "chart-months",
    L7 => "chart-l7",
    L30 => "chart-l30",
    SessionsPerUser => "chart-sessions-per-user",
    Sessions => "chart-sessions",
    SessionDuration => "chart-session-duration",
    EventsPerSession => "chart-events-per-session",
    OutliersEvents => "chart-outliers-events",
    OutliersSessions => "chart-outliers-sessions",
    Segments => "chart-segments",
    SegmentMonths => "chart-segment-months",
    SegmentStickiness => "chart-segment-stickiness",
    Retention => "chart-retention",
    RetentionCurve => "chart-retention-curve",
    Lifecycle => "chart-lifecycle",
    Power => "chart-power",
    Versions => "chart-versions",
    Devices => "chart-devices",
    Anomalies => "chart-anomalies",
    TopUsers => "chart-top-users",
    Partitions => "chart-partitions",
    EventsPerDay => "chart-events-per-day",
    ProfileCompute => "chart-profile-compute",
    ProfileLoad => "chart-profile-load",
}

/// Check `expand=` in a link (strict: an id no card has is reported and no chart expanded).
pub fn link_issues(pairs: &[(String, String)]) -> Vec<crate::engine::ParamIssue> {
    pairs
        .iter()
        .filter(|(k, v)| k == EXPAND_KEY && !CardId::ALL.iter().any(|c| c.as_str() == v))
        .map(|(k, v)| crate::engine::ParamIssue {
            key: k.clone(),
            value: v.clone(),
            reason: "no chart has this id".into(),
            used: "no chart expanded".into(),
        })
        .collect()
}

/// The numbers behind a chart, exactly as the engine reports them (one row per point).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// RFC 4180 CSV with a header line; fields with `,`, `"` or newlines are quoted.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = row.iter().map(|f| field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }
}

/// How values on an axis read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole things (users, sessions, events): `12,345`; ticks `12k`.
    Count,
    /// A fraction 0–1 shown as a percentage.
    Ratio,
    /// Milliseconds shown as ms / s / min / h.
    Ms,
}

impl Unit {
    /// The value in a read-out.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Count => {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    let sign = if v < 0.0 { "-" } else { "" };
                    format!("{sign}{}", super::format_count(v.abs() as u64))
                } else {
                    format!("{v:.2}")
                }
            }
            Unit::Ratio => format!("{:.1}%", v * 100.0),
            Unit::Ms => format_ms(v),
        }
    }

    /// A tick label (short).
    fn tick(self, v: f64) -> String {
        match self {
            Unit::Count => compact(v),
            Unit::Ratio => format!("{:.0}%", v * 100.0),
            Unit::Ms => format_ms(v),
        }
    }
}

/// `1234` → `1.2k`, `2500000` → `2.5M`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        return if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        };
    };
    let x = v / d;
    if x.abs() >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}{s}")
    } else {
        format!("{x:.1}{s}")
    }
}

/// Milliseconds in the largest unit that keeps the number readable.
pub fn format_ms(ms: f64) -> String {
    let a = ms.abs();
    if a < 1000.0 {
        format!("{ms:.0} ms")
    } else if a < 60_000.0 {
        trim(ms / 1000.0) + " s"
    } else if a < 3_600_000.0 {
        trim(ms / 60_000.0) + " min"
    } else {
        trim(ms / 3_600_000.0) + " h"
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// One named series; `None` values are gaps (e.g. a ratio with a zero denominator).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub values: Vec<Option<f64>>,
    /// Index into the theme palette ([`color`]).
    pub color: usize,
}

impl Series {
    pub fn counts(label: &str, values: &[u64], color: usize) -> Series {
        Series {
            label: label.to_string(),
            values: values.iter().map(|&v| Some(v as f64)).collect(),
            color,
        }
    }
}

/// Palette slots.
pub const BLUE: usize = 0;
pub const GREEN: usize = 1;
pub const AMBER: usize = 2;
pub const PINK: usize = 3;
pub const PURPLE: usize = 4;
pub const TEAL: usize = 5;
pub const GRAY: usize = 6;
/// Marked bars (outliers, partial periods) and reference lines.
pub const MARK: usize = 7;

/// Theme colours: slot → RGB (light, dark).
fn color(slot: usize, dark: bool) -> RGBColor {
    const LIGHT: [(u8, u8, u8); 8] = [
        (37, 99, 235),
        (5, 150, 105),
        (217, 119, 6),
        (190, 24, 93),
        (124, 58, 237),
        (8, 145, 178),
        (100, 116, 139),
        (220, 38, 38),
    ];
    const DARK: [(u8, u8, u8); 8] = [
        (96, 165, 250),
        (52, 211, 153),
        (251, 191, 36),
        (244, 114, 182),
        (167, 139, 250),
        (34, 211, 238),
        (148, 163, 184),
        (248, 113, 113),
    ];
    let (r, g, b) = if dark { DARK } else { LIGHT }[slot % 8];
    RGBColor(r, g, b)
}

/// Lines over a category axis (days), with an optional 0–1 ratio on a secondary axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    pub x: Vec<String>,
    pub series: Vec<Series>,
    pub y_label: String,
    pub y_unit: Unit,
    pub ratio: Option<Series>,
}

/// Bars per category (grouped when there are several series).
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// Category tick labels (short).
    pub x: Vec<String>,
    /// Category names in the read-out, when longer than the tick label (empty: use `x`).
    pub x_titles: Vec<String>,
    pub x_label: String,
    pub series: Vec<Series>,
    pub y_label: String,
    pub y_unit: Unit,
    pub log_y: bool,
    /// Categories drawn in the mark colour (outlier bins, partial periods); same length as `x`
    /// or empty.
    pub marked: Vec<bool>,
    /// What a marked bar means (legend and read-out).
    pub marked_label: String,
    /// A dashed vertical line at a fractional category position (e.g. the outlier threshold).
    pub vline: Option<(f64, String)>,
    /// Dashed horizontal reference lines (e.g. the median partition size).
    pub hlines: Vec<(f64, String)>,
}

/// Counts of exact values on log–log axes (a distribution with a long tail).
#[derive(Debug, Clone, PartialEq)]
pub struct Stems {
    /// `(value, how many)`, ascending by value.
    pub points: Vec<(u64, u64)>,
    pub x_label: String,
    pub y_label: String,
    pub color: usize,
}

/// A grid of values (e.g. retention: cohorts × periods since the cohort started), shaded from
/// the background (0) to the series colour (`max`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Column labels, left to right.
    pub x: Vec<String>,
    /// Row labels, top to bottom.
    pub y: Vec<String>,
    /// `values[row][column]`; `None` = no value (drawn empty).
    pub values: Vec<Vec<Option<f64>>>,
    pub unit: Unit,
    pub x_label: String,
    pub y_label: String,
    /// The value drawn at full colour (default: the largest value).
    pub max: Option<f64>,
    pub color: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plot {
    Lines(Lines),
    Bars(Bars),
    Stems(Stems),
    /// Lines with marked categories (e.g. anomalous days): `(index, series, what happened)` —
    /// a dot on that series' value, or a faint vertical band when the series is `None`.
    Marked(Lines, Vec<(usize, Option<usize>, String)>),
    Heatmap(Heatmap),
    Timeline(Timeline),
}

/// One bar of a [`Timeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineBar {
    pub label: String,
    pub start_ms: f64,
    pub wall_ms: f64,
    pub color: usize,
    /// Extra read-out line (rows, memory).
    pub note: String,
}

/// Stages of a run as horizontal bars on a time axis (the engine profile).
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub bars: Vec<TimelineBar>,
    pub total_ms: f64,
}

/// Everything a card shows for one report.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    /// Under the title: what is plotted, with units.
    pub caption: String,
    pub plot: Plot,
    /// The CSV download.
    pub table: Table,
    /// Extra `data-*` attributes on the card (name without `data-`), for tests.
    pub attrs: Vec<(&'static str, String)>,
}

/// A point the read-out can snap to (CSS pixels, relative to the canvas).
#[derive(Debug, Clone, PartialEq)]
struct HoverPoint {
    x: f64,
    /// The cell's vertical extent (heatmaps); `None`: the whole plot height.
    y: Option<(f64, f64)>,
    title: String,
    rows: Vec<(usize, String, String)>,
}

/// The drawn plot area and its read-out points.
#[derive(Debug, Clone, PartialEq, Default)]
struct Drawn {
    points: Vec<HoverPoint>,
    top: f64,
    bottom: f64,
}

/// Window width and colour scheme; charts redraw when either changes.
#[derive(Clone, Copy)]
pub struct ViewEnv {
    pub width: ReadSignal<i32>,
    pub dark: ReadSignal<bool>,
}

/// Install the [`ViewEnv`] (window resize and `prefers-color-scheme` listeners) for the app.
pub fn provide_view_env() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let width_now = || {
        web_sys::window()
            .and_then(|w| w.inner_width().ok())
            .and_then(|v| v.as_f64())
            .unwrap_or(1280.0) as i32
    };
    let (width, set_width) = signal(width_now());
    let media = window
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten();
    let (dark, set_dark) = signal(media.as_ref().map(|m| m.matches()).unwrap_or(false));
    let on_resize = Closure::<dyn FnMut()>::new(move || set_width.set(width_now()));
    let _ = window.add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
    on_resize.forget();
    if let Some(m) = media {
        let m2 = m.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || set_dark.set(m2.matches()));
        let _ = m.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        on_change.forget();
    }
    provide_context(ViewEnv { width, dark });
}

/// A chart card. `id` is the DOM id, the CSV/PNG file name and the `expand=` value; `wide`
/// cards span the whole chart area; `children` go under the plot (facts, notes).
#[component]
pub fn ChartCard(
    id: CardId,
    title: &'static str,
    #[prop(into)] data: Signal<Option<ChartData>>,
    #[prop(optional)] wide: bool,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let id = id.as_str();
    let data = Memo::new(move |_| data.get());
    let env = use_context::<ViewEnv>();
    let query = use_context::<Query>();
    let set = use_context::<SetParam>();
    let expanded = Memo::new(move |_| {
        query.map(|q| ui_value(&q.0.get(), EXPAND_KEY).as_deref() == Some(id)) == Some(true)
    });
    let canvas = NodeRef::<Canvas>::new();
    let figure = NodeRef::<Figure>::new();
    let drawn = RwSignal::new(Drawn::default());
    let hover = RwSignal::new(None::<usize>);

    let redraw = move || {
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let dark = env.map(|e| e.dark.get_untracked()).unwrap_or(false);
        let result = data.with_untracked(|d| match d {
            Some(d) => draw(&el, &d.plot, dark),
            None => clear(&el, dark).map(|_| Drawn::default()),
        });
        match result {
            Ok(d) => {
                hover.set(None);
                drawn.set(d);
            }
            Err(e) => web_sys::console::warn_1(&format!("chart {id}: {e}").into()),
        }
    };
    // Data, window width or theme changed: redraw now.
    Effect::new(move |_| {
        data.track();
        if let Some(e) = env {
            e.width.track();
            e.dark.track();
        }
        redraw();
    });
    // Expanded or collapsed: the canvas changes size once the class is applied; draw next frame.
    Effect::new(move |prev: Option<bool>| {
        let now = expanded.get();
        if prev.is_some_and(|p| p != now) {
            request_animation_frame(redraw);
            if now {
                if let Some(f) = figure.get_untracked() {
                    f.scroll_into_view();
                }
            }
        }
        now
    });
    // data-* attributes for tests.
    Effect::new(move |_| {
        let Some(f) = figure.get() else { return };
        data.with(|d| match d {
            Some(d) => {
                for (k, v) in &d.attrs {
                    let _ = f.set_attribute(&format!("data-{k}"), v);
                }
                let _ = f.set_attribute("data-rows", &d.table.rows.len().to_string());
                let _ = f.set_attribute("data-state", "ready");
            }
            None => {
                let _ = f.set_attribute("data-state", "empty");
            }
        });
    });

    let on_move = move |ev: MouseEvent| {
        let (x, y) = (ev.offset_x() as f64, ev.offset_y() as f64);
        let best = drawn.with_untracked(|d| nearest(&d.points, x, y));
        hover.set(best);
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let n = drawn.with_untracked(|d| d.points.len());
        if n == 0 {
            return;
        }
        let cur = hover.get_untracked();
        let next = match ev.key().as_str() {
            "ArrowRight" => Some(cur.map_or(0, |i| (i + 1).min(n - 1))),
            "ArrowLeft" => Some(cur.map_or(n - 1, |i| i.saturating_sub(1))),
            "Home" => Some(0),
            "End" => Some(n - 1),
            "Escape" => None,
            _ => return,
        };
        ev.prevent_default();
        hover.set(next);
    };
    let download_csv = move |_| {
        if let Some(d) = data.get_untracked() {
            download_text(&format!("pulse-{id}.csv"), &d.table.to_csv(), "text/csv");
        }
    };
    let download_png = move |_| {
        if let Some(el) = canvas.get_untracked() {
            if let Ok(url) = el.to_data_url() {
                download_href(&format!("pulse-{id}.png"), &url);
            }
        }
    };
    let toggle = move |_| {
        if let Some(set) = set {
            let next = (!expanded.get_untracked()).then(|| id.to_string());
            set.0.run((EXPAND_KEY, next, Nav::Push));
        }
    };
    let readout = move || {
        let i = hover.get()?;
        let env_dark = env.map(|e| e.dark.get()).unwrap_or(false);
        drawn.with(|d| {
            let p = d.points.get(i)?;
            let width = canvas.get_untracked().map(|c| c.client_width() as f64).unwrap_or(0.0);
            let left = if p.x + 200.0 > width { (p.x - 210.0).max(0.0) } else { p.x + 12.0 };
            let rows = p
                .rows
                .iter()
                .map(|(c, label, value)| {
                    let RGBColor(r, g, b) = color(*c, env_dark);
                    view! {
                        <li><span class="swatch" style=format!("background:rgb({r},{g},{b})")></span>
                            <span class="k">{label.clone()}</span><span class="v">{value.clone()}</span></li>
                    }
                })
                .collect_view();
            Some(view! {
                <div class="crosshair" style=format!("left:{:.1}px;top:{:.1}px;height:{:.1}px", p.x, d.top, (d.bottom - d.top).max(0.0))></div>
                <div class="readout" role="status" data-index=i.to_string() style=format!("left:{left:.1}px")>
                    <strong>{p.title.clone()}</strong>
                    <ul>{rows}</ul>
                </div>
            })
        })
    };

    view! {
        <figure class="card" class:wide=wide class:expanded=move || expanded.get() id=id node_ref=figure data-state="empty">
            <header class="card-head">
                <div class="card-titles">
                    <h3 class="card-title">{title}</h3>
                    <p class="card-caption">{move || data.with(|d| d.as_ref().map(|d| d.caption.clone()).unwrap_or_default())}</p>
                </div>
                <div class="card-actions">
                    <button type="button" class="dl-csv" on:click=download_csv title="Download the numbers behind this chart as CSV">"CSV"</button>
                    <button type="button" class="dl-png" on:click=download_png title="Download this chart as a PNG image">"PNG"</button>
                    <button type="button" class="expand" on:click=toggle aria-pressed=move || expanded.get().to_string()
                        title="Expand this chart (kept in the link)">{move || if expanded.get() { "Collapse" } else { "Expand" }}</button>
                </div>
            </header>
            <div class="plot" on:mouseleave=move |_| hover.set(None)>
                <canvas node_ref=canvas class="chart-canvas" tabindex="0" role="img"
                    aria-label=format!("{title} (arrow keys read the values)")
                    on:mousemove=on_move on:keydown=on_key on:blur=move |_| hover.set(None)></canvas>
                {readout}
            </div>
            {children.map(|c| c())}
        </figure>
    }
}

/// Index of the point nearest to `x` (points ascend in x).
fn nearest(points: &[HoverPoint], x: f64, y: f64) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    if points.iter().any(|p| p.y.is_some()) {
        // Cells: the nearest centre among those whose row holds the pointer.
        let dist = |p: &HoverPoint| match p.y {
            Some((top, bottom)) if (top..=bottom).contains(&y) => (p.x - x).abs(),
            _ => f64::INFINITY,
        };
        return (0..points.len())
            .filter(|&i| dist(&points[i]).is_finite())
            .min_by(|&a, &b| dist(&points[a]).total_cmp(&dist(&points[b])));
    }
    let i = points.partition_point(|p| p.x < x);
    let cand = [i.saturating_sub(1), i.min(points.len() - 1)];
    cand.into_iter()
        .min_by(|&a, &b| (points[a].x - x).abs().total_cmp(&(points[b].x - x).abs()))
}

/// Save `text` as a file named `name` (a Blob URL, revoked once the download has started).
pub(super) fn download_text(name: &str, text: &str, mime: &str) {
    let parts = Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    download_href(name, &url);
    // Revoke after the click has started the download.
    gloo_timers::callback::Timeout::new(10_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
}

fn download_href(name: &str, href: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(a) = doc.create_element("a") else {
        return;
    };
    let a: web_sys::HtmlAnchorElement = a.unchecked_into();
    a.set_href(href);
    a.set_download(name);
    if let Some(body) = doc.body() {
        let _ = body.append_child(&a);
        a.click();
        a.remove();
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing. Every size is in CSS pixels × devicePixelRatio.

struct Frame {
    dpr: f64,
    bg: RGBColor,
    fg: RGBColor,
    muted: RGBColor,
    dark: bool,
}

impl Frame {
    fn px(&self, css: f64) -> u32 {
        (css * self.dpr).round() as u32
    }
    fn font(&self, css: f64) -> TextStyle<'static> {
        ("sans-serif", css * self.dpr).into_font().color(&self.fg)
    }
    fn muted_font(&self, css: f64) -> TextStyle<'static> {
        ("sans-serif", css * self.dpr)
            .into_font()
            .color(&self.muted)
    }
}

type Area = DrawingArea<CanvasBackend, Shift>;

fn setup(el: &HtmlCanvasElement, dark: bool) -> Result<(Area, Frame), String> {
    let dpr = web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .unwrap_or(1.0)
        .max(1.0);
    let css_w = el.client_width().max(280) as f64;
    let css_h = el.client_height().max(180) as f64;
    let (w, h) = ((css_w * dpr).round() as u32, (css_h * dpr).round() as u32);
    if el.width() != w {
        el.set_width(w);
    }
    if el.height() != h {
        el.set_height(h);
    }
    let backend = CanvasBackend::with_canvas_object(el.clone()).ok_or("no 2d context")?;
    let root = backend.into_drawing_area();
    let frame = if dark {
        Frame {
            dpr,
            bg: RGBColor(24, 26, 31),
            fg: RGBColor(220, 222, 228),
            muted: RGBColor(153, 160, 171),
            dark,
        }
    } else {
        Frame {
            dpr,
            bg: WHITE,
            fg: RGBColor(40, 42, 48),
            muted: RGBColor(91, 99, 110),
            dark,
        }
    };
    root.fill(&frame.bg).map_err(|e| e.to_string())?;
    Ok((root, frame))
}

fn clear(el: &HtmlCanvasElement, dark: bool) -> Result<(), String> {
    let (root, _) = setup(el, dark)?;
    root.present().map_err(|e| e.to_string())
}

fn draw(el: &HtmlCanvasElement, plot: &Plot, dark: bool) -> Result<Drawn, String> {
    let (root, f) = setup(el, dark)?;
    let values = |series: &[Series]| series.iter().any(|s| s.values.iter().any(Option::is_some));
    let empty = match plot {
        Plot::Lines(l) => !values(&l.series),
        Plot::Bars(b) => !values(&b.series),
        Plot::Stems(s) => s.points.is_empty(),
        Plot::Heatmap(h) => !h.values.iter().flatten().any(Option::is_some),
        Plot::Marked(l, _) => !values(&l.series),
        Plot::Timeline(t) => t.bars.is_empty(),
    };
    if empty {
        let (w, h) = root.dim_in_pixel();
        let font = f.muted_font(13.0).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(
            "Nothing to show for these settings",
            (w as i32 / 2, h as i32 / 2),
            font,
        ))
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        return Ok(Drawn::default());
    }
    let drawn = match plot {
        Plot::Lines(l) => draw_lines(&root, &f, l, &[]),
        Plot::Marked(l, marks) => draw_lines(&root, &f, l, marks),
        Plot::Heatmap(h) => draw_heatmap(&root, &f, h),
        Plot::Timeline(t) => draw_timeline(&root, &f, t),
        Plot::Bars(b) => draw_bars(&root, &f, b),
        Plot::Stems(s) => draw_stems(&root, &f, s),
    }
    .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(drawn)
}

type DrawResult<T> = Result<T, DrawingAreaErrorKind<<CanvasBackend as DrawingBackend>::ErrorType>>;

/// The top strip: the left axis' unit, the legend, the right axis' unit.
fn header_strip(
    root: &Area,
    f: &Frame,
    left_unit: &str,
    legend: &[(String, usize, bool)],
    right_unit: Option<&str>,
) -> DrawResult<()> {
    let font = f.font(12.0);
    let muted = f.muted_font(12.0);
    let y = f.px(6.0) as i32;
    root.draw(&Text::new(
        left_unit.to_string(),
        (f.px(8.0) as i32, y),
        muted.clone(),
    ))?;
    let (uw, _) = root.estimate_text_size(left_unit, &muted)?;
    let mut x = f.px(8.0) as i32 + uw as i32 + f.px(18.0) as i32;
    let mid = y + f.px(7.0) as i32;
    for (label, c, is_box) in legend {
        let col = color(*c, f.dark);
        if *is_box {
            root.draw(&Rectangle::new(
                [
                    (x, mid - f.px(5.0) as i32),
                    (x + f.px(10.0) as i32, mid + f.px(5.0) as i32),
                ],
                col.filled(),
            ))?;
        } else {
            root.draw(&PathElement::new(
                vec![(x, mid), (x + f.px(14.0) as i32, mid)],
                col.stroke_width(f.px(2.5)),
            ))?;
        }
        x += f.px(18.0) as i32;
        root.draw(&Text::new(label.clone(), (x, y), font.clone()))?;
        let (w, _) = root.estimate_text_size(label, &font)?;
        x += w as i32 + f.px(14.0) as i32;
    }
    if let Some(r) = right_unit {
        let (w, _) = root.estimate_text_size(r, &muted)?;
        let rx = root.dim_in_pixel().0 as i32 - w as i32 - f.px(8.0) as i32;
        if rx > x {
            root.draw(&Text::new(r.to_string(), (rx, y), muted))?;
        }
    }
    Ok(())
}

/// Ticks for a linear axis: about `n` round values.
fn y_max(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.fold(0.0f64, f64::max);
    if m <= 0.0 {
        1.0
    } else {
        m * 1.08
    }
}

fn draw_lines(
    root: &Area,
    f: &Frame,
    l: &Lines,
    marks: &[(usize, Option<usize>, String)],
) -> DrawResult<Drawn> {
    let n = l.x.len().max(1);
    let width_css = root.dim_in_pixel().0 as f64 / f.dpr;
    let max = y_max(
        l.series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
    );
    let mut legend: Vec<(String, usize, bool)> = l
        .series
        .iter()
        .map(|s| (s.label.clone(), s.color, false))
        .collect();
    if let Some(r) = &l.ratio {
        legend.push((format!("{} (right axis)", r.label), r.color, false));
    }
    if !marks.is_empty() {
        legend.push(("flagged".into(), MARK, true));
    }
    let right_unit = l.ratio.as_ref().map(|r| format!("{} %", r.label));
    header_strip(root, f, &l.y_label, &legend, right_unit.as_deref())?;
    let mut chart = ChartBuilder::on(root)
        .margin_top(f.px(28.0))
        .margin_left(f.px(6.0))
        .margin_right(f.px(if l.ratio.is_some() { 6.0 } else { 16.0 }))
        .margin_bottom(f.px(4.0))
        .x_label_area_size(f.px(24.0))
        .y_label_area_size(f.px(48.0))
        .right_y_label_area_size(if l.ratio.is_some() { f.px(44.0) } else { 0 })
        .build_cartesian_2d(0i64..(n as i64 - 1).max(1), 0f64..max)?
        .set_secondary_coord(0i64..(n as i64 - 1).max(1), 0f64..1.0f64);
    let labels = ((width_css - 120.0) / 95.0).clamp(2.0, 12.0) as usize;
    let unit = l.y_unit;
    let x_fmt = |i: &i64| l.x.get(*i as usize).cloned().unwrap_or_default();
    let y_fmt = move |v: &f64| unit.tick(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(f.fg.mix(0.08))
        .axis_style(f.fg.mix(0.45))
        .label_style(f.font(11.0))
        .x_labels(labels.min(n))
        .y_labels(5)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;
    for s in &l.series {
        let col = color(s.color, f.dark);
        chart.draw_series(segments(&s.values).into_iter().map(|seg| {
            PathElement::new(
                seg.into_iter()
                    .map(|(i, v)| (i as i64, v))
                    .collect::<Vec<_>>(),
                col.stroke_width(f.px(1.6)),
            )
        }))?;
    }
    if let Some(r) = &l.ratio {
        chart
            .configure_secondary_axes()
            .axis_style(f.fg.mix(0.45))
            .label_style(f.font(11.0))
            .y_labels(5)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()?;
        let col = color(r.color, f.dark);
        chart.draw_secondary_series(segments(&r.values).into_iter().map(|seg| {
            PathElement::new(
                seg.into_iter()
                    .map(|(i, v)| (i as i64, v))
                    .collect::<Vec<_>>(),
                col.mix(0.85).stroke_width(f.px(1.2)),
            )
        }))?;
    }
    // Marked categories: a dot on the series' value, or a faint vertical band.
    let mark = color(MARK, f.dark);
    for (i, series, _) in marks {
        let i = *i as i64;
        match series.and_then(|s| l.series.get(s)) {
            Some(s) => {
                if let Some(v) = s.values.get(i as usize).copied().flatten() {
                    chart.draw_series(std::iter::once(Circle::new(
                        (i, v),
                        f.px(3.5),
                        mark.filled(),
                    )))?;
                }
            }
            None => {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(i, 0.0), (i, max)],
                    mark.mix(0.35).stroke_width(f.px(1.0)),
                )))?;
            }
        }
    }
    let (_, yr) = chart.plotting_area().get_pixel_range();
    let points = (0..l.x.len())
        .map(|i| {
            let (px, _) = chart.backend_coord(&(i as i64, 0.0));
            let mut rows: Vec<(usize, String, String)> = l
                .series
                .iter()
                .map(|s| {
                    (
                        s.color,
                        s.label.clone(),
                        value_text(s.values.get(i), l.y_unit),
                    )
                })
                .collect();
            if let Some(r) = &l.ratio {
                rows.push((
                    r.color,
                    r.label.clone(),
                    value_text(r.values.get(i), Unit::Ratio),
                ));
            }
            for (_, _, what) in marks.iter().filter(|(m, _, _)| *m == i) {
                rows.push((MARK, "flagged".into(), what.clone()));
            }
            HoverPoint {
                x: px as f64 / f.dpr,
                y: None,
                title: l.x[i].clone(),
                rows,
            }
        })
        .collect();
    Ok(Drawn {
        points,
        top: yr.start as f64 / f.dpr,
        bottom: yr.end as f64 / f.dpr,
    })
}

fn value_text(v: Option<&Option<f64>>, unit: Unit) -> String {
    match v.copied().flatten() {
        Some(v) => unit.format(v),
        None => "—".into(),
    }
}

/// Runs of consecutive present values (gaps split the line).
fn segments(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut cur = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => cur.push((i, *v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_bars(root: &Area, f: &Frame, b: &Bars) -> DrawResult<Drawn> {
    let n = b.x.len().max(1);
    let mut legend: Vec<(String, usize, bool)> = b
        .series
        .iter()
        .filter(|_| b.series.len() > 1)
        .map(|s| (s.label.clone(), s.color, true))
        .collect();
    if b.marked.iter().any(|m| *m) && !b.marked_label.is_empty() {
        legend.push((b.marked_label.clone(), MARK, true));
    }
    header_strip(root, f, &b.y_label, &legend, None)?;
    let values = || {
        b.series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    };
    let max = y_max(values().chain(b.hlines.iter().map(|h| h.0)));
    let x_range = -0.5f64..n as f64 - 0.5;
    let mut builder = ChartBuilder::on(root);
    let area = builder
        .margin_top(f.px(28.0))
        .margin_left(f.px(6.0))
        .margin_right(f.px(16.0))
        .margin_bottom(f.px(4.0))
        .x_label_area_size(f.px(if b.x_label.is_empty() { 24.0 } else { 40.0 }))
        .y_label_area_size(f.px(52.0));
    let mut drawn = Drawn::default();
    if b.log_y {
        let lo = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() {
            (lo / 2.0).max(0.5)
        } else {
            0.5
        };
        let mut chart =
            area.build_cartesian_2d(x_range, (lo..max.max(lo * 10.0) * 1.5).log_scale())?;
        bars_body(root, &mut chart, f, b, lo, &mut drawn)?;
    } else {
        let mut chart = area.build_cartesian_2d(x_range, 0f64..max)?;
        bars_body(root, &mut chart, f, b, 0.0, &mut drawn)?;
    }
    Ok(drawn)
}

fn bars_body<Y>(
    root: &Area,
    chart: &mut ChartContext<
        '_,
        CanvasBackend,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    f: &Frame,
    b: &Bars,
    base: f64,
    drawn: &mut Drawn,
) -> DrawResult<()>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let unit = b.y_unit;
    let y_fmt = move |v: &f64| unit.tick(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .light_line_style(TRANSPARENT)
        .bold_line_style(f.fg.mix(0.08))
        .axis_style(f.fg.mix(0.45))
        .label_style(f.font(11.0))
        .y_labels(5)
        .y_label_formatter(&y_fmt)
        .draw()?;
    let k = b.series.len().max(1) as f64;
    let slot = 0.8 / k;
    for (si, s) in b.series.iter().enumerate() {
        let normal = color(s.color, f.dark);
        let mark = color(MARK, f.dark);
        chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            if v <= base {
                return None;
            }
            let x0 = i as f64 - 0.4 + slot * si as f64;
            let c = if b.marked.get(i).copied().unwrap_or(false) {
                mark
            } else {
                normal
            };
            Some(Rectangle::new(
                [(x0 + slot * 0.06, base), (x0 + slot * 0.94, v)],
                c.filled(),
            ))
        }))?;
    }
    // Labels are drawn on the whole canvas (absolute pixels): the plotting area clamps
    // coordinates to itself, which would pull labels under the axis onto it.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let n = b.x.len() as f64;
    for (y, label) in &b.hlines {
        let col = color(GRAY, f.dark);
        chart.draw_series(DashedLineSeries::new(
            vec![(-0.5, *y), (n - 0.5, *y)],
            f.px(5.0),
            f.px(4.0),
            col.stroke_width(f.px(1.2)),
        ))?;
        let (_, py) = chart.backend_coord(&(-0.5, *y));
        let font = f.muted_font(11.0).pos(Pos::new(HPos::Left, VPos::Bottom));
        root.draw(&Text::new(
            label.clone(),
            (xr.start + f.px(4.0) as i32, py - f.px(2.0) as i32),
            font,
        ))?;
    }
    if let Some((pos, label)) = &b.vline {
        let col = color(MARK, f.dark);
        let (x, _) = chart.backend_coord(&(*pos, base.max(1e-9)));
        root.draw(&PathElement::new(
            vec![(x, yr.start), (x, yr.end)],
            col.stroke_width(f.px(1.2)),
        ))?;
        let right_half = x > (xr.start + xr.end) / 2;
        let (hpos, dx) = if right_half {
            (HPos::Right, -(f.px(4.0) as i32))
        } else {
            (HPos::Left, f.px(4.0) as i32)
        };
        let font = f.font(11.0).color(&col).pos(Pos::new(hpos, VPos::Top));
        root.draw(&Text::new(
            label.clone(),
            (x + dx, yr.start + f.px(2.0) as i32),
            font,
        ))?;
    }
    // Category labels under the axis: as many as fit.
    let plot_w = (xr.end - xr.start) as f64 / f.dpr;
    let longest = b.x.iter().map(|s| s.chars().count()).max().unwrap_or(1) as f64;
    let fit = (plot_w / (longest * 6.5 + 12.0)).floor().max(1.0) as usize;
    let step = b.x.len().div_ceil(fit).max(1);
    let font = f.font(11.0).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, label) in b.x.iter().enumerate() {
        let (px, _) = chart.backend_coord(&(i as f64, base.max(1e-9)));
        if i % step == 0 {
            root.draw(&Text::new(
                label.clone(),
                (px, yr.end + f.px(5.0) as i32),
                font.clone(),
            ))?;
        }
        let marked = b.marked.get(i).copied().unwrap_or(false);
        let name = b.x_titles.get(i).unwrap_or(label);
        let title = if marked && !b.marked_label.is_empty() {
            format!("{name} — {}", b.marked_label)
        } else {
            name.clone()
        };
        drawn.points.push(HoverPoint {
            x: px as f64 / f.dpr,
            y: None,
            title,
            rows: b
                .series
                .iter()
                .map(|s| {
                    (
                        if marked { MARK } else { s.color },
                        s.label.clone(),
                        value_text(s.values.get(i), unit),
                    )
                })
                .collect(),
        });
    }
    if !b.x_label.is_empty() {
        let font = f.muted_font(11.0).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(
            b.x_label.clone(),
            ((xr.start + xr.end) / 2, yr.end + f.px(21.0) as i32),
            font,
        ))?;
    }
    drawn.top = yr.start as f64 / f.dpr;
    drawn.bottom = yr.end as f64 / f.dpr;
    Ok(())
}

fn draw_stems(root: &Area, f: &Frame, s: &Stems) -> DrawResult<Drawn> {
    header_strip(root, f, &s.y_label, &[], None)?;
    let max_x = s.points.iter().map(|p| p.0).max().unwrap_or(1).max(2) as f64;
    let max_y = s.points.iter().map(|p| p.1).max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin_top(f.px(28.0))
        .margin_left(f.px(6.0))
        .margin_right(f.px(16.0))
        .margin_bottom(f.px(4.0))
        .x_label_area_size(f.px(40.0))
        .y_label_area_size(f.px(52.0))
        .build_cartesian_2d(
            (0.8f64..max_x * 1.25).log_scale(),
            (0.7f64..max_y * 1.6).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(f.fg.mix(0.08))
        .axis_style(f.fg.mix(0.45))
        .label_style(f.font(11.0))
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .x_desc(s.x_label.as_str())
        .axis_desc_style(f.muted_font(11.0))
        .draw()?;
    let col = color(s.color, f.dark);
    chart.draw_series(s.points.iter().map(|&(x, y)| {
        PathElement::new(
            vec![(x as f64, 0.7), (x as f64, y as f64)],
            col.mix(0.55).stroke_width(f.px(1.0)),
        )
    }))?;
    chart.draw_series(
        s.points
            .iter()
            .map(|&(x, y)| Circle::new((x as f64, y as f64), f.px(2.2), col.filled())),
    )?;
    let (_, yr) = chart.plotting_area().get_pixel_range();
    let points = s
        .points
        .iter()
        .map(|&(x, y)| {
            let (px, _) = chart.backend_coord(&(x as f64, 1.0));
            HoverPoint {
                x: px as f64 / f.dpr,
                y: None,
                title: format!("{} = {}", s.x_label, super::format_count(x)),
                rows: vec![(s.color, s.y_label.clone(), super::format_count(y))],
            }
        })
        .collect();
    Ok(Drawn {
        points,
        top: yr.start as f64 / f.dpr,
        bottom: yr.end as f64 / f.dpr,
    })
}

fn draw_heatmap(root: &Area, f: &Frame, h: &Heatmap) -> DrawResult<Drawn> {
    header_strip(root, f, &h.y_label, &[], None)?;
    let (nc, nr) = (h.x.len().max(1), h.y.len().max(1));
    let longest_y = h.y.iter().map(|s| s.chars().count()).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin_top(f.px(28.0))
        .margin_left(f.px(6.0))
        .margin_right(f.px(16.0))
        .margin_bottom(f.px(4.0))
        .x_label_area_size(f.px(if h.x_label.is_empty() { 22.0 } else { 38.0 }))
        .y_label_area_size(f.px((longest_y * 6.5 + 12.0).clamp(30.0, 120.0)))
        .build_cartesian_2d(0f64..nc as f64, 0f64..nr as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .axis_style(f.fg.mix(0.45))
        .draw()?;
    let max = h
        .max
        .unwrap_or_else(|| {
            h.values
                .iter()
                .flatten()
                .flatten()
                .copied()
                .fold(0.0, f64::max)
        })
        .max(f64::MIN_POSITIVE);
    let full = color(h.color, f.dark);
    let shade = |v: f64| {
        let t = (v / max).clamp(0.0, 1.0);
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        RGBColor(
            mix(f.bg.0, full.0),
            mix(f.bg.1, full.1),
            mix(f.bg.2, full.2),
        )
    };
    // Row 0 at the top.
    let top_of = |r: usize| (nr - r) as f64;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let cell_w = (xr.end - xr.start) as f64 / nc as f64 / f.dpr;
    let cell_h = (yr.end - yr.start) as f64 / nr as f64 / f.dpr;
    let numbers = cell_w >= 34.0 && cell_h >= 14.0;
    let mut points = Vec::new();
    for (r, row) in h.values.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let (x0, y0) = (c as f64, top_of(r));
            if let Some(v) = v {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 - 1.0)],
                    shade(*v).filled(),
                )))?;
                if numbers {
                    let (cx, cy) = chart.backend_coord(&(x0 + 0.5, y0 - 0.5));
                    let ink = if (*v / max) > 0.55 { f.bg } else { f.fg };
                    let font = ("sans-serif", 10.0 * f.dpr)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw(&Text::new(h.unit.tick(*v), (cx, cy), font))?;
                }
            }
            let (px, top) = chart.backend_coord(&(x0 + 0.5, y0));
            let (_, bottom) = chart.backend_coord(&(x0 + 0.5, y0 - 1.0));
            points.push(HoverPoint {
                x: px as f64 / f.dpr,
                y: Some((top as f64 / f.dpr, bottom as f64 / f.dpr)),
                title: format!(
                    "{} {} · {} {}",
                    h.y_label,
                    h.y.get(r).cloned().unwrap_or_default(),
                    h.x_label,
                    h.x.get(c).cloned().unwrap_or_default()
                ),
                rows: vec![(h.color, h.y_label.clone(), value_text(Some(v), h.unit))],
            });
        }
    }
    // Row and column labels (on the whole canvas: the plot area clamps coordinates).
    let font = f.font(11.0).pos(Pos::new(HPos::Right, VPos::Center));
    let row_step = (14.0 / cell_h).ceil().max(1.0) as usize;
    for (r, label) in h.y.iter().enumerate().step_by(row_step) {
        let (_, cy) = chart.backend_coord(&(0.0, top_of(r) - 0.5));
        root.draw(&Text::new(
            label.clone(),
            (xr.start - f.px(4.0) as i32, cy),
            font.clone(),
        ))?;
    }
    let longest_x = h.x.iter().map(|s| s.chars().count()).max().unwrap_or(1) as f64;
    let col_step = ((longest_x * 6.5 + 8.0) / cell_w).ceil().max(1.0) as usize;
    let font = f.font(11.0).pos(Pos::new(HPos::Center, VPos::Top));
    for (c, label) in h.x.iter().enumerate().step_by(col_step) {
        let (cx, _) = chart.backend_coord(&(c as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            label.clone(),
            (cx, yr.end + f.px(4.0) as i32),
            font.clone(),
        ))?;
    }
    if !h.x_label.is_empty() {
        let font = f.muted_font(11.0).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(
            h.x_label.clone(),
            ((xr.start + xr.end) / 2, yr.end + f.px(20.0) as i32),
            font,
        ))?;
    }
    Ok(Drawn {
        points,
        top: yr.start as f64 / f.dpr,
        bottom: yr.end as f64 / f.dpr,
    })
}

/// Stages as bars from their start to their end on a shared millisecond axis.
fn draw_timeline(root: &Area, f: &Frame, t: &Timeline) -> DrawResult<Drawn> {
    header_strip(root, f, "stage", &[], Some("wall time"))?;
    if t.bars.is_empty() {
        return Ok(Drawn::default());
    }
    let (w, hgt) = root.dim_in_pixel();
    let (w, hgt) = (w as f64 / f.dpr, hgt as f64 / f.dpr);
    let font = f.font(11.0);
    let left = t
        .bars
        .iter()
        .map(|b| {
            root.estimate_text_size(&b.label, &font)
                .map(|(x, _)| x as f64 / f.dpr)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .fold(60.0f64, f64::max)
        + 12.0;
    let (top, bottom, right) = (28.0, 26.0, 70.0);
    let total = t
        .bars
        .iter()
        .map(|b| b.start_ms + b.wall_ms)
        .fold(t.total_ms, f64::max)
        .max(1e-3);
    let n = t.bars.len().max(1) as f64;
    let rh = ((hgt - top - bottom) / n).clamp(4.0, 34.0);
    let scale = (w - left - right).max(10.0) / total;
    let px = |v: f64| (v * f.dpr).round() as i32;
    let mut drawn = Drawn {
        top,
        bottom: top + rh * n,
        ..Drawn::default()
    };
    // Axis: ticks at round milliseconds.
    let raw = total / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let axis_y = top + rh * n;
    let mut tick = 0.0;
    while tick <= total + 1e-9 {
        let x = left + tick * scale;
        root.draw(&PathElement::new(
            vec![(px(x), px(top)), (px(x), px(axis_y))],
            f.fg.mix(0.08).stroke_width(1),
        ))?;
        root.draw(&Text::new(
            format_ms(tick),
            (px(x), px(axis_y + 4.0)),
            f.font(11.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        tick += step;
    }
    for (i, b) in t.bars.iter().enumerate() {
        let y = top + i as f64 * rh;
        root.draw(&Text::new(
            b.label.clone(),
            (px(left - 6.0), px(y + rh / 2.0)),
            font.clone().pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        let x0 = left + b.start_ms * scale;
        let x1 = x0 + (b.wall_ms * scale).max(1.5);
        root.draw(&Rectangle::new(
            [(px(x0), px(y + rh * 0.18)), (px(x1), px(y + rh * 0.82))],
            color(b.color, f.dark).filled(),
        ))?;
        root.draw(&Text::new(
            format_ms(b.wall_ms),
            (px(x1 + 4.0), px(y + rh / 2.0)),
            f.muted_font(10.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        drawn.points.push(HoverPoint {
            x: (x0 + x1) / 2.0,
            y: Some((y, y + rh)),
            title: b.label.clone(),
            rows: vec![
                (b.color, "wall time".into(), format_ms(b.wall_ms)),
                (GRAY, "started at".into(), format_ms(b.start_ms)),
                (GRAY, "work".into(), b.note.clone()),
            ],
        });
    }
    Ok(drawn)
}
