//! Ingestion against files made by the real writers (pyarrow, Polars, DuckDB): see
//! `tests/fixtures/make_fixtures.py` for every file's exact contents.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pulse::engine::ingest::{
    handoff, inspect, load_events, load_events_auto, load_events_fed, load_events_pipelined,
    load_metadata, metadata_coverage, ColumnMapping, FileFormat, InputFile, LoadOptions,
    LoadedEvents,
};
use pulse::engine::profile::NoClock;
use pulse::engine::{DurationMs, IngestError};

/// 2023-07-01T00:00:00Z in ms: the base table's first event.
const T0: i64 = 1_688_169_600_000;
/// 2026-01-01: "now" for the future-time check.
const NOW_MS: i64 = 1_767_225_600_000;

fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("pulse-ingest-fixtures-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_fixtures.py");
        let status = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("python3 runs");
        assert!(
            status.success(),
            "make_fixtures.py failed (pip install pyarrow polars duckdb)"
        );
        dir
    })
}

fn file(name: &str) -> InputFile {
    let bytes = std::fs::read(fixtures().join(name)).expect("fixture exists");
    InputFile::new(name, bytes)
}

/// Every file under a fixture folder, named relative to the fixtures dir (`partitioned/…`).
fn folder(name: &str) -> Vec<InputFile> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<InputFile>) {
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(InputFile::new(rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(fixtures(), &fixtures().join(name), &mut out);
    // Reverse the listing: load order must not depend on how the browser lists files.
    out.sort_by(|a, b| b.name.cmp(&a.name));
    out
}

fn opts() -> LoadOptions {
    LoadOptions {
        now_ms: NOW_MS,
        ..LoadOptions::default()
    }
}

fn load(files: &[InputFile]) -> LoadedEvents {
    load_events_auto(files, &opts(), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

fn expected_time(i: i64, precision_ms: i64) -> i64 {
    let t = T0 + i * 60_000 + i;
    t - t.rem_euclid(precision_ms)
}

/// The base table of make_fixtures.py: 1000 rows, users u000..u049, 10 null durations.
fn check_base(name: &str, l: &LoadedEvents, precision_ms: i64) {
    let s = &l.store;
    s.check_invariants().unwrap();
    assert_eq!(s.len(), 1000, "{name}");
    assert_eq!(l.quality.rows_read, 1000, "{name}");
    assert_eq!(l.quality.rows_loaded, 1000, "{name}");
    assert_eq!(s.user_count(), 50, "{name}");
    assert_eq!(s.users.get(0), "u000", "{name}");
    assert_eq!(s.users.get(49), "u049", "{name}");
    assert_eq!(s.user_offsets[1], 20, "{name}");
    // First row: i = 0 (duration null); second row of u000: i = 50.
    assert_eq!(s.time_ms[0], expected_time(0, precision_ms), "{name}");
    assert!(s.duration_ms[0].is_null(), "{name}");
    assert_eq!(s.time_ms[1], expected_time(50, precision_ms), "{name}");
    assert_eq!(s.duration_ms[1], DurationMs(500), "{name}");
    // Last row: i = 999.
    assert_eq!(s.time_ms[999], expected_time(999, precision_ms), "{name}");
    assert_eq!(s.duration_ms[999], DurationMs(9990), "{name}");
    assert_eq!(s.actions.get(s.action[999] as usize), "search", "{name}");
    assert_eq!(s.pages.get(s.page[999] as usize), "p0", "{name}");
    assert_eq!(
        s.app_versions.get(s.app_version[999] as usize),
        "2.0.0",
        "{name}"
    );
    let null_durations = l
        .quality
        .nulls
        .iter()
        .find(|n| n.role == "duration")
        .map(|n| n.nulls);
    assert_eq!(null_durations, Some(10), "{name}");
    assert_eq!(l.quality.duplicate_events, 0, "{name}");
    assert_eq!(l.quality.users, 50, "{name}");
    assert_eq!(
        l.quality.first_time_ms,
        Some(expected_time(0, precision_ms)),
        "{name}"
    );
    assert_eq!(
        l.quality.last_time_ms,
        Some(expected_time(999, precision_ms)),
        "{name}"
    );
}

#[test]
fn writers_and_timestamp_types_load_exactly() {
    for name in [
        "spark_int96_snappy.parquet",
        "polars_zstd.parquet",
        "duckdb.parquet",
        "pyarrow_ts_ms.parquet",
        "pyarrow_ts_us.parquet",
        "pyarrow_ts_ns.parquet",
        "pyarrow_ts_ms_utc.parquet",
        "pyarrow_ts_us_utc.parquet",
        "pyarrow_ts_ns_utc.parquet",
        "dict_strings.parquet",
        "string_view.parquet",
        "gzip.parquet",
        "lz4.parquet",
        "brotli.parquet",
        "string_times_iso.parquet",
        "string_times_offset.csv",
        "epoch_ms.csv",
    ] {
        let f = [file(name)];
        let l = load(&f);
        check_base(name, &l, 1);
        let fmt = if name.ends_with(".csv") {
            FileFormat::Csv
        } else {
            FileFormat::Parquet
        };
        assert_eq!(l.schema.format, fmt, "{name}");
        assert_eq!(l.mapping.user, "user_id");
        assert_eq!(l.mapping.duration.as_deref(), Some("duration_ms"));
    }
    // Second precision.
    for name in ["string_times_space.csv", "epoch_s.parquet"] {
        check_base(name, &load(&[file(name)]), 1000);
    }
}

#[test]
fn inspect_reads_footers() {
    let s = inspect(&[file("spark_int96_snappy.parquet")]).unwrap();
    assert_eq!(s.rows, 1000);
    assert!(s.rows_exact);
    assert_eq!(s.format, FileFormat::Parquet);
    let ts = s.column("timestamp").unwrap();
    assert_eq!(ts.data_type, "timestamp[ns]");
    let m = s.detected.clone().unwrap();
    assert_eq!(
        (
            m.user.as_str(),
            m.time.as_str(),
            m.action.as_deref(),
            m.page.as_deref(),
            m.version.as_deref()
        ),
        (
            "user_id",
            "timestamp",
            Some("action_type"),
            Some("page_id"),
            Some("app_version")
        )
    );
    let s = inspect(&[file("events.csv")]).unwrap();
    assert_eq!(
        (s.rows, s.rows_exact, s.format),
        (1020, false, FileFormat::Csv)
    );
    let s = inspect(&[file("many_row_groups.parquet")]).unwrap();
    assert_eq!((s.rows, s.row_groups), (5000, 40));
}

#[test]
fn integer_user_ids_sort_numerically() {
    let l = load(&[file("int_user_ids.parquet")]);
    assert_eq!(l.store.user_count(), 50);
    assert_eq!(l.store.users.get(0), "1000");
    assert_eq!(l.store.users.get(49), "1049");
    assert_eq!(l.store.time_ms[0], T0);
}

#[test]
fn many_row_groups_stream_with_progress() {
    let f = [file("many_row_groups.parquet")];
    let mapping = inspect(&f).unwrap().detected.unwrap();
    let mut calls = Vec::new();
    let l = load_events(&f, &mapping, &opts(), &mut |p| calls.push(p.clone())).unwrap();
    assert_eq!(l.store.len(), 5000);
    assert_eq!(l.store.user_offsets[1], 100);
    assert_eq!(l.store.time_ms[4999], T0 + 4999 * 60_000 + 4999);
    // One batch per row group (128 rows each, 40 groups).
    assert_eq!(calls.len(), 40);
    assert_eq!(calls[0].rows_done, 128);
    let last = calls.last().unwrap();
    assert_eq!((last.rows_done, last.rows_total), (5000, 5000));
    assert_eq!(last.file, "many_row_groups.parquet");
}

#[test]
fn events_csv_quality_report_counts_every_finding() {
    let l = load(&[file("events.csv")]);
    let q = &l.quality;
    assert_eq!(q.rows_read, 1020);
    assert_eq!(q.rows_loaded, 1013);
    assert_eq!(l.store.len(), 1013);
    assert_eq!(q.dropped_null_user, 2);
    assert_eq!(q.dropped_null_time, 1);
    assert_eq!(q.dropped_unparseable_time, 2);
    assert_eq!(q.dropped_time_too_early, 1);
    assert_eq!(q.dropped_time_in_future, 1);
    assert_eq!(q.duplicate_events, 3);
    assert_eq!(l.store.duplicate_rows.len(), 3);
    assert_eq!(q.negative_durations, 2);
    assert_eq!(q.absurd_durations, 3);
    assert_eq!(q.clamped_durations, 1);
    assert_eq!(q.unparseable_durations, 1);
    assert_eq!(q.users, 51);
    assert_eq!(q.first_time_ms, Some(T0));
    assert_eq!(q.last_time_ms, Some(T0 + 999 * 60_000 + 999));
    let nulls: Vec<(&str, u64)> = q.nulls.iter().map(|n| (n.role.as_str(), n.nulls)).collect();
    assert_eq!(
        nulls,
        vec![
            ("user id", 2),
            ("event time", 1),
            ("action", 0),
            ("page", 0),
            ("duration", 10),
            ("app version", 0)
        ]
    );
    assert_eq!(q.files.len(), 1);
    assert_eq!(q.files[0].rows, 1020);
    // The duplicates are u001's i=1 row once and u002's i=2 row twice: listed after originals.
    let s = &l.store;
    for &r in &s.duplicate_rows {
        let r = r as usize;
        assert_eq!(s.time_ms[r], s.time_ms[r - 1]);
        assert_eq!(s.action[r], s.action[r - 1]);
    }
    let u002 = s.users.position("u002").unwrap();
    let rows = s.user_offsets[u002] as usize..s.user_offsets[u002 + 1] as usize;
    assert_eq!(rows.len(), 22);
    assert_eq!(
        s.duplicate_rows
            .iter()
            .filter(|&&r| rows.contains(&(r as usize)))
            .count(),
        2
    );
    // The absurd value beyond i32 is clamped, not turned into the null marker.
    assert!(s.duration_ms.contains(&DurationMs(i32::MAX)));
    // The report serialises for the UI.
    let json = serde_json::to_string(q).unwrap();
    assert!(json.contains("\"dropped_time_in_future\":1"), "{json}");
}

#[test]
fn future_check_follows_the_callers_clock() {
    let f = [file("events.csv")];
    let mapping = inspect(&f).unwrap().detected.unwrap();
    let opts = LoadOptions {
        now_ms: i64::MAX,
        ..LoadOptions::default()
    };
    let l = load_events(&f, &mapping, &opts, &mut |_| {}).unwrap();
    assert_eq!(l.quality.dropped_time_in_future, 0);
    assert_eq!(l.quality.rows_loaded, 1014);
}

#[test]
fn partitioned_spark_folder_is_one_dataset() {
    let files = folder("partitioned");
    let s = inspect(&files).unwrap();
    assert_eq!(s.partition_columns, vec!["date"]);
    assert_eq!(
        s.files,
        vec![
            "partitioned/date=2023-07-01/part-0000.parquet",
            "partitioned/date=2023-07-01/part-0001.parquet",
            "partitioned/date=2023-07-02/part-0000.parquet"
        ]
    );
    assert_eq!(s.ignored_files.len(), 5, "{:?}", s.ignored_files);
    assert_eq!(s.rows, 1000);
    let date = s.column("date").unwrap();
    assert!(date.from_partition);
    let l = load(&files);
    assert_eq!(l.store.len(), 1000);
    assert_eq!(l.store.user_count(), 50);
    assert_eq!(l.store.time_ms[0], T0);
    assert_eq!(l.quality.files.len(), 3);
    assert_eq!(
        l.quality.files.iter().map(|f| f.rows).collect::<Vec<_>>(),
        vec![360, 360, 280]
    );
    // A partition column can be mapped like any other.
    let mapping = ColumnMapping {
        version: Some("date".into()),
        ..s.detected.clone().unwrap()
    };
    let l = load_events(&files, &mapping, &opts(), &mut |_| {}).unwrap();
    let v = &l.store.app_versions;
    let day2 = v.position("2023-07-02").unwrap() as u16;
    assert_eq!(
        l.store.app_version.iter().filter(|&&x| x == day2).count(),
        280
    );
    assert_eq!(v.len(), 3, "null + two dates");
}

#[test]
fn metadata_files_resolve_duplicates_and_cover_events() {
    let events = load(&[file("events.csv")]);
    for name in ["metadata.parquet", "metadata.csv"] {
        let m = load_metadata(&[file(name)], None, &opts(), &mut |_| {}).unwrap();
        let t = &m.table;
        let q = &m.quality;
        assert_eq!(t.len(), 49, "{name}");
        assert_eq!(t.user_keys.first().map(String::as_str), Some("u000"));
        assert_eq!(t.user_keys.last().map(String::as_str), Some("u999"));
        assert_eq!(t.join_day[0], Some(19_358), "{name}");
        assert_eq!(t.join_day[3], None, "{name}: u003");
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "country",
                "device_type",
                "subscription_type",
                "acquisition_channel"
            ]
        );
        let plan = t.column("subscription_type").unwrap();
        assert_eq!(
            plan.dict.get(plan.values[1] as usize),
            "premium",
            "{name}: last row wins"
        );
        assert_eq!(plan.dict.get(plan.values[0] as usize), "free");
        let country = t.column("country").unwrap();
        assert_eq!(country.dict.get(country.values[1] as usize), "DE");
        assert_eq!((q.rows_read, q.rows_loaded), (52, 49), "{name}");
        assert_eq!(q.dropped_null_user, 1);
        assert_eq!((q.duplicate_rows, q.duplicated_users), (2, 2));
        assert_eq!(q.duplicated_examples, vec!["u001", "u002"]);
        assert!(q.duplicate_rule.contains("last row"));
        let (unparseable, join_nulls) = if name.ends_with(".csv") {
            (1, 0)
        } else {
            (0, 1)
        };
        assert_eq!(q.unparseable_join_dates, unparseable, "{name}");
        assert_eq!(q.nulls[0].column, "join_date");
        assert_eq!(q.nulls[0].nulls, join_nulls, "{name}");
        assert!(q.nulls.iter().skip(1).all(|n| n.nulls == 0));

        let c = metadata_coverage(&events.store, t);
        assert_eq!(c.users, 51);
        assert_eq!(c.users_missing, 3);
        assert_eq!(c.events_missing, 44);
        assert_eq!(c.missing_examples, vec!["u048", "u049", "u050"]);
        assert_eq!(c.metadata_users_without_events, 1);
    }
}

#[test]
fn bad_input_gets_specific_errors() {
    let err = |files: &[InputFile]| load_events_auto(files, &opts(), &mut |_| {}).unwrap_err();

    let e = err(&[file("not_parquet.parquet")]);
    assert!(matches!(e, IngestError::UnknownFormat { .. }), "{e}");
    let e = err(&[InputFile::new("x.bin", vec![0u8, 159, 146, 150])]);
    assert!(matches!(e, IngestError::UnknownFormat { .. }), "{e}");

    let e = err(&[file("truncated.parquet")]);
    assert!(matches!(e, IngestError::CorruptParquet { .. }), "{e}");
    assert!(e.to_string().contains("truncated.parquet"), "{e}");

    // The footer is intact, so inspect works; decoding the damaged page fails cleanly.
    let f = [file("corrupt_page.parquet")];
    assert_eq!(inspect(&f).unwrap().rows, 1000);
    let e = err(&f);
    assert!(matches!(e, IngestError::CorruptParquet { .. }), "{e}");

    let e = err(&[file("empty.parquet")]);
    assert_eq!(
        e,
        IngestError::Empty {
            file: "empty.parquet".into()
        }
    );

    let f = [file("no_user_column.parquet")];
    let s = inspect(&f).unwrap();
    assert_eq!(s.detected, None);
    let e = s.detect_mapping().unwrap_err();
    assert_eq!(
        e,
        IngestError::MissingRole {
            file: "no_user_column.parquet".into(),
            role: "user id",
            found: "timestamp, action_type, page_id".into()
        }
    );
    assert_eq!(err(&f), e);

    // A boolean `timestamp` cannot be detected as the time, and mapping it explicitly is refused.
    let f = [file("wrong_type.parquet")];
    let e = inspect(&f).unwrap().detect_mapping().unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::MissingRole {
                role: "event time",
                ..
            }
        ),
        "{e}"
    );
    let m = ColumnMapping {
        user: "user_id".into(),
        time: "timestamp".into(),
        action: None,
        page: None,
        duration: None,
        version: None,
    };
    let e = load_events(&f, &m, &opts(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, IngestError::WrongType { column, role: "event time", found, .. } if column == "timestamp" && found == "Boolean"),
        "{e}"
    );

    // A text column mapped as the time: none of its values is a time.
    let f = [file("pyarrow_ts_ms.parquet")];
    let detected = inspect(&f).unwrap().detected.unwrap();
    let m = ColumnMapping {
        time: "action_type".into(),
        ..detected.clone()
    };
    let e = load_events(&f, &m, &opts(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, IngestError::WrongType { column, .. } if column == "action_type"),
        "{e}"
    );
    // A text column mapped as the duration.
    let m = ColumnMapping {
        duration: Some("page_id".into()),
        ..detected.clone()
    };
    let e = load_events(&f, &m, &opts(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            &e,
            IngestError::WrongType {
                role: "duration",
                ..
            }
        ),
        "{e}"
    );
    // A timestamp mapped as the user id.
    let m = ColumnMapping {
        user: "timestamp".into(),
        ..detected.clone()
    };
    let e = load_events(&f, &m, &opts(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            &e,
            IngestError::WrongType {
                role: "user id",
                ..
            }
        ),
        "{e}"
    );
    // A column that does not exist.
    let m = ColumnMapping {
        page: Some("nope".into()),
        ..detected.clone()
    };
    let e = load_events(&f, &m, &opts(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, IngestError::NoSuchColumn { column, .. } if column == "nope"),
        "{e}"
    );

    // Too large for the tab: refused from the footer, naming both sizes. A Parquet file is read
    // one row group at a time, so only the rows count (a CSV would add its bytes).
    let small = LoadOptions {
        memory_limit_bytes: 10_000,
        ..opts()
    };
    let e = load_events(&f, &detected, &small, &mut |_| panic!("nothing is decoded")).unwrap_err();
    let needed_mb = (1000 * pulse::engine::ingest::PEAK_BYTES_PER_EVENT).div_ceil(1 << 20);
    assert_eq!(
        e,
        IngestError::TooLarge {
            needed_mb,
            limit_mb: 0
        }
    );

    // Files of one dataset with different columns.
    let e = err(&[
        file("pyarrow_ts_ms.parquet"),
        file("no_user_column.parquet"),
    ]);
    assert!(matches!(e, IngestError::SchemaMismatch { .. }), "{e}");
    let e = err(&[file("pyarrow_ts_ms.parquet"), file("events.csv")]);
    assert!(matches!(e, IngestError::SchemaMismatch { .. }), "{e}");

    // Only bookkeeping files.
    let e = err(&[InputFile::new("out/_SUCCESS", Vec::new())]);
    assert!(matches!(e, IngestError::NoDataFiles { .. }), "{e}");
}

