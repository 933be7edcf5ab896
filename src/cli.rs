//! The headless `pulse` command (native only): the same engine as the browser, for scripted runs.
//!
//! ```text
//! pulse metrics --events <F|sample:N[:SEED]> [--metadata F] [--params '<query>'] [--json]
//! pulse export-spark --params '<query>' [--events F|sample:N] [--metadata F] [--target-gb N] [--node 16x64x5]
//! pulse spark-sizing [--events F|sample:N] [--target-gb N] [--node 16x64x5] [--json]
//! pulse gen --events N [--seed S] --out DIR
//! ```
//!
//! `--params` takes exactly the permalink's query string (`gap=5m&tz=Europe%2FBerlin`); a bad
//! value is reported on stderr and its default used, as the dashboard does. `--json` prints the
//! `MetricsReport` (schema in docs/METRICS.md); without it a short summary is printed.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::engine::dataset::Dataset;
use crate::engine::overview::DatasetOverview;
use crate::engine::report::{compute, compute_with_clock, MetricsReport};
use crate::engine::sample::SampleConfig;
use crate::engine::sizing::{advise, parse_target_gb, NodeShape, GB, SAMPLE_BYTES_PER_EVENT};
use crate::engine::spark::{export_pyspark, scale_out, JOB_FILE};
use crate::engine::Params;

const USAGE: &str = "\
usage:
  pulse metrics --events <FILE | sample:N[:SEED]> [--metadata FILE] [--params QUERY] [--json]
  pulse overview --events <FILE | sample | sample:N[:SEED]>
  pulse export-spark [--params QUERY] [--events F|sample:N] [--metadata F] [--target-gb N] [--node CxGBxN]
  pulse spark-sizing [--events F|sample:N] [--target-gb N] [--node CxGBxN] [--json]
  pulse gen --events N [--seed S] --out DIR

  export-spark  print a self-contained PySpark job computing these metrics with these settings;
                with --events the skew (salted user ids) is measured on that data
  spark-sizing  spark-submit settings for --target-gb (default 100) on --node CORESxGBxCOUNT
                (default 16x64x5), extrapolated from the loaded data's size and event count
  gen           write DIR/events.parquet and DIR/metadata.parquet (built-in generator)

  overview    the dataset's vital signs as JSON (what the app shows after a load)

  --events    events file or folder; `sample` for the app's built-in dataset, or sample:N[:SEED]
              for about N generated events (seed 42 by default)
  --metadata  user metadata file (the sample brings its own)
  --params    the permalink query string, e.g. 'gap=5m&def=core&tz=America%2FNew_York';
              its col.* keys choose the columns (col.user=uid&col.time=received_at)
  --json      print the full report as JSON (schema: docs/METRICS.md)
";

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("pulse: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Options of `pulse metrics`.
#[derive(Debug, Default, PartialEq)]
struct MetricsArgs {
    events: String,
    metadata: Option<String>,
    params: String,
    json: bool,
}

/// The value of the option just read, as UTF-8.
fn option_value(p: &mut lexopt::Parser) -> Result<String, String> {
    p.value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "arguments must be UTF-8".to_string())
}

fn parse_metrics_args(mut parser: lexopt::Parser) -> Result<MetricsArgs, String> {
    use lexopt::prelude::*;
    let mut out = MetricsArgs::default();
    let mut events = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("events") => events = Some(option_value(&mut parser)?),
            Long("metadata") => out.metadata = Some(option_value(&mut parser)?),
            Long("params") => out.params = option_value(&mut parser)?,
            Long("json") => out.json = true,
            Long("help") | Short('h') => return Err(USAGE.to_string()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    out.events = events.ok_or_else(|| format!("--events is required\n{USAGE}"))?;
    Ok(out)
}

/// Write to stdout. A reader that stopped reading (`pulse metrics … | head`) ends the run
/// quietly, as Unix tools do, instead of a panic from `println!`.
fn emit(args: std::fmt::Arguments) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("writing the output failed: {e}")),
    }
}

/// `print!` through [`emit`] (in a function returning `Result<_, String>`).
macro_rules! out {
    ($($t:tt)*) => { emit(format_args!($($t)*))? };
}

/// `println!` through [`emit`].
macro_rules! outln {
    () => { emit(format_args!("\n"))? };
    ($($t:tt)*) => { emit(format_args!("{}\n", format_args!($($t)*)))? };
}

