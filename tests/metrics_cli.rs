//! The CLI prints exactly the engine's report, and reports bad permalink values.

use std::process::Command;

use pulse::engine::dataset::Dataset;
use pulse::engine::sample::SampleConfig;
use pulse::engine::{compute, MetricsReport, Params};

fn pulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .output()
        .expect("run pulse")
}

#[test]
fn json_equals_compute() {
    let query = "gap=5m&def=core&tz=America%2FNew_York&seg=country";
    let out = pulse(&[
        "metrics",
        "--events",
        "sample:20000:3",
        "--params",
        query,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut from_cli: MetricsReport = serde_json::from_slice(&out.stdout).expect("report JSON");
    // The CLI times its stages (the profile is the truth of that run); everything else must
    // be identical.
    assert!(!from_cli.profile.stages.is_empty());
    from_cli.profile = Default::default();
    let ds = Dataset::sample(&SampleConfig::for_events(20_000, 3)).expect("sample");
    let (p, issues, _) = Params::from_query(query);
    assert!(issues.is_empty());
    let mut direct = compute(&ds.events, ds.metadata.as_ref(), &p).expect("compute");
    direct.profile = Default::default();
    assert_eq!(from_cli, direct);
    assert_eq!(
        from_cli.query,
        "gap=5m&tz=America%2FNew_York&def=core&seg=country"
    );
}

#[test]
fn bad_values_warn_and_bad_sources_fail() {
    let out = pulse(&[
        "metrics",
        "--events",
        "sample:5000",
        "--params",
        "gap=90s&view=x",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gap=\"90s\"") && err.contains("default"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("DAU"));
    let out = pulse(&["metrics", "--events", "/nonexistent/events.parquet"]);
    assert!(!out.status.success());
    let out = pulse(&[
        "metrics",
        "--events",
        "sample:5000",
        "--params",
        "seg=planet",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("planet"));
}

/// A reader that stops reading (`pulse metrics … | head`) ends the run quietly: no panic
/// message, a successful exit.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["metrics", "--events", "sample:20000:3", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pulse");
    // Close the reading end before the report (far more than a pipe's buffer) is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("pulse ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