#[test]
fn several_part_files_are_one_dataset() {
    let files = [
        InputFile::from_source("out/part-0001.parquet", file("gzip.parquet").source),
        InputFile::from_source("out/part-0000.parquet", file("lz4.parquet").source),
        InputFile::new("out/_SUCCESS", Vec::new()),
    ];
    let l = load(&files);
    assert_eq!(l.store.len(), 2000);
    assert_eq!(
        l.quality.duplicate_events, 1000,
        "the second file repeats the first"
    );
    assert_eq!(
        l.schema.files,
        vec!["out/part-0000.parquet", "out/part-0001.parquet"]
    );
}

/// A file on "disk" that records every read, as the worker's `File` source would see them.
#[derive(Debug)]
struct RecordingFile {
    bytes: bytes::Bytes,
    reads: std::sync::Mutex<Vec<(u64, usize)>>,
}

impl pulse::engine::ingest::ByteSource for RecordingFile {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read(&self, start: u64, len: usize) -> Result<bytes::Bytes, String> {
        self.reads
            .lock()
            .map_err(|e| e.to_string())?
            .push((start, len));
        pulse::engine::ingest::ByteSource::read(&self.bytes, start, len)
    }
}

/// A Parquet file read by range loads exactly what the in-memory bytes load, reading the footer
/// and then the row groups — never the file in one piece (how many row groups a read spans is
/// unit-tested in `engine::ingest::parquet`).
#[test]
fn parquet_read_by_range_loads_the_same_store() {
    use pulse::engine::sample::{write_events_parquet, SampleConfig};
    let mut buf = Vec::new();
    let cfg = SampleConfig::for_events(200_000, 3);
    write_events_parquet(&cfg, &mut buf, parquet::basic::Compression::SNAPPY, 16_384)
        .expect("sample writes");
    let size = buf.len();
    let bytes = bytes::Bytes::from(buf);
    let recording = std::sync::Arc::new(RecordingFile {
        bytes: bytes.clone(),
        reads: Default::default(),
    });
    let ranged = load(&[InputFile::from_source("e.parquet", recording.clone())]);
    let memory = load(&[InputFile::new("e.parquet", bytes)]);
    assert_eq!(ranged.store, memory.store);
    assert_eq!(ranged.quality, memory.quality);
    let reads = recording.reads.lock().expect("reads").clone();
    let largest = reads.iter().map(|r| r.1).max().unwrap_or(0);
    assert!(reads.len() >= 2, "{reads:?}");
    assert!(
        largest < size,
        "largest read {largest} of a {size}-byte file"
    );
}

