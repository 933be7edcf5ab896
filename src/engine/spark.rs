//! Export the current settings as a self-contained PySpark job (pure: no filesystem, no clock).
//!
//! The job is a generated header — the settings as Python constants, the sizing advice and the
//! skew findings as comments and Spark settings — followed by a fixed body
//! (`spark_job.py`, Spark SQL + DataFrame API) that computes the metrics defined in
//! docs/METRICS.md exactly as the engine does: LAG + cumulative-sum sessions with the greedy
//! max-length split, the activity definition's units summed over its window, DAU/WAU/MAU and
//! stickiness, calendar weeks/months, the outlier detector and policy with exact `quantile_cont`,
//! the metadata join (broadcast hint, or salting of heavy user ids), per-segment DAU and
//! retention cohorts. Mapping of each metric: docs/METRICS.md § "Spark export".

use serde::{Deserialize, Serialize};

use super::params::{
    ActivityDefinition, CohortBy, DuplicatePolicy, Granularity, OutlierDetector, OutlierPolicy,
    Params, Segment,
};
use super::sizing::{advise, NodeShape, SizingAdvice};
use super::skew::SkewReport;

/// The fixed body of every exported job.
pub const JOB_BODY: &str = include_str!("spark_job.py");

/// What the job needs from the skew report of the loaded data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewInputs {
    /// Considered events and users the report was measured on.
    pub events: u64,
    pub users: u64,
    /// Heaviest users with their share of events (from the report's top list).
    pub top_users: Vec<(String, f64)>,
    /// Salt user ids whose share of events exceeds this (1 / partitions: such a user alone is
    /// larger than an average partition).
    pub threshold_share: f64,
    /// Pieces to split each heavy key into (1 = no salting needed).
    pub salt_count: u32,
    /// Broadcast the metadata (it is below Spark's broadcast threshold).
    pub broadcast: bool,
    pub skew_hint: bool,
    pub notes: Vec<String>,
}

/// What "Run at scale" shows and `pulse export-spark` prints: the sizing advice for the target
/// volume and node shape, the PySpark job with these settings (advice in its header), and the
/// `spark-submit` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleOut {
    pub advice: SizingAdvice,
    pub job: String,
    pub submit: String,
}

/// The file name the job is saved under and the one the submit command runs.
pub const JOB_FILE: &str = "pulse_job.py";

/// Size and export for a loaded dataset: `dataset_bytes` is its size on disk (`None` for
/// generated data: `events` × [`super::sizing::SAMPLE_BYTES_PER_EVENT`]); the skew inputs come
/// from the report computed with the same `params`.
pub fn scale_out(
    params: &Params,
    report: &super::report::MetricsReport,
    events: u64,
    dataset_bytes: Option<u64>,
    target_bytes: u64,
    node: NodeShape,
) -> ScaleOut {
    let bytes =
        dataset_bytes.unwrap_or(events.saturating_mul(super::sizing::SAMPLE_BYTES_PER_EVENT));
    let advice = advise(bytes, events, target_bytes, node);
    let skew = SkewInputs::from_report(&report.skew);
    ScaleOut {
        job: export_pyspark(params, Some(&skew), &advice),
        submit: advice.submit_command(&format!("{JOB_FILE} --events ... --out ...")),
        advice,
    }
}

impl SkewInputs {
    pub fn from_report(r: &SkewReport) -> SkewInputs {
        SkewInputs {
            events: r.events,
            users: r.users,
            top_users: r
                .top_users
                .iter()
                .map(|t| (t.user.clone(), t.share))
                .collect(),
            threshold_share: 1.0 / r.partitioning.partitions.max(1) as f64,
            salt_count: r.advice.salt_count,
            broadcast: r.advice.broadcast,
            skew_hint: r.advice.skew_hint,
            notes: r.advice.notes.clone(),
        }
    }

    /// The user ids above the threshold (salted when the join is not broadcast).
    pub fn heavy_keys(&self) -> Vec<String> {
        if self.salt_count <= 1 {
            return Vec::new();
        }
        self.top_users
            .iter()
            .filter(|(_, s)| *s > self.threshold_share)
            .map(|(u, _)| u.clone())
            .collect()
    }
}

