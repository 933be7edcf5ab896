//! The Leptos dashboard (wasm32 only). Holds view state only; every derived number comes from
//! the worker.

use leptos::prelude::*;

mod card;
mod charts;
mod client;
mod controls;
mod dropzone;
mod insights;
mod mapping;
mod permalink;
mod profile;
mod quality;
mod remote;
mod scale;

use crate::engine::ingest::DatasetSchema;
use crate::engine::overview::DatasetOverview;
use crate::engine::ParamIssue;
use crate::protocol::{Computed, Loaded, MetadataLoaded, Progress, Response};
use client::EngineClient;
use controls::SetParam;
use permalink::Nav;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Mount the app on `<body>`.
pub fn mount() {
    leptos::mount::mount_to_body(App);
}

/// What the data panel shows.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadState {
    Idle,
    Loading(Progress),
    Failed(String),
}

#[component]
fn App() -> impl IntoView {
    let (overview, set_overview) = signal::<Option<DatasetOverview>>(None);
    let (schema, set_schema) = signal::<Option<DatasetSchema>>(None);
    let (loaded, set_loaded) = signal::<Option<Loaded>>(None);
    let (metadata, set_metadata) = signal::<Option<MetadataLoaded>>(None);
    let (computed, set_computed) = signal::<Option<Computed>>(None);
    let (mapping_view, set_mapping_view) = signal::<Option<mapping::MappingView>>(None);
    let (scale_out, set_scale_out) = signal(None);
    // The URL is the state. A malformed link: say which setting was wrong, use its default,
    // and show the corrected link.
    let (initial, initial_issues) = permalink::canonical(&permalink::current_search());
    permalink::write(&initial, Nav::Replace);
    let (query, set_query) = signal(initial);
    provide_context(permalink::Query(query));
    card::provide_view_env();
    // What the engine computes from: the query without UI-only keys (`expand`, `src`).
    let engine_query = Memo::new(move |_| permalink::engine_query(&query.get()));
    let (issues, set_issues) = signal::<Vec<ParamIssue>>(initial_issues);
    let (has_data, set_has_data) = signal(false);
    let (load_state, set_load_state) = signal(LoadState::Loading(Progress {
        stage: "starting the engine".into(),
        done: 0,
        total: 1,
    }));
    let client = EngineClient::new(move |response| match response {
        Response::Ready => {}
        Response::Progress(p) => set_load_state.set(LoadState::Loading(p)),
        Response::Computed(c) => set_computed.set(Some(*c)),
        Response::Loaded(l) => {
            let view = mapping::MappingView::of_loaded(&l);
            // The URL carries the mapping in effect (a link made for another file falls back
            // to detection, and the note says so).
            let pairs = view.as_ref().and_then(|v| v.url_pairs());
            set_mapping_view.set(view);
            if let Some(pairs) = pairs {
                let current = query.get_untracked();
                if mapping::url_pairs(&current) != pairs {
                    let next = mapping::with_pairs(&current, &pairs);
                    permalink::write(&next, Nav::Replace);
                    set_query.set(next);
                }
            }
            set_has_data.set(true);
            set_overview.set(Some(l.overview.clone()));
            set_schema.set(l.schema.clone());
            set_loaded.set(Some(*l));
            set_metadata.set(None);
            set_load_state.set(LoadState::Idle);
        }
        Response::MetadataLoaded(m) => {
            set_metadata.set(Some(*m));
            set_load_state.set(LoadState::Idle);
        }
        Response::MappingNeeded(m) => {
            set_load_state.set(LoadState::Failed(m.message.clone()));
            set_mapping_view.set(Some(mapping::MappingView::of_needed(&m)));
        }
        Response::ScaleOut(r) => set_scale_out.set(Some(*r)),
        Response::Failed { message } => set_load_state.set(LoadState::Failed(message)),
    });
    // `src=<URL>` in the link: fetch that file instead of opening the sample.
    let (remote_state, set_remote_state) = signal(None::<remote::RemoteState>);
    match permalink::ui_value(&query.get_untracked(), "src") {
        Some(url) => remote::load(url, client, set_remote_state),
        None => client.load_sample(),
    }
    provide_context(client);

    // The column mapping in the URL changed (editor, Back/Forward): decode the files again.
    Effect::new(move |_| {
        let pairs = mapping::url_pairs(&query.get());
        let applied = mapping_view.get_untracked().and_then(|v| v.url_pairs());
        if client.set_mapping(pairs.clone())
            && client.has_event_files()
            && applied.as_ref() != Some(&pairs)
        {
            client.reload_events();
        }
    });
    // Recompute whenever the settings or the data change (coalesced in the client).
    Effect::new(move |_| {
        let q = engine_query.get();
        if has_data.get() {
            client.compute(q);
        }
    });
    provide_context(SetParam(Callback::new(
        move |(key, value, nav): (&'static str, Option<String>, Nav)| {
            let (next, found) =
                permalink::with_value(&query.get_untracked(), key, value.as_deref());
            // A rejected value keeps the previous setting; say why.
            let rejected = found.iter().any(|i| i.key == key);
            set_issues.set(found);
            if !rejected && next != query.get_untracked() {
                permalink::write(&next, nav);
                set_query.set(next);
            }
        },
    )));
    // Back / Forward: the address bar changed; adopt it.
    let on_pop = Closure::<dyn FnMut()>::new(move || {
        let (q, found) = permalink::canonical(&permalink::current_search());
        set_issues.set(found);
        set_query.set(q);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
    }
    on_pop.forget();

    let on_profile = Memo::new(move |_| {
        permalink::ui_value(&query.get(), profile::TAB_KEY).as_deref() == Some("profile")
    });

    view! {
        <header class="topbar">
            <h1>"Pulse"</h1>
            <span class="tagline">"Product analytics in your browser — your data never leaves this tab."</span>
            <permalink::CopyLink />
        </header>
        <main class="layout">
            <aside class="rail" aria-label="Data">
                <dropzone::DropZone />
                <remote::RemoteStatus state=remote_state />
                <LoadStatus state=load_state />
                <mapping::MappingEditor view=mapping_view query=query />
                <controls::Controls query=query />
                <DatasetFacts overview=overview schema=schema />
            </aside>
            <section class="charts" aria-label="Charts">
                <ParamIssues issues=issues />
                <Tabs query=query />
                <Show when=move || !on_profile.get() fallback=move || view! {
                    <profile::ProfileTab computed=computed loaded=loaded overview=overview />
                }>
                    <ComputeTime computed=computed />
                    <charts::ActiveUsers computed=computed />
                    <charts::MonthlyActives computed=computed />
                    <charts::Stickiness computed=computed days=7 />
                    <charts::Stickiness computed=computed days=30 />
                    <charts::Distribution computed=computed of="sessions_per_user" />
                    <charts::SessionsPerDay computed=computed />
                    <charts::SessionDurations computed=computed />
                    <charts::Distribution computed=computed of="events_per_session" />
                    <charts::OutlierView computed=computed target="events" />
                    <charts::OutlierView computed=computed target="sessions" />
                    <charts::SegmentBreakdown computed=computed />
                    <charts::SegmentMonths computed=computed />
                    <insights::SegmentStickiness computed=computed />
                    <insights::Retention computed=computed query=query />
                    <insights::Lifecycle computed=computed query=query />
                    <insights::PowerUsers computed=computed query=query />
                    <insights::Versions computed=computed query=query />
                    <insights::Anomalies computed=computed query=query />
                    <charts::TopUsers computed=computed />
                    <charts::Partitions computed=computed />
                    <charts::EventsPerDay overview=overview />
                    <quality::QualityPanel loaded=loaded metadata=metadata />
                    <scale::RunAtScale query=query loaded=loaded result=scale_out />
                </Show>
            </section>
        </main>
    }
}

/// "Dashboard" | "Profile" (the engine profile); the tab is in the URL (`tab=profile`).
#[component]
fn Tabs(query: ReadSignal<String>) -> impl IntoView {
    let set = expect_context::<SetParam>();
    let current = move || permalink::ui_value(&query.get(), profile::TAB_KEY).unwrap_or_default();
    let tab = move |value: &'static str, label: &'static str| {
        let selected = move || current() == value;
        view! {
            <button type="button" role="tab" id=format!("tab-{}", if value.is_empty() { "dashboard" } else { value })
                aria-selected=move || selected().to_string() class:selected=selected
                on:click=move |_| set.0.run((profile::TAB_KEY, (!value.is_empty()).then(|| value.to_string()), Nav::Push))>
                {label}
            </button>
        }
    };
    view! {
        <nav class="tabs" role="tablist" aria-label="Views">
            {tab("", "Dashboard")}
            {tab("profile", "Profile")}
        </nav>
    }
}

/// How long the engine took for the report on screen.
#[component]
fn ComputeTime(computed: ReadSignal<Option<Computed>>) -> impl IntoView {
    move || {
        computed.with(|c| {
            c.as_ref().map(|c| {
                let i = &c.report.input;
                view! {
                    <p class="muted compute" id="compute-ms" data-ms=format!("{:.1}", c.compute_ms)>
                        {format!(
                            "{} of {} events and {} users considered · engine {:.0} ms",
                            format_count(i.events),
                            format_count(i.store_events),
                            format_count(i.users),
                            c.compute_ms
                        )}
                    </p>
                }
            })
        })
    }
}

/// Settings from the link that could not be used.
#[component]
fn ParamIssues(issues: ReadSignal<Vec<ParamIssue>>) -> impl IntoView {
    move || {
        let list = issues.get();
        (!list.is_empty()).then(|| {
            view! {
                <div class="status error" id="param-issues" role="alert">
                    <strong>"Some settings in this link could not be used:"</strong>
                    <ul>
                        {list.into_iter().map(|i| view! { <li data-key=i.key.clone()>{i.to_string()}</li> }).collect_view()}
                    </ul>
                </div>
            }
        })
    }
}

#[component]
fn LoadStatus(state: ReadSignal<LoadState>) -> impl IntoView {
    move || match state.get() {
        LoadState::Idle => {
            view! { <div class="status" id="status" data-state="idle"></div> }.into_any()
        }
        LoadState::Loading(p) => {
            let pct = if p.total == 0 {
                0.0
            } else {
                p.done as f64 * 100.0 / p.total as f64
            };
            view! {
                <div class="status" id="status" data-state="loading">
                    <label for="load-progress">{p.stage.clone()}</label>
                    <progress id="load-progress" max="100" value=format!("{pct:.0}")></progress>
                </div>
            }
            .into_any()
        }
        LoadState::Failed(message) => view! {
            <div class="status error" id="status" data-state="error" role="alert">{message}</div>
        }
        .into_any(),
    }
}

#[component]
fn DatasetFacts(
    overview: ReadSignal<Option<DatasetOverview>>,
    schema: ReadSignal<Option<DatasetSchema>>,
) -> impl IntoView {
    move || {
        overview.get().map(|o| {
            let bytes_per_event = if o.events == 0 { 0.0 } else { o.resident_bytes as f64 / o.events as f64 };
            view! {
                <section class="facts" id="dataset" data-rows=o.events.to_string() data-users=o.users.to_string()>
                    <h2>"Dataset"</h2>
                    <dl>
                        <dt>"Source"</dt><dd id="dataset-source">{o.source.clone()}</dd>
                        <dt>"Events"</dt><dd id="dataset-rows">{format_count(o.events)}</dd>
                        <dt>"Users"</dt><dd id="dataset-users">{format_count(o.users)}</dd>
                        <dt>"Memory"</dt><dd>{format!("{:.1} MB ({bytes_per_event:.1} B/event)", o.resident_bytes as f64 / 1e6)}</dd>
                    </dl>
                    {schema.get().map(|s| view! {
                        <details id="schema">
                            <summary>{format!("Schema ({} columns, {} file(s), {} row group(s))", s.columns.len(), s.files.len(), s.row_groups)}</summary>
                            <ul class="schema">
                                {s.columns.iter().map(|c| view! { <li><code>{c.name.clone()}</code>" "<span class="type">{c.data_type.clone()}</span></li> }).collect_view()}
                            </ul>
                        </details>
                    })}
                </section>
            }
        })
    }
}

/// 1234567 → "1,234,567".
pub fn format_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