/// A file that disappears between the drop and the load (the user moved it) is reported as such.
#[test]
fn an_unreadable_file_says_so() {
    #[derive(Debug)]
    struct Gone;
    impl pulse::engine::ingest::ByteSource for Gone {
        fn len(&self) -> u64 {
            1000
        }
        fn read(&self, _: u64, _: usize) -> Result<bytes::Bytes, String> {
            Err("NotReadableError".into())
        }
    }
    let e = inspect(&[InputFile::from_source(
        "e.parquet",
        std::sync::Arc::new(Gone),
    )])
    .expect_err("unreadable");
    assert!(matches!(e, IngestError::Unreadable { .. }), "{e}");
    assert!(e.to_string().contains("choose it again"), "{e}");
}

/// Run a load whose reads are all in memory (ready at once) to its end.
fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("an in-memory load waited"),
    }
}

/// Batches that crossed as Arrow IPC bytes, as the browser's decoding worker posts them: the
/// decoder's whole output, then its error if it stopped on one.
struct IpcFeed(std::vec::IntoIter<Result<Vec<u8>, IngestError>>);

impl handoff::BatchFeed for IpcFeed {
    fn next_batch(&mut self) -> handoff::PendingBatch<'_> {
        let next = self
            .0
            .next()
            .map(|r| r.and_then(handoff::decode))
            .transpose();
        Box::pin(std::future::ready(next))
    }
}

