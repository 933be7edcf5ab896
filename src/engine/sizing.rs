//! Spark cluster sizing advice, following the analytics notes' rules (pure arithmetic).
//!
//! Rules (from the notes this product grew from):
//!
//! - **cores per executor** 2–5: the largest count in 2..=5 that uses the most of a node's cores
//!   (16 cores → 4 executors × 4 cores);
//! - **executor heap** below ~32 GB (compressed oops, GC pauses): the node's memory minus 10 %
//!   for the OS and daemons, split between its executors, divided by `1 + overhead`; when the
//!   heap would exceed 31 GB, use more, smaller executors;
//! - **memory overhead** 10–25 % of the heap (15 % here, at least 384 MB), for metaspace, Python
//!   workers and off-heap buffers;
//! - **shuffle partitions** 3 × total cores (the notes' 2–4× range), at least 2,000 at ≥ 1 TB;
//!   AQE on so Spark coalesces them when the data is smaller than expected;
//! - **nodes**: the notes' examples (100 GB → 5 nodes, 500 GB → 10, 1 TB → 20) are
//!   `max(5, ⌈target / 50 GB⌉)`; a smaller cluster gets a warning line, not a refusal.

use serde::{Deserialize, Serialize};

pub const GB: u64 = 1_000_000_000;
/// Overhead as a fraction of the executor heap.
pub const OVERHEAD_FRACTION: f64 = 0.15;
/// Heap ceiling (GB): above ~32 GB the JVM loses compressed pointers and GC pauses grow.
pub const MAX_HEAP_GB: u32 = 31;

/// Bytes per event assumed for generated data and when no file size is known (zstd/snappy
/// Parquet of the six event columns is ~30–50 bytes an event).
pub const SAMPLE_BYTES_PER_EVENT: u64 = 40;

/// The full-scale volume to size for, in GB (decimal, as cloud storage bills it): a positive
/// finite number. Returns bytes.
pub fn parse_target_gb(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|g| *g > 0.0 && g.is_finite() && *g <= 1e9)
        .map(|g| (g * GB as f64).round() as u64)
        .ok_or_else(|| format!("expected a positive number of GB like 100 or 1000, got {s:?}"))
}

/// One worker node's shape and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeShape {
    pub cores: u32,
    pub memory_gb: u32,
    pub count: u32,
}

