//! The left rail's knobs. Each control reads its value from the URL query and writes it back
//! through [`SetParam`]; the engine's `Params` parser is the single source of truth.

use leptos::prelude::*;
use web_sys::HtmlInputElement;

use super::permalink::{value_of, Nav};

/// Set one permalink key (None = back to the default).
#[derive(Clone, Copy)]
pub struct SetParam(pub Callback<(&'static str, Option<String>, Nav)>);

impl SetParam {
    fn set(&self, key: &'static str, value: Option<String>, nav: Nav) {
        self.0.run((key, value, nav));
    }
}

#[component]
pub fn Controls(query: ReadSignal<String>) -> impl IntoView {
    view! {
        <section class="controls" id="controls" aria-label="Settings">
            <h2>"Settings"</h2>
            <GapSlider query=query />
            <Select query=query key="def" label="Active means" options=vec![
                ("minimal", "Minimal: ≥ 1 qualifying event"),
                ("core", "Core usage: ≥ K core events in 7 days"),
                ("session", "Session-based: a session > M min in 30 days"),
                ("custom", "Custom"),
            ] />
            <Select query=query key="mau" label="MAU window (days)" options=vec![("28", "28 (GA4, Mozilla)"), ("30", "30")] />
            <Select query=query key="tz" label="Time zone (calendar days)" options=vec![
                ("UTC", "UTC"),
                ("America/New_York", "America/New_York"),
                ("America/Los_Angeles", "America/Los_Angeles"),
                ("Europe/London", "Europe/London"),
                ("Europe/Berlin", "Europe/Berlin"),
                ("Asia/Kolkata", "Asia/Kolkata"),
                ("Asia/Tokyo", "Asia/Tokyo"),
                ("Australia/Sydney", "Australia/Sydney"),
            ] />
            <Select query=query key="maxlen" label="Max session length" options=vec![("24h", "24 h"), ("12h", "12 h"), ("4h", "4 h"), ("off", "off")] />
            <Select query=query key="outlier" label="Outlier detector" options=vec![
                ("cap", "Domain cap (10 h)"),
                ("pct", "Percentile (p99)"),
                ("z", "z-score > 3"),
                ("mad", "Robust median/MAD"),
            ] />
            <Select query=query key="policy" label="Outlier policy" options=vec![
                ("keep", "Keep"),
                ("filter", "Filter out"),
                ("cap", "Cap (winsorise)"),
                ("flag", "Flag (separate bucket)"),
            ] />
            <Select query=query key="dups" label="Duplicate events" options=vec![("keep", "Keep"), ("drop", "Drop")] />
            <Select query=query key="seg" label="Break down by" options=vec![
                ("", "(none)"),
                ("country", "Country"),
                ("device_type", "Device type"),
                ("subscription_type", "Plan"),
                ("join_month", "Join month"),
                ("app_version", "App version"),
                ("action_type", "Action type"),
            ] />
        </section>
    }
}

/// Session inactivity gap: a slider (1 min – 4 h) and a typed input (1 – 1440 min). While the
/// slider moves, the first step pushes a history entry and later steps replace it, so Back
/// returns to the value before the drag.
#[component]
fn GapSlider(query: ReadSignal<String>) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let minutes = move || parse_minutes(&value_of(&query.get(), "gap")).unwrap_or(30);
    let dragging = StoredValue::new(false);
    let on_input = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let nav = if dragging.get_value() {
            Nav::Replace
        } else {
            Nav::Push
        };
        dragging.set_value(true);
        set.set("gap", Some(format!("{}m", input.value())), nav);
    };
    let on_change = move |_| dragging.set_value(false);
    let on_typed = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        set.set("gap", Some(format!("{}m", input.value())), Nav::Push);
    };
    view! {
        <div class="control">
            <label for="gap-range">"Session gap (minutes)"</label>
            <div class="row">
                <input id="gap-range" type="range" min="1" max="240" step="1"
                    prop:value=move || minutes().min(240).to_string()
                    on:input=on_input on:change=on_change />
                <input id="gap-input" type="number" min="1" max="1440" aria-label="Session gap in minutes"
                    prop:value=move || minutes().to_string() on:change=on_typed />
            </div>
        </div>
    }
}

#[component]
fn Select(
    query: ReadSignal<String>,
    key: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("ctl-{key}");
    let current = move || value_of(&query.get(), key);
    view! {
        <div class="control">
            <label for=id.clone()>{label}</label>
            <select id=id
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    set.set(key, (!v.is_empty()).then_some(v), Nav::Push);
                }>
                {options.into_iter().map(|(v, text)| view! { <option value=v selected=move || current() == v>{text}</option> }).collect_view()}
            </select>
        </div>
    }
}

/// "30m" / "2h" / "1440m" → minutes.
fn parse_minutes(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_suffix('h') {
        return h.parse::<u32>().ok().map(|h| h * 60);
    }
    s.strip_suffix('m').unwrap_or(s).parse().ok()
}