/// A Python literal for a string (a JSON string literal is a valid Python one).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn py_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| py_str(s)).collect();
    format!("[{}]", items.join(", "))
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn py_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "None".to_string(), |x| x.to_string())
}

/// A float as Python source (always with a decimal point or exponent).
fn py_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        "float('nan')".into()
    }
}

fn comment_lines(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
}

/// The activity definition's window `W` (days) and minimum `C`.
pub fn window_and_min(p: &Params) -> (u32, u32) {
    match p.definition {
        ActivityDefinition::Minimal => (1, 1),
        ActivityDefinition::Core => (7, p.core_min_events),
        ActivityDefinition::Session => (30, 1),
        ActivityDefinition::Custom => (p.custom_window_days, p.custom_min_events),
    }
}

/// Generate the PySpark job for `params` (settings), `skew` (measured on the loaded data, if
/// any) and `sizing` (embedded in the header and applied as Spark SQL settings).
pub fn export_pyspark(params: &Params, skew: Option<&SkewInputs>, sizing: &SizingAdvice) -> String {
    use std::fmt::Write;
    let p = params;
    let query = p.to_query();
    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/bin/env python3");
    let _ = writeln!(
        s,
        "# Pulse metrics as a PySpark job (Spark 3.x / 4.x), generated by `pulse export-spark`."
    );
    let _ = writeln!(s, "# Settings (permalink query): {}", query);
    let _ = writeln!(s, "#");
    let _ = writeln!(
        s,
        "# Run: see the spark-submit line below; arguments: --events PATH... [--metadata PATH...] --out DIR"
    );
    let _ = writeln!(
        s,
        "#      (local paths or cloud URIs: s3a://, gs://, abfss://); --map CANONICAL=SOURCE renames columns."
    );
    let _ = writeln!(s, "#");
    let _ = writeln!(s, "# Sizing advice (docs: src/engine/sizing.rs):");
    for line in &sizing.lines {
        comment_lines(&mut s, &format!("  {line}"));
    }
    let _ = writeln!(s, "#");
    comment_lines(
        &mut s,
        &sizing.submit_command("pulse_job.py --events ... --out ..."),
    );
    let _ = writeln!(s, "#");
    match skew {
        Some(k) => {
            let _ = writeln!(
                s,
                "# Skew (measured on the loaded data: {} events, {} users):",
                k.events, k.users
            );
            for (u, share) in k.top_users.iter().take(5) {
                let _ = writeln!(s, "#   {u}: {:.3} % of events", share * 100.0);
            }
            for n in &k.notes {
                comment_lines(&mut s, &format!("  {n}"));
            }
        }
        None => {
            let _ = writeln!(
                s,
                "# Skew: not measured (no data loaded); heavy users are measured at run time."
            );
        }
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "QUERY = {}", py_str(&query));
    let _ = writeln!(s, "TIME_ZONE = {}", py_str(&p.time_zone));
    let _ = writeln!(
        s,
        "GAP_MS = {}  # gap {} min",
        p.session_gap_mins as u64 * 60_000,
        p.session_gap_mins
    );
    let _ = writeln!(
        s,
        "MAX_SESSION_MS = {}",
        py_opt(p.max_session_mins.map(|m| m as u64 * 60_000))
    );
    let _ = writeln!(s, "SPLIT_AT_MIDNIGHT = {}", py_bool(p.split_at_midnight));
    let _ = writeln!(s, "DEFINITION = {}", py_str(p.definition.key()));
    let (w, c) = window_and_min(p);
    let _ = writeln!(s, "WINDOW_DAYS = {w}");
    let _ = writeln!(s, "MIN_UNITS = {c}");
    let _ = writeln!(
        s,
        "ACTIONS = {}",
        p.actions.as_ref().map_or("None".into(), |a| py_list(a))
    );
    let _ = writeln!(s, "INACTIVE_ACTIONS = {}", py_list(&p.inactive_actions));
    let _ = writeln!(s, "CORE_ACTIONS = {}", py_list(&p.core_actions));
    let _ = writeln!(s, "CORE_STRICT = {}", py_bool(p.core_strict));
    let _ = writeln!(s, "MIN_SESSION_MS = {}", p.min_session_mins as u64 * 60_000);
    let _ = writeln!(s, "MAU_DAYS = {}", p.mau_window_days);
    let _ = writeln!(s, "WEEK_START = {}  # 0 = Monday", p.week_start);
    let det = match p.outlier_detector {
        OutlierDetector::Cap => "cap",
        OutlierDetector::Percentile => "percentile",
        OutlierDetector::ZScore => "z_score",
        OutlierDetector::Mad => "mad",
    };
    let _ = writeln!(s, "OUTLIER_DETECTOR = {}", py_str(det));
    let _ = writeln!(s, "OUTLIER_CAP_MS = {}", p.outlier_cap_mins as u64 * 60_000);
    let _ = writeln!(s, "OUTLIER_PERCENTILE = {}", py_f64(p.outlier_percentile));
    let _ = writeln!(s, "OUTLIER_Z = {}", py_f64(p.outlier_z));
    let pol = match p.outlier_policy {
        OutlierPolicy::Keep => "keep",
        OutlierPolicy::Filter => "filter",
        OutlierPolicy::Cap => "cap",
        OutlierPolicy::Flag => "flag",
    };
    let _ = writeln!(s, "OUTLIER_POLICY = {}", py_str(pol));
    let _ = writeln!(
        s,
        "DROP_DUPLICATES = {}",
        py_bool(p.duplicates == DuplicatePolicy::Drop)
    );
    let _ = writeln!(
        s,
        "FROM_DAY = {}{}",
        py_opt(p.from.map(|d| d.0)),
        p.from.map_or(String::new(), |d| format!("  # {}", d.iso()))
    );
    let _ = writeln!(
        s,
        "TO_DAY = {}{}",
        py_opt(p.to.map(|d| d.0)),
        p.to.map_or(String::new(), |d| format!("  # {}", d.iso()))
    );
    let seg = match &p.segment {
        None => "None".to_string(),
        Some(Segment::Metadata(c)) => {
            let col = match c.as_str() {
                "device" => "device_type",
                "plan" => "subscription_type",
                other => other,
            };
            format!("(\"metadata\", {})", py_str(col))
        }
        Some(Segment::JoinMonth) => "(\"join_month\", None)".into(),
        Some(Segment::AppVersion) => "(\"app_version\", None)".into(),
        Some(Segment::ActionType) => "(\"action_type\", None)".into(),
    };
    let _ = writeln!(s, "SEGMENT = {seg}");
    let _ = writeln!(
        s,
        "SEGMENT_KEY = {}",
        p.segment
            .as_ref()
            .map_or("None".into(), |g| py_str(&g.key()))
    );
    let _ = writeln!(s, "SEGMENT_VALUES = {}", py_list(&p.segment_values));
    let _ = writeln!(s, "TOP_SEGMENTS = {}", p.top_segments);
    let gran = match p.retention_granularity {
        Granularity::Day => "day",
        Granularity::Week => "week",
        Granularity::Month => "month",
    };
    let _ = writeln!(s, "RETENTION_GRANULARITY = {}", py_str(gran));
    let _ = writeln!(s, "RETENTION_SPAN = {}", p.retention_span);
    let _ = writeln!(
        s,
        "COHORT_BY = {}",
        py_str(match p.cohort_by {
            CohortBy::FirstSeen => "first_seen",
            CohortBy::Join => "join",
        })
    );
    let _ = writeln!(
        s,
        "RETENTION_START = {}",
        py_list(&p.retention_start_actions)
    );
    let _ = writeln!(
        s,
        "RETENTION_RETURN = {}",
        py_list(&p.retention_return_actions)
    );
    // Skew: heavy keys and the salt count, measured by the engine on the loaded data.
    let (keys, salt, threshold, broadcast) = match skew {
        Some(k) => (
            k.heavy_keys(),
            k.salt_count.max(1),
            k.threshold_share,
            k.broadcast,
        ),
        None => (Vec::new(), 1, 1.0 / p.partitions.max(1) as f64, true),
    };
    let _ = writeln!(s, "SALT_KEYS = {}", py_list(&keys));
    let _ = writeln!(s, "SALT_COUNT = {salt}");
    let _ = writeln!(s, "SALT_THRESHOLD_SHARE = {}", py_f64(threshold));
    let _ = writeln!(s, "BROADCAST = {}", py_bool(broadcast));
    let _ = writeln!(
        s,
        "# Column-mapping hook: canonical name -> name in your files (also --map on the command line)."
    );
    let _ = writeln!(s, "COLUMN_MAP = {{}}");
    let _ = writeln!(s, "SQL_CONF = {{");
    for (k, v) in &sizing.sql_conf {
        let _ = writeln!(s, "    {}: {},", py_str(k), py_str(v));
    }
    let _ = writeln!(
        s,
        "    \"spark.sql.autoBroadcastJoinThreshold\": {},",
        py_str(&(10 * 1024 * 1024).to_string())
    );
    let _ = writeln!(s, "}}");
    s.push_str(JOB_BODY);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sizing::{advise, NodeShape, GB};

    fn sizing() -> SizingAdvice {
        advise(GB, 1_000_000, 100 * GB, NodeShape::default())
    }

    fn skew(salt: u32, share: f64) -> SkewInputs {
        SkewInputs {
            events: 1000,
            users: 10,
            top_users: vec![("bot_1".into(), share), ("u2".into(), 0.001)],
            threshold_share: 1.0 / 200.0,
            salt_count: salt,
            broadcast: false,
            skew_hint: true,
            notes: vec!["salt bot_1".into()],
        }
    }

    #[test]
    fn job_carries_the_settings() {
        let (p, issues, _) =
            Params::from_query("gap=5m&tz=Europe%2FBerlin&def=core&k=3&policy=cap&seg=country");
        assert!(issues.is_empty());
        let job = export_pyspark(&p, None, &sizing());
        assert!(job.contains("GAP_MS = 300000"));
        assert!(job.contains("TIME_ZONE = \"Europe/Berlin\""));
        assert!(job.contains("F.broadcast(meta)"));
        assert!(job.contains("DEFINITION = \"core\""));
        assert!(job.contains("MIN_UNITS = 3"));
        assert!(job.contains("OUTLIER_POLICY = \"cap\""));
        assert!(job.contains("SEGMENT = (\"metadata\", \"country\")"));
        assert!(job.contains("from_utc_timestamp"));
        assert!(job.contains("\"spark.sql.adaptive.enabled\": \"true\""));
        assert!(job.contains("\"spark.sql.adaptive.skewJoin.enabled\": \"true\""));
        assert!(job.contains("\"spark.sql.shuffle.partitions\": \"240\""));
        assert!(job.contains("--executor-cores 4"));
        assert!(job.contains("SALT_COUNT = 1"));
        assert!(job.contains("BROADCAST = True"));
    }

    #[test]
    fn heavy_users_are_salted_above_the_threshold() {
        let job = export_pyspark(&Params::default(), Some(&skew(7, 0.3)), &sizing());
        assert!(job.contains("SALT_COUNT = 7"));
        assert!(job.contains("SALT_KEYS = [\"bot_1\"]"));
        assert!(job.contains("BROADCAST = False"));
        assert!(job.contains("SALT_THRESHOLD_SHARE = 0.005"));
        // Below the threshold: nothing to salt.
        let job = export_pyspark(&Params::default(), Some(&skew(1, 0.004)), &sizing());
        assert!(job.contains("SALT_KEYS = []"));
        assert!(job.contains("SALT_COUNT = 1"));
    }

    #[test]
    fn defaults_and_odd_strings_are_python_literals() {
        let (p, _, _) = Params::from_query("maxlen=off&actions=a%22b,c&from=2023-01-02");
        let job = export_pyspark(&p, None, &sizing());
        assert!(job.contains("MAX_SESSION_MS = None"));
        assert!(job.contains("ACTIONS = [\"a\\\"b\", \"c\"]"));
        assert!(job.contains("FROM_DAY = 19359  # 2023-01-02"));
        let d = export_pyspark(&Params::default(), None, &sizing());
        assert!(d.contains("MAX_SESSION_MS = 86400000"));
        assert!(d.contains("GAP_MS = 1800000"));
        assert!(d.contains("TIME_ZONE = \"UTC\""));
    }
}