impl NodeShape {
    /// `16x64x5` = 16 cores, 64 GB, 5 nodes (`x` or `X` or `*` separated; count optional, 1).
    pub fn parse(s: &str) -> Result<NodeShape, String> {
        let parts: Vec<&str> = s.split(['x', 'X', '*']).collect();
        let num = |p: &str| p.trim().parse::<u32>().ok().filter(|&n| n > 0);
        let bad = || format!("expected CORESxMEMORY_GB[xCOUNT] like 16x64x5, got {s:?}");
        match parts.as_slice() {
            [c, m] => Ok(NodeShape {
                cores: num(c).ok_or_else(bad)?,
                memory_gb: num(m).ok_or_else(bad)?,
                count: 1,
            }),
            [c, m, n] => Ok(NodeShape {
                cores: num(c).ok_or_else(bad)?,
                memory_gb: num(m).ok_or_else(bad)?,
                count: num(n).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for NodeShape {
    /// The form [`NodeShape::parse`] reads: `16x64x5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.cores, self.memory_gb, self.count)
    }
}

impl Default for NodeShape {
    /// The notes' reference node: 16 cores, 64 GB, 5 of them.
    fn default() -> Self {
        NodeShape {
            cores: 16,
            memory_gb: 64,
            count: 5,
        }
    }
}

/// The recommendation, its arithmetic in words, and the `spark-submit` flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizingAdvice {
    pub node: NodeShape,
    pub dataset_bytes: u64,
    pub dataset_events: u64,
    pub target_bytes: u64,
    /// Events expected at the target size (extrapolated linearly).
    pub target_events: u64,
    pub cores_per_executor: u32,
    pub executors_per_node: u32,
    pub executors: u32,
    pub total_cores: u32,
    pub executor_heap_gb: u32,
    pub executor_overhead_mb: u32,
    pub driver_memory_gb: u32,
    pub shuffle_partitions: u32,
    pub recommended_nodes: u32,
    /// The arithmetic, one step a line.
    pub lines: Vec<String>,
    /// `spark-submit` flags (`--conf k=v` pairs and resource flags).
    pub submit_flags: Vec<String>,
    /// Spark SQL settings the job sets itself at start.
    pub sql_conf: Vec<(String, String)>,
}

impl SizingAdvice {
    /// `spark-submit <flags> job.py` as one shell line (continuations between flags).
    pub fn submit_command(&self, script: &str) -> String {
        let mut s = String::from("spark-submit");
        for f in &self.submit_flags {
            s.push_str(" \\\n  ");
            s.push_str(f);
        }
        s.push_str(" \\\n  ");
        s.push_str(script);
        s
    }
}

fn fmt_bytes(b: u64) -> String {
    if b >= 1_000 * GB {
        format!("{:.2} TB", b as f64 / (1_000 * GB) as f64)
    } else if b >= GB {
        format!("{:.1} GB", b as f64 / GB as f64)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

/// Sizing for `target_bytes` of data shaped like the loaded `dataset_bytes` / `events`, on
/// `node.count` nodes of `node.cores` cores and `node.memory_gb` GB.
pub fn advise(dataset_bytes: u64, events: u64, target_bytes: u64, node: NodeShape) -> SizingAdvice {
    let node = NodeShape {
        cores: node.cores.max(1),
        memory_gb: node.memory_gb.max(1),
        count: node.count.max(1),
    };
    let mut lines = Vec::new();
    let scale = if dataset_bytes > 0 {
        target_bytes as f64 / dataset_bytes as f64
    } else {
        0.0
    };
    let target_events = (events as f64 * scale).round() as u64;
    lines.push(format!(
        "data: {} with {} events here; target {} → ×{:.0} → ≈ {} events",
        fmt_bytes(dataset_bytes),
        events,
        fmt_bytes(target_bytes),
        scale,
        target_events
    ));

    // Cores per executor: 2..=5, maximise used cores, then prefer more cores (fewer JVMs).
    let usable_mem_gb = node.memory_gb as f64 * 0.9;
    let heap_for = |execs: u32| -> u32 {
        let per_exec = usable_mem_gb / execs as f64;
        (per_exec / (1.0 + OVERHEAD_FRACTION)).floor() as u32
    };
    let mut best: Option<(u32, u32)> = None; // (cores, executors per node)
    for c in (2..=5u32).rev() {
        let e = node.cores / c;
        if e == 0 || heap_for(e) > MAX_HEAP_GB {
            continue;
        }
        match best {
            Some((bc, be)) if bc * be >= c * e => {}
            _ => best = Some((c, e)),
        }
    }
    let (cores_per_executor, executors_per_node) = best.unwrap_or_else(|| {
        // Tiny nodes (< 2 cores) or huge memory: one executor per 2 cores, or the whole node.
        let c = node.cores.clamp(1, 2);
        (c, (node.cores / c).max(1))
    });
    lines.push(format!(
        "cores: {} per node → {} executors × {} cores (2–5 cores each; {} of {} cores used)",
        node.cores,
        executors_per_node,
        cores_per_executor,
        executors_per_node * cores_per_executor,
        node.cores
    ));
    let per_exec_gb = usable_mem_gb / executors_per_node as f64;
    let executor_heap_gb = heap_for(executors_per_node).clamp(1, MAX_HEAP_GB);
    let executor_overhead_mb =
        ((executor_heap_gb as f64 * 1024.0 * OVERHEAD_FRACTION).ceil() as u32).max(384);
    lines.push(format!(
        "memory: {} GB × 0.9 (OS, daemons) = {:.1} GB / {} executors = {:.1} GB each \
         → heap {} GB (< 32 GB) + overhead {} MB (15 %, range 10–25 %)",
        node.memory_gb,
        usable_mem_gb,
        executors_per_node,
        per_exec_gb,
        executor_heap_gb,
        executor_overhead_mb
    ));
    let executors = executors_per_node * node.count;
    let total_cores = executors * cores_per_executor;
    lines.push(format!(
        "cluster: {} nodes × {} executors = {} executors, {} cores",
        node.count, executors_per_node, executors, total_cores
    ));
    let tb = target_bytes >= 1_000 * GB;
    let base = total_cores * 3;
    let shuffle_partitions = if tb { base.max(2000) } else { base.max(1) };
    lines.push(if tb {
        format!(
            "shuffle partitions: 3 × {total_cores} cores = {base}; ≥ 1 TB → at least 2000 → {shuffle_partitions}"
        )
    } else {
        format!("shuffle partitions: 3 × {total_cores} cores = {shuffle_partitions} (2–4× cores)")
    });
    let driver_memory_gb = if tb { 8 } else { 4 };
    lines.push(format!(
        "driver: {driver_memory_gb} GB (planning, broadcast of the metadata, small collected results)"
    ));
    let recommended_nodes = ((target_bytes as f64 / (50 * GB) as f64).ceil() as u32).max(5);
    if node.count < recommended_nodes {
        lines.push(format!(
            "warning: the notes' examples suggest ≈ {recommended_nodes} such nodes for {} \
             (100 GB → 5, 500 GB → 10, 1 TB → 20); {} given",
            fmt_bytes(target_bytes),
            node.count
        ));
    } else {
        lines.push(format!(
            "nodes: {} given, ≥ the notes' ≈ {recommended_nodes} for {}",
            node.count,
            fmt_bytes(target_bytes)
        ));
    }
    lines.push("AQE on: coalesces small shuffle partitions, splits skewed join partitions".into());

    let sql_conf: Vec<(String, String)> = vec![
        ("spark.sql.adaptive.enabled".into(), "true".into()),
        (
            "spark.sql.adaptive.coalescePartitions.enabled".into(),
            "true".into(),
        ),
        ("spark.sql.adaptive.skewJoin.enabled".into(), "true".into()),
        (
            "spark.sql.adaptive.skewJoin.skewedPartitionFactor".into(),
            "5".into(),
        ),
        (
            "spark.sql.shuffle.partitions".into(),
            shuffle_partitions.to_string(),
        ),
    ];
    let mut submit_flags = vec![
        format!("--num-executors {executors}"),
        format!("--executor-cores {cores_per_executor}"),
        format!("--executor-memory {executor_heap_gb}g"),
        format!("--driver-memory {driver_memory_gb}g"),
        format!("--conf spark.executor.memoryOverhead={executor_overhead_mb}m"),
    ];
    for (k, v) in &sql_conf {
        submit_flags.push(format!("--conf {k}={v}"));
    }
    SizingAdvice {
        node,
        dataset_bytes,
        dataset_events: events,
        target_bytes,
        target_events,
        cores_per_executor,
        executors_per_node,
        executors,
        total_cores,
        executor_heap_gb,
        executor_overhead_mb,
        driver_memory_gb,
        shuffle_partitions,
        recommended_nodes,
        lines,
        submit_flags,
        sql_conf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_reference_node_gives_four_by_four() {
        let a = advise(GB, 10_000_000, 100 * GB, NodeShape::default());
        assert_eq!((a.executors_per_node, a.cores_per_executor), (4, 4));
        assert_eq!(a.executors, 20); // 5 nodes × 4
        assert_eq!(a.total_cores, 80);
        // 64 × 0.9 / 4 = 14.4 GB → heap ⌊14.4 / 1.15⌋ = 12 GB, overhead ⌈12 × 1024 × 0.15⌉.
        assert_eq!(a.executor_heap_gb, 12);
        assert_eq!(a.executor_overhead_mb, 1844);
        assert_eq!(a.shuffle_partitions, 240);
        assert_eq!(a.target_events, 1_000_000_000);
        assert_eq!(a.recommended_nodes, 5);
        assert!(a
            .submit_flags
            .contains(&"--executor-memory 12g".to_string()));
        assert!(a.lines.iter().all(|l| !l.starts_with("warning")));
    }

    #[test]
    fn one_terabyte_gets_thousands_of_partitions_and_a_node_warning() {
        let a = advise(GB, 1, 1_000 * GB, NodeShape::default());
        assert_eq!(a.shuffle_partitions, 2000);
        assert_eq!(a.recommended_nodes, 20);
        assert!(a.lines.iter().any(|l| l.starts_with("warning")));
        let b = advise(GB, 1, 500 * GB, NodeShape::default());
        assert_eq!(b.recommended_nodes, 10);
        // A 160-core cluster (notes: 320–640 partitions) → 480.
        let c = advise(
            GB,
            1,
            100 * GB,
            NodeShape {
                cores: 16,
                memory_gb: 64,
                count: 10,
            },
        );
        assert_eq!(c.total_cores, 160);
        assert!((320..=640).contains(&c.shuffle_partitions));
    }

    #[test]
    fn heap_stays_below_32_gb_on_big_nodes() {
        // 8 cores, 512 GB: 2 × 4 cores would mean a ~200 GB heap; cores drop to 2 per executor
        // and the heap is capped.
        let a = advise(
            GB,
            1,
            100 * GB,
            NodeShape {
                cores: 8,
                memory_gb: 512,
                count: 2,
            },
        );
        assert!(a.executor_heap_gb <= MAX_HEAP_GB);
        assert!((2..=5).contains(&a.cores_per_executor));
        // 32 cores, 256 GB: 5 cores → 6 executors (30 cores) vs 4 → 8 (32): 8 × 4 wins.
        let b = advise(
            GB,
            1,
            100 * GB,
            NodeShape {
                cores: 32,
                memory_gb: 256,
                count: 1,
            },
        );
        assert_eq!((b.executors_per_node, b.cores_per_executor), (8, 4));
        assert_eq!(b.executor_heap_gb, 25); // 256 × 0.9 / 8 = 28.8 / 1.15 = 25.04
        let overhead = b.executor_overhead_mb as f64 / (b.executor_heap_gb as f64 * 1024.0);
        assert!((0.10..=0.25).contains(&overhead));
    }

    #[test]
    fn node_shape_parses() {
        assert_eq!(NodeShape::parse("16x64x5"), Ok(NodeShape::default()));
        assert_eq!(NodeShape::parse("8x32").unwrap().count, 1);
        assert!(NodeShape::parse("16x").is_err());
        assert!(NodeShape::parse("0x64x5").is_err());
    }
}
