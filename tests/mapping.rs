//! The column mapping chosen by the user (the permalink's `col.*` keys), end to end: a file
//! whose columns detection cannot place, loaded by the engine and by the CLI with overrides.

use pulse::engine::ingest::{inspect, load_events, InputFile, LoadOptions};
use pulse::engine::IngestError;

/// 20 events of 3 users. Neither `who` nor `sent_at`/`received_at` is a known synonym, so
/// detection finds no user id and no time. `received_at` is 1990 for 4 rows (a device clock
/// reset): mapping time to it drops those rows as "before 2000".
fn csv() -> String {
    let mut s = String::from("who,sent_at,received_at,what\n");
    for i in 0..20u32 {
        let user = ["ann", "bob", "cyd"][(i % 3) as usize];
        let sent = format!("2023-07-{:02} 10:{:02}:00", 1 + i / 5, i);
        let received = if i % 5 == 4 {
            "1990-01-01 00:00:00".to_string()
        } else {
            format!("2023-07-{:02} 11:{:02}:00", 1 + i / 5, i)
        };
        let what = if i % 2 == 0 { "open" } else { "create" };
        s.push_str(&format!("{user},{sent},{received},{what}\n"));
    }
    s
}

fn pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn opts() -> LoadOptions {
    LoadOptions {
        now_ms: 1_767_225_600_000,
        ..LoadOptions::default()
    }
}

#[test]
fn detection_failure_names_the_columns_and_overrides_load_the_file() {
    let files = vec![InputFile::new("events.csv", csv().into_bytes())];
    let schema = inspect(&files).unwrap();
    assert_eq!(schema.detected, None);
    let err = schema.resolve_mapping(&[]).unwrap_err();
    assert!(err.is_mapping_problem());
    assert!(
        matches!(err, IngestError::MissingRole { .. }),
        "unexpected {err:?}"
    );
    assert!(
        err.to_string()
            .contains("Columns found: who, sent_at, received_at, what"),
        "{err}"
    );

    let by_sent = schema
        .resolve_mapping(&pairs("col.user=who&col.time=sent_at&col.action=what"))
        .unwrap();
    let loaded = load_events(&files, &by_sent.mapping, &opts(), &mut |_| {}).unwrap();
    assert_eq!(loaded.store.len(), 20);
    assert_eq!(loaded.store.user_count(), 3);
    assert_eq!(loaded.quality.dropped_time_too_early, 0);

    let by_received = schema
        .resolve_mapping(&pairs("col.user=who&col.time=received_at"))
        .unwrap();
    assert_eq!(by_received.mapping.action, None);
    let loaded = load_events(&files, &by_received.mapping, &opts(), &mut |_| {}).unwrap();
    assert_eq!(loaded.store.len(), 16);
    assert_eq!(loaded.quality.dropped_time_too_early, 4);
    // With nothing detected, the URL must carry every role.
    assert_eq!(
        by_received.url_pairs(),
        pairs("col.user=who&col.time=received_at&col.action=&col.page=&col.duration=&col.version=")
    );
}

#[test]
fn a_column_of_the_wrong_type_is_a_mapping_problem() {
    let files = vec![InputFile::new(
        "events.csv",
        "user_id,timestamp,n\nu1,2023-07-01 10:00:00,x\n"
            .as_bytes()
            .to_vec(),
    )];
    let schema = inspect(&files).unwrap();
    let r = schema.resolve_mapping(&pairs("col.time=n")).unwrap();
    let err = load_events(&files, &r.mapping, &opts(), &mut |_| {}).unwrap_err();
    assert!(err.is_mapping_problem(), "{err:?}");
}

#[test]
fn the_cli_applies_the_permalink_mapping() {
    let dir = std::env::temp_dir().join(format!("pulse-mapping-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.csv");
    std::fs::write(&path, csv()).unwrap();
    let run = |params: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(["overview", "--events"])
            .arg(&path)
            .args(["--params", params])
            .output()
            .unwrap()
    };
    let out = run("col.user=who&col.time=received_at");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let overview: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(overview["events"], 16);
    assert_eq!(overview["users"], 3);
    let out = run("gap=10m");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Columns found: who, sent_at"));
    std::fs::remove_dir_all(&dir).ok();
}
