//! Charts drawn with plotters on a `<canvas>`, sized in device pixels so they stay crisp on
//! high-DPI screens. Each chart also exposes its numbers as `data-*` attributes for tests and
//! for CSV export.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::engine::overview::DatasetOverview;

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
    let dpr = web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .unwrap_or(1.0);
    let css_w = el.client_width().max(300) as f64;
    let css_h = el.client_height().max(200) as f64;
    el.set_width((css_w * dpr) as u32);
    el.set_height((css_h * dpr) as u32);
    let backend = CanvasBackend::with_canvas_object(el.clone()).ok_or("no 2d context")?;
    let root = backend.into_drawing_area();
    let dark = prefers_dark();
    let (bg, fg, accent) = if dark {
        (
            RGBColor(24, 26, 31),
            RGBColor(220, 222, 228),
            RGBColor(110, 168, 254),
        )
    } else {
        (WHITE, RGBColor(40, 42, 48), RGBColor(37, 99, 235))
    };
    root.fill(&bg).map_err(|e| e.to_string())?;
    let n = o.events_per_day.len().max(1) as i64;
    let max = o.events_per_day.iter().copied().max().unwrap_or(1).max(1);
    let font = (12.0 * dpr) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin((10.0 * dpr) as u32)
        .x_label_area_size((30.0 * dpr) as u32)
        .y_label_area_size((56.0 * dpr) as u32)
        .build_cartesian_2d(0i64..n, 0u64..(max + max / 10))
        .map_err(|e| e.to_string())?;
    let first = o.first_day;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(fg.mix(0.08))
        .bold_line_style(fg.mix(0.15))
        .axis_style(fg.mix(0.6))
        .label_style(("sans-serif", font).into_font().color(&fg))
        .y_desc("events")
        .x_labels(8)
        .x_label_formatter(&|d| day_label(first + *d))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            AreaSeries::new(
                o.events_per_day
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i as i64, *c)),
                0,
                accent.mix(0.25),
            )
            .border_style(accent.stroke_width((1.5 * dpr) as u32)),
        )
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
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