/// The decoder's output for `files`, and how often it asked to pace itself.
fn ipc_feed(files: &[InputFile], mapping: &ColumnMapping) -> (IpcFeed, usize) {
    let mut posted = Vec::new();
    let paced = std::cell::Cell::new(0);
    let decoded = ready(handoff::decode_events(
        files,
        mapping,
        &mut |b| {
            posted.push(handoff::encode(&b));
            Ok(())
        },
        &|| {
            paced.set(paced.get() + 1);
            None
        },
    ));
    if let Err(e) = decoded {
        posted.push(Err(e));
    }
    (IpcFeed(posted.into_iter()), paced.get())
}

/// A load whose batches another thread decodes — natively through a channel, in the browser as
/// Arrow IPC bytes from a second worker — builds the same store and quality report, or fails
/// with the same error, as a load that decodes on its own thread: every fixture (writers,
/// timestamp encodings, codecs, dictionaries, string views, CSV, a partitioned folder, several
/// part files) and the broken ones.
#[test]
fn a_decoding_thread_loads_what_the_loader_would() {
    let mut cases: Vec<(String, Vec<InputFile>)> = Vec::new();
    for e in std::fs::read_dir(fixtures()).expect("fixtures") {
        let p = e.expect("entry").path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            cases.push((name.clone(), folder(&name)));
        } else if !name.starts_with("metadata") && !name.ends_with(".json") {
            cases.push((name.clone(), vec![file(&name)]));
        }
    }
    cases.push((
        "two files".into(),
        vec![
            file("pyarrow_ts_ms.parquet"),
            file("many_row_groups.parquet"),
        ],
    ));
    // A broken file after a good one: the error comes after batches were handed over.
    cases.push((
        "good then corrupt".into(),
        vec![file("pyarrow_ts_us.parquet"), file("corrupt_page.parquet")],
    ));
    let mut loaded = 0;
    let mut failed = 0;
    for (name, files) in &cases {
        let Ok(schema) = inspect(files) else { continue };
        let Some(mapping) = schema.detected.clone() else {
            continue;
        };
        let here = load_events(files, &mapping, &opts(), &mut |_| {});
        let threaded = load_events_pipelined(files, &mapping, &opts(), &NoClock, &mut |_| {});
        let (mut feed, paced) = ipc_feed(files, &mapping);
        // A Parquet decoder asks to pace itself after every batch it hands over.
        let batches = feed.0.as_slice().iter().filter(|b| b.is_ok()).count();
        if files.iter().all(|f| f.name.ends_with(".parquet")) {
            assert_eq!(paced, batches, "{name}");
        }
        let posted = ready(load_events_fed(
            files,
            &mapping,
            &opts(),
            &NoClock,
            &mut |_| {},
            Some(&mut feed),
        ));
        for (how, other) in [("a thread", threaded), ("IPC", posted)] {
            match (&here, other) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.store, b.store, "{name} through {how}");
                    assert_eq!(a.quality, b.quality, "{name} through {how}");
                    assert_eq!(a.schema, b.schema, "{name} through {how}");
                    assert_eq!(b.profile.stages[0].detail, handoff::DECODED_ELSEWHERE);
                }
                (Err(a), Err(b)) => assert_eq!(*a, b, "{name} through {how}"),
                (a, b) => panic!(
                    "{name} through {how}: {:?} vs {:?}",
                    a.as_ref().map(|l| l.store.len()),
                    b.map(|l| l.store.len())
                ),
            }
        }
        match here {
            Ok(_) => loaded += 1,
            Err(_) => failed += 1,
        }
    }
    // The comparison covered real loads and real failures.
    assert!(loaded >= 20, "{loaded} loads compared");
    assert!(failed >= 2, "{failed} failures compared");
}
