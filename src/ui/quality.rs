//! The data-quality panel: what ingestion found, each count with what it means. Numbers come
//! straight from the engine's `QualityReport` / `MetadataQuality` / `MetadataCoverage`.

use leptos::prelude::*;

use super::format_count;
use crate::protocol::{Loaded, MetadataLoaded};

/// One line of the report: a stable id (for tests and links), a label, the count, and what it
/// means for the numbers on the dashboard.
struct Finding {
    id: &'static str,
    label: &'static str,
    value: u64,
    meaning: &'static str,
}

fn event_findings(l: &Loaded) -> Vec<Finding> {
    let Some(q) = &l.quality else {
        return Vec::new();
    };
    vec![
        Finding { id: "rows-read", label: "Rows read", value: q.rows_read, meaning: "Rows in the files, before any check." },
        Finding { id: "rows-loaded", label: "Rows loaded", value: q.rows_loaded, meaning: "Rows kept as events: rows read minus every dropped row below." },
        Finding { id: "dropped-null-user", label: "Dropped: no user id", value: q.dropped_null_user, meaning: "An event without a user cannot count towards any user metric, so it is dropped." },
        Finding { id: "dropped-null-time", label: "Dropped: no time", value: q.dropped_null_time, meaning: "An event without a time cannot be placed on a day or in a session, so it is dropped." },
        Finding { id: "dropped-unparseable-time", label: "Dropped: unreadable time", value: q.dropped_unparseable_time, meaning: "The time column held text that is not a date-time (e.g. 'yesterday'). Check the column mapping." },
        Finding { id: "dropped-time-too-early", label: "Dropped: before 2000", value: q.dropped_time_too_early, meaning: "Times before 2000-01-01 are nearly always a unit mistake (epoch 0, seconds read as milliseconds)." },
        Finding { id: "dropped-time-in-future", label: "Dropped: in the future", value: q.dropped_time_in_future, meaning: "Times more than a day after this computer's clock: a device with a wrong clock, or a unit mistake." },
        Finding { id: "duplicate-events", label: "Exact duplicate events", value: q.duplicate_events, meaning: "Rows repeating an earlier row in every mapped column (double-sent events). Kept; the duplicate policy decides whether metrics skip them." },
        Finding { id: "negative-durations", label: "Negative durations", value: q.negative_durations, meaning: "duration_ms below zero: a client clock bug. Kept; the outlier policy decides how they count." },
        Finding { id: "absurd-durations", label: "Durations over 10 h", value: q.absurd_durations, meaning: "A single interaction longer than 10 hours: the app was left open. Kept; see the outlier policy." },
        Finding { id: "clamped-durations", label: "Durations clamped", value: q.clamped_durations, meaning: "Durations beyond ±24.8 days, clamped to that range when stored." },
        Finding { id: "unparseable-durations", label: "Unreadable durations", value: q.unparseable_durations, meaning: "The duration column held a value that is not a number; stored as missing." },
    ]
}

fn metadata_findings(m: &MetadataLoaded) -> Vec<Finding> {
    vec![
        Finding { id: "meta-rows-read", label: "Metadata rows read", value: m.quality.rows_read, meaning: "Rows in the metadata file(s)." },
        Finding { id: "meta-users", label: "Metadata users kept", value: m.quality.rows_loaded, meaning: "One row per user id after resolving duplicates." },
        Finding { id: "meta-duplicate-rows", label: "Duplicate metadata rows", value: m.quality.duplicate_rows, meaning: "Rows discarded because the same user id appears again; the rule shown below picks the row kept." },
        Finding { id: "meta-users-missing", label: "Event users without metadata", value: m.coverage.users_missing, meaning: "These users appear in segment breakdowns as 'unknown'." },
        Finding { id: "meta-events-missing", label: "Events of users without metadata", value: m.coverage.events_missing, meaning: "Events that cannot be attributed to a country, device or plan." },
        Finding { id: "meta-users-without-events", label: "Metadata users without events", value: m.coverage.metadata_users_without_events, meaning: "Users known to the metadata who never appear in the events (signed up, never active)." },
    ]
}

fn render(findings: Vec<Finding>) -> impl IntoView {
    view! {
        <ul class="findings">
            {findings
                .into_iter()
                .map(|f| {
                    let problem = f.value > 0 && !matches!(f.id, "rows-read" | "rows-loaded" | "meta-rows-read" | "meta-users");
                    view! {
                        <li id=format!("q-{}", f.id) data-value=f.value.to_string() class:problem=problem>
                            <details>
                                <summary>
                                    <span class="label">{f.label}</span>
                                    <span class="value">{format_count(f.value)}</span>
                                </summary>
                                <p class="meaning">{f.meaning}</p>
                            </details>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
pub fn QualityPanel(
    loaded: ReadSignal<Option<Loaded>>,
    metadata: ReadSignal<Option<MetadataLoaded>>,
) -> impl IntoView {
    view! {
        <section class="chart quality" id="quality" aria-label="Data quality">
            <h2>"Data quality"</h2>
            {move || match loaded.get() {
                Some(l) if l.quality.is_some() => {
                    let mapping = l.mapping.clone().map(|m| {
                        m.to_query_pairs()
                            .into_iter()
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(k, v)| view! { <li><code>{k.trim_start_matches("col.").to_string()}</code>" ← "<code>{v}</code></li> })
                            .collect_view()
                    });
                    view! {
                        {render(event_findings(&l))}
                        <h3>"Column mapping"</h3>
                        <ul class="mapping" id="mapping">{mapping}</ul>
                    }
                    .into_any()
                }
                _ => view! { <p class="muted">"The built-in sample is generated, so there is no file to check. Load a file to see its report."</p> }.into_any(),
            }}
            {move || metadata.get().map(|m| view! {
                <h3>"User metadata"</h3>
                {render(metadata_findings(&m))}
                <p class="muted" id="meta-rule">{format!("Duplicates: {}", m.quality.duplicate_rule)}</p>
            })}
        </section>
    }
}