fn run(args: Vec<OsString>) -> Result<(), String> {
    let mut parser = lexopt::Parser::from_args(args);
    let cmd = match parser.next().map_err(|e| e.to_string())? {
        Some(lexopt::Arg::Value(v)) => v.into_string().unwrap_or_default(),
        Some(lexopt::Arg::Long("help")) | Some(lexopt::Arg::Short('h')) | None => {
            out!("{USAGE}");
            return Ok(());
        }
        Some(other) => return Err(format!("{}\n{USAGE}", other.unexpected())),
    };
    match cmd.as_str() {
        "metrics" => {
            let args = parse_metrics_args(parser)?;
            let dataset = load(&args)?;
            let (params, issues, rest) = Params::from_query(&args.params);
            for issue in &issues {
                eprintln!("pulse: warning: {issue}");
            }
            for (k, _) in &rest {
                eprintln!("pulse: note: parameter {k:?} is not an engine setting; ignored");
            }
            let clock = crate::engine::profile::SystemClock::default();
            let report =
                compute_with_clock(&dataset.events, dataset.metadata.as_ref(), &params, &clock)
                    .map_err(|e| e.to_string())?;
            if args.json {
                let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                outln!("{json}");
            } else {
                out!("{}", summary(&report));
            }
            Ok(())
        }
        "overview" => {
            let args = parse_metrics_args(parser)?;
            let dataset = load(&args)?;
            let overview = DatasetOverview::of(&dataset.events, args.events.clone());
            let json = serde_json::to_string_pretty(&overview).map_err(|e| e.to_string())?;
            outln!("{json}");
            Ok(())
        }
        "export-spark" | "spark-sizing" => {
            let args = parse_spark_args(parser)?;
            let (params, issues, _) = Params::from_query(&args.params);
            for issue in &issues {
                eprintln!("pulse: warning: {issue}");
            }
            let (bytes, events, scale) = match &args.events {
                Some(src) => {
                    let margs = MetricsArgs {
                        events: src.clone(),
                        metadata: args.metadata.clone(),
                        ..MetricsArgs::default()
                    };
                    let dataset = load(&margs)?;
                    let report = compute(&dataset.events, dataset.metadata.as_ref(), &params)
                        .map_err(|e| e.to_string())?;
                    let n = dataset.events.len() as u64;
                    let bytes = if src == "sample" || src.starts_with("sample:") {
                        None
                    } else {
                        Some(disk_bytes(src)?)
                    };
                    // The same call the app's "Run at scale" panel makes.
                    let scale = scale_out(&params, &report, n, bytes, args.target_bytes, args.node);
                    (bytes, n, Some(scale))
                }
                None => (
                    Some(args.target_bytes),
                    args.target_bytes / SAMPLE_BYTES_PER_EVENT,
                    None,
                ),
            };
            let advice = match &scale {
                Some(s) => s.advice.clone(),
                None => advise(
                    bytes.unwrap_or(args.target_bytes),
                    events,
                    args.target_bytes,
                    args.node,
                ),
            };
            if cmd == "spark-sizing" {
                if args.json {
                    let json = serde_json::to_string_pretty(&advice).map_err(|e| e.to_string())?;
                    outln!("{json}");
                } else {
                    for l in &advice.lines {
                        outln!("{l}");
                    }
                    outln!();
                    outln!(
                        "{}",
                        advice.submit_command(&format!("{JOB_FILE} --events ... --out ..."))
                    );
                }
            } else {
                match scale {
                    Some(s) => out!("{}", s.job),
                    None => out!("{}", export_pyspark(&params, None, &advice)),
                }
            }
            Ok(())
        }
        "gen" => gen(parser),
        "help" => {
            out!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

/// Options of `pulse export-spark` / `pulse spark-sizing`.
#[derive(Debug, PartialEq)]
struct SparkArgs {
    params: String,
    events: Option<String>,
    metadata: Option<String>,
    target_bytes: u64,
    node: NodeShape,
    json: bool,
}

fn parse_spark_args(mut parser: lexopt::Parser) -> Result<SparkArgs, String> {
    use lexopt::prelude::*;
    let mut out = SparkArgs {
        params: String::new(),
        events: None,
        metadata: None,
        target_bytes: 100 * GB,
        node: NodeShape::default(),
        json: false,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("params") => out.params = option_value(&mut parser)?,
            Long("events") => out.events = Some(option_value(&mut parser)?),
            Long("metadata") => out.metadata = Some(option_value(&mut parser)?),
            Long("target-gb") => {
                let v = option_value(&mut parser)?;
                out.target_bytes = parse_target_gb(&v).map_err(|e| format!("--target-gb: {e}"))?;
            }
            Long("node") => out.node = NodeShape::parse(&option_value(&mut parser)?)?,
            Long("json") => out.json = true,
            Long("help") | Short('h') => return Err(USAGE.to_string()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(out)
}

/// Total size of a file or of the files under a folder.
fn disk_bytes(path: &str) -> Result<u64, String> {
    let root = std::path::Path::new(path);
    let meta = std::fs::metadata(root).map_err(|e| format!("{path}: {e}"))?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let p = entry.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// `pulse gen --events N [--seed S] --out DIR`: the built-in generator as Parquet files.
fn gen(mut parser: lexopt::Parser) -> Result<(), String> {
    use lexopt::prelude::*;
    let (mut events, mut seed, mut out) = (None, 42u64, None);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("events") => {
                let v = option_value(&mut parser)?;
                events = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--events expects a positive count, got {v:?}"))?,
                );
            }
            Long("seed") => {
                let v = option_value(&mut parser)?;
                seed = v
                    .parse()
                    .map_err(|_| format!("--seed expects a number, got {v:?}"))?;
            }
            Long("out") => out = Some(option_value(&mut parser)?),
            Long("help") | Short('h') => return Err(USAGE.to_string()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let events = events.ok_or_else(|| format!("--events is required\n{USAGE}"))?;
    let out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    let dir = std::path::Path::new(&out);
    std::fs::create_dir_all(dir).map_err(|e| format!("{out}: {e}"))?;
    let cfg = SampleConfig::for_events(events, seed);
    let create = |name: &str| {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .map(std::io::BufWriter::new)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let compression = parquet::basic::Compression::SNAPPY;
    let (n, users) = crate::engine::sample::write_events_parquet(
        &cfg,
        create("events.parquet")?,
        compression,
        0,
    )
    .map_err(|e| e.to_string())?;
    crate::engine::sample::write_metadata_parquet(&users, create("metadata.parquet")?, compression)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "pulse: wrote {n} events and {} metadata rows to {out}",
        users.len()
    );
    Ok(())
}

/// `sample:N[:SEED]` → (events, seed).
fn parse_sample_source(s: &str) -> Option<Result<(u64, u64), String>> {
    let rest = s.strip_prefix("sample:")?;
    let mut parts = rest.split(':');
    let bad = || format!("expected sample:N[:SEED], got {s:?}");
    let n = parts.next().and_then(|n| n.parse::<u64>().ok());
    let seed = match parts.next() {
        None => Some(42),
        Some(x) => x.parse::<u64>().ok(),
    };
    Some(match (n, seed, parts.next()) {
        (Some(n), Some(seed), None) if n > 0 => Ok((n, seed)),
        _ => Err(bad()),
    })
}

fn load(args: &MetricsArgs) -> Result<Dataset, String> {
    if args.events == "sample" {
        // The built-in dataset the app opens with.
        return Dataset::sample(&SampleConfig::default()).map_err(|e| e.to_string());
    }
    if let Some(sample) = parse_sample_source(&args.events) {
        let (n, seed) = sample?;
        if args.metadata.is_some() {
            return Err(
                "--metadata cannot be combined with a sample: source (it brings its own)".into(),
            );
        }
        return Dataset::sample(&SampleConfig::for_events(n, seed)).map_err(|e| e.to_string());
    }
    use crate::engine::ingest::{inspect, load_events_pipelined, load_metadata, LoadOptions};
    use crate::engine::profile::NoClock;
    let opts = LoadOptions::default();
    let events = read_files(&args.events)?;
    // The permalink's `col.*` keys pick the columns, exactly as in the app.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(args.params.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let schema = inspect(&events).map_err(|e| e.to_string())?;
    let resolved = schema.resolve_mapping(&pairs).map_err(|e| e.to_string())?;
    if let Some(note) = &resolved.note {
        eprintln!("note: {note}");
    }
    // One thread decodes the files while this one maps what it decoded (see `ingest::handoff`).
    let loaded = load_events_pipelined(&events, &resolved.mapping, &opts, &NoClock, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let metadata = match &args.metadata {
        Some(path) => {
            let files = read_files(path)?;
            Some(
                load_metadata(&files, None, &opts, &mut |_| {})
                    .map_err(|e| e.to_string())?
                    .table,
            )
        }
        None => None,
    };
    Ok(Dataset {
        events: loaded.store,
        metadata,
    })
}

/// A file, or every file under a directory (names relative to it, `/`-separated, sorted), as
/// the browser's folder drop would deliver them.
fn read_files(path: &str) -> Result<Vec<crate::engine::ingest::InputFile>, String> {
    use crate::engine::ingest::InputFile;
    let root = std::path::Path::new(path);
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    if root.is_file() {
        let name = root
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
        return Ok(vec![InputFile::new(name, read(root)?)]);
    }
    let mut stack = vec![root.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let p = entry.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .filter(|p| {
            // Skip hidden files and Spark/Hadoop markers (_SUCCESS, .crc).
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
        })
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap_or(p);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            Ok(InputFile::new(name, read(p)?))
        })
        .collect()
}

fn summary(r: &MetricsReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let last = |v: &[u64]| v.last().copied().unwrap_or(0);
    let _ = writeln!(s, "definition: {}", r.definition);
    let _ = writeln!(
        s,
        "range: {} .. {} ({} days, {})",
        r.axis.first.map_or("-".into(), |d| d.iso()),
        r.axis.last.map_or("-".into(), |d| d.iso()),
        r.axis.dates.len(),
        r.axis.time_zone
    );
    let _ = writeln!(
        s,
        "events: {} of {} ({} users)",
        r.input.events, r.input.store_events, r.input.users
    );
    let _ = writeln!(
        s,
        "last day: DAU {}  WAU {}  MAU {}",
        last(&r.activity.dau),
        last(&r.activity.wau),
        last(&r.activity.mau)
    );
    let d = &r.sessions.duration.after;
    let _ = writeln!(
        s,
        "sessions: {}  median {:.1} s  p95 {:.1} s  (outliers: {} detected, {} touched)",
        r.sessions.count,
        d.p50_ms.unwrap_or(0.0) / 1000.0,
        d.p95_ms.unwrap_or(0.0) / 1000.0,
        r.sessions.duration.detected,
        r.sessions.duration.touched
    );
    let _ = writeln!(
        s,
        "skew: gini {:.3}, top user {:.2} %, salt count {}",
        r.skew.gini.unwrap_or(0.0),
        r.skew.top_users.first().map_or(0.0, |t| t.share * 100.0),
        r.skew.advice.salt_count
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_source() {
        assert_eq!(parse_sample_source("sample:1000"), Some(Ok((1000, 42))));
        assert_eq!(parse_sample_source("sample:1000:7"), Some(Ok((1000, 7))));
        assert!(matches!(parse_sample_source("sample:x"), Some(Err(_))));
        assert!(matches!(parse_sample_source("sample:5:1:2"), Some(Err(_))));
        assert_eq!(parse_sample_source("events.parquet"), None);
    }

    #[test]
    fn metrics_args() {
        let p =
            lexopt::Parser::from_args(["--events", "sample:10", "--params", "gap=5m", "--json"]);
        let a = parse_metrics_args(p).unwrap();
        assert_eq!(a.events, "sample:10");
        assert_eq!(a.params, "gap=5m");
        assert!(a.json);
        assert!(parse_metrics_args(lexopt::Parser::from_args(["--json"])).is_err());
    }

    #[test]
    fn spark_args() {
        let p = lexopt::Parser::from_args([
            "--params",
            "gap=5m",
            "--target-gb",
            "1000",
            "--node",
            "8x32x20",
        ]);
        let a = parse_spark_args(p).unwrap();
        assert_eq!(a.params, "gap=5m");
        assert_eq!(a.target_bytes, 1000 * GB);
        assert_eq!(
            a.node,
            NodeShape {
                cores: 8,
                memory_gb: 32,
                count: 20
            }
        );
        assert!(parse_spark_args(lexopt::Parser::from_args(["--node", "x"])).is_err());
        assert!(parse_spark_args(lexopt::Parser::from_args(["--target-gb", "-1"])).is_err());
    }
}
