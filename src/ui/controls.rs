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
            <DefinitionParams query=query />
            <Select query=query key="mau" label="MAU window (days)" options=vec![("28", "28 (GA4, Mozilla)"), ("30", "30")] />
            <Select query=query key="wstart" label="Weeks start on" options=vec![
                ("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
                ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"),
            ] />
            <fieldset class="control range">
                <legend>"Date range (local dates, inclusive)"</legend>
                <div class="row">
                    <DateParam query=query key="from" label="From" />
                    <DateParam query=query key="to" label="To" />
                </div>
            </fieldset>
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
            <Check query=query key="midnight" label="Also split sessions at local midnight" />
            <Select query=query key="outlier" label="Outlier detector" options=vec![
                ("cap", "Domain cap (10 h)"),
                ("pct", "Percentile (p99)"),
                ("z", "z-score > 3"),
                ("mad", "Robust median/MAD"),
            ] />
            {move || match value_of(&query.get(), "outlier").as_str() {
                "cap" => view! { <Number query=query key="cap" label="Cap (minutes)" min="1" max="43200" step="1" minutes=true /> }.into_any(),
                "pct" => view! { <Number query=query key="pct" label="Percentile (0–100, exclusive)" min="0.001" max="99.999" step="any" /> }.into_any(),
                _ => view! { <Number query=query key="z" label="z threshold (> 0)" min="0.01" max="999" step="any" /> }.into_any(),
            }}
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
            {move || (!value_of(&query.get(), "seg").is_empty()).then(|| view! {
                <Text query=query key="segv" label="Only these segment values (comma-separated; empty = all)" placeholder="e.g. US,DE" />
                <Number query=query key="topn" label="Segments shown before “other”" min="1" max="100" step="1" />
            })}
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

/// "30m" / "2h" / "1h30m" → minutes (the engine's parser).
fn parse_minutes(s: &str) -> Option<u32> {
    crate::engine::params::parse_minutes(s).ok()
}

/// The activity definition's own knobs: only those of the chosen definition are shown.
#[component]
fn DefinitionParams(query: ReadSignal<String>) -> impl IntoView {
    let def = Memo::new(move |_| value_of(&query.get(), "def"));
    view! {
        <fieldset class="control group" id="definition-params">
            <legend>"Definition parameters"</legend>
            {move || match def.get().as_str() {
                "core" => view! {
                    <Number query=query key="k" label="K: core events in 7 days" min="1" max="10000" step="1" />
                    <Text query=query key="core" label="Core actions (comma-separated)" placeholder="create" />
                    <Check query=query key="strict" label="Strict: followed by a page_view of the same page" />
                }.into_any(),
                "session" => view! {
                    <Number query=query key="minsess" label="Session longer than (minutes)" min="0" max="1440" step="1" minutes=true />
                }.into_any(),
                "custom" => view! {
                    <Number query=query key="win" label="Window (days)" min="1" max="366" step="1" />
                    <Number query=query key="cmin" label="Minimum qualifying events in the window" min="1" max="100000" step="1" />
                    <Number query=query key="minsess" label="In sessions longer than (minutes)" min="0" max="1440" step="1" minutes=true />
                }.into_any(),
                _ => ().into_any(),
            }}
            {move || (def.get() != "core").then(|| view! {
                <Text query=query key="actions" label="Qualifying actions (comma-separated; empty = all)" placeholder="all" />
            })}
            <Text query=query key="inactive" label="Never-active actions (comma-separated)" placeholder="none" />
        </fieldset>
    }
}

/// A comma-separated list or free text. `actions` shows "all" as empty; an empty `inactive`
/// means "none" (written `inactive=`).
#[component]
fn Text(
    query: ReadSignal<String>,
    key: &'static str,
    label: &'static str,
    placeholder: &'static str,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("ctl-{key}");
    let current = move || {
        let v = value_of(&query.get(), key);
        if key == "actions" && v == "all" {
            String::new()
        } else {
            v
        }
    };
    let on_change = move |ev: leptos::ev::Event| {
        let v: String = event_target_value(&ev)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        let value = match (key, v.is_empty()) {
            ("inactive", _) => Some(v),
            (_, true) => None,
            (_, false) => Some(v),
        };
        set.set(key, value, Nav::Push);
    };
    view! {
        <div class="control">
            <label for=id.clone()>{label}</label>
            <input id=id type="text" placeholder=placeholder autocomplete="off" spellcheck="false"
                prop:value=current on:change=on_change />
        </div>
    }
}

/// A number; `minutes` keys are durations written `Nm` in the URL.
#[component]
fn Number(
    query: ReadSignal<String>,
    key: &'static str,
    label: &'static str,
    min: &'static str,
    max: &'static str,
    step: &'static str,
    #[prop(optional)] minutes: bool,
) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("ctl-{key}");
    let current = move || {
        let v = value_of(&query.get(), key);
        if minutes {
            parse_minutes(&v).map(|m| m.to_string()).unwrap_or(v)
        } else {
            v
        }
    };
    let on_change = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev).trim().to_string();
        let value = (!v.is_empty()).then(|| if minutes { format!("{v}m") } else { v });
        set.set(key, value, Nav::Push);
    };
    view! {
        <div class="control">
            <label for=id.clone()>{label}</label>
            <input id=id type="number" min=min max=max step=step prop:value=current on:change=on_change />
        </div>
    }
}

/// An on/off setting (`1` / default).
#[component]
fn Check(query: ReadSignal<String>, key: &'static str, label: &'static str) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("ctl-{key}");
    let checked = move || value_of(&query.get(), key) == "1";
    let on_change = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        set.set(key, on.then(|| "1".to_string()), Nav::Push);
    };
    view! {
        <div class="control check">
            <input id=id.clone() type="checkbox" prop:checked=checked on:change=on_change />
            <label for=id>{label}</label>
        </div>
    }
}

/// A local date (`from` / `to`); empty = the data's first / last day.
#[component]
fn DateParam(query: ReadSignal<String>, key: &'static str, label: &'static str) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let id = format!("ctl-{key}");
    let current = move || value_of(&query.get(), key);
    let on_change = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        set.set(key, (!v.is_empty()).then_some(v), Nav::Push);
    };
    view! {
        <div class="control">
            <label for=id.clone()>{label}</label>
            <input id=id type="date" min="1900-01-01" max="2200-12-31" prop:value=current on:change=on_change />
        </div>
    }
}
