#!/usr/bin/env python3
"""Spark verification tier: the exported PySpark job must reproduce `pulse metrics --json` exactly.

usage: verify.py --pulse BIN [--work DIR] [--events N] [--seed S]

Generates data with `pulse gen`, then for each parameter set below runs `pulse metrics --json`
and `pulse export-spark`, and executes every exported job in ONE local SparkSession (a JVM start
costs ~70 s here), comparing every exported metric with the CLI's JSON for exact equality.
Not part of `cargo test`; run it with scripts/spark-verify.sh.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

# (name, permalink query, join strategy passed to the job)
CASES = [
    ("defaults+country", "seg=country", "auto"),
    ("core-ny-pct-cap-maxlen-salted",
     "gap=5m&maxlen=1h&tz=America%2FNew_York&def=core&k=3&outlier=pct&pct=95&policy=cap"
     "&seg=device&wstart=sun", "salted"),
    ("session-berlin-filter-range-month",
     "gap=45m&midnight=1&tz=Europe%2FBerlin&def=session&minsess=5m&policy=filter&dups=drop"
     "&from=2023-03-01&to=2023-10-31&rgran=month&mau=28&seg=plan&topn=2", "broadcast"),
]

STATS = ["count", "sum_ms", "mean_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"]


def compare(engine, spark):
    """Yield (path, engine value, spark value) for every compared metric."""
    def get(d, path):
        for k in path:
            d = d[k]
        return d

    paths = [
        ("axis", "first"), ("axis", "last"), ("axis", "dates"), ("events_per_day",),
        ("input", "store_events"), ("input", "store_users"), ("input", "events"), ("input", "users"),
        ("input", "duplicates_dropped"), ("input", "outside_date_range"), ("input", "null_durations"),
        ("sessions", "count"), ("sessions", "per_day"),
        ("activity", "dau"), ("activity", "wau"), ("activity", "mau"),
        ("activity", "dau_mau"), ("activity", "dau_wau"), ("activity", "wau_mau"),
        ("activity", "ever_active"),
        ("activity", "l7", "as_of"), ("activity", "l7", "counts"), ("activity", "l7", "cumulative"),
        ("activity", "l30", "as_of"), ("activity", "l30", "counts"), ("activity", "l30", "cumulative"),
    ]
    for rep in [("sessions", "duration"), ("event_durations",)]:
        for k in ["threshold_ms", "detected", "touched"]:
            paths.append(rep + (k,))
        for part in ["before", "after", "outliers"]:
            for k in STATS:
                paths.append(rep + (part, k))
    for k in STATS:
        paths.append(("sessions", "active_time", k))
    for p in paths:
        yield ".".join(p), get(engine, p), get(spark, p)
    for cal in ["weeks", "months"]:
        yield (f"activity.{cal}[].actives", [x["actives"] for x in engine["activity"][cal]],
               [x["actives"] for x in spark["activity"][cal]])
    if engine.get("join"):
        for k in ["metadata_rows", "metadata_users", "duplicate_metadata_rows", "users_without_metadata",
                  "events_without_metadata", "metadata_users_without_events"]:
            yield f"join.{k}", engine["join"][k], spark["join"][k]
    if engine.get("segments"):
        es = {s["label"]: s for s in engine["segments"]["segments"]}
        ss = {s["label"]: s for s in spark["segments"]["segments"]}
        yield "segments.labels", sorted(es), sorted(ss)
        for lab in es:
            for k in ["dau", "wau", "mau"]:
                yield f"segments[{lab}].{k}", es[lab][k], ss.get(lab, {}).get(k)
    er, sr = engine["retention"], spark["retention"]
    yield "retention.cohorts[].start", [c["start"] for c in er["cohorts"]], [c["start"] for c in sr["cohorts"]]
    for k in ["size", "retained", "cumulative", "rate", "cumulative_rate"]:
        yield f"retention.cohorts[].{k}", [c[k] for c in er["cohorts"]], [c[k] for c in sr["cohorts"]]
    for k in ["average", "average_cumulative"]:
        yield f"retention.{k}", er[k], sr[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pulse", required=True)
    ap.add_argument("--work", default="/tmp/pulse-spark-verify")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    t0 = time.time()
    data = os.path.join(args.work, "data")
    os.makedirs(args.work, exist_ok=True)
    subprocess.run([args.pulse, "gen", "--events", str(args.events), "--seed", str(args.seed), "--out", data],
                   check=True)
    ev, md = os.path.join(data, "events.parquet"), os.path.join(data, "metadata.parquet")
    prepared = []
    for i, (name, query, join) in enumerate(CASES):
        src = ["--events", ev, "--metadata", md, "--params", query]
        engine = json.loads(subprocess.run([args.pulse, "metrics", *src, "--json"], check=True,
                                           capture_output=True, text=True).stdout)
        job = subprocess.run([args.pulse, "export-spark", *src], check=True, capture_output=True, text=True).stdout
        path = os.path.join(args.work, f"job_{i}.py")
        with open(path, "w") as f:
            f.write(job)
        prepared.append((name, query, join, engine, path))
    print(f"prepared {len(prepared)} cases in {time.time() - t0:.1f} s", flush=True)

    from pyspark.sql import SparkSession
    t1 = time.time()
    spark = (SparkSession.builder.master("local[2]").appName("pulse-verify")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "2g")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark {spark.version} started in {time.time() - t1:.1f} s", flush=True)

    failures = 0
    compared = 0
    for i, (name, query, join, engine, path) in enumerate(prepared):
        t2 = time.time()
        spec = importlib.util.spec_from_file_location(f"pulse_job_{i}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        # Local mode: a handful of shuffle partitions instead of the cluster sizing.
        mod.SQL_CONF["spark.sql.shuffle.partitions"] = "4"
        out = os.path.join(args.work, f"out_{i}")
        report = mod.main(["--events", ev, "--metadata", md, "--out", out, "--join", join])
        bad = []
        n = 0
        for key, a, b in compare(engine, report):
            n += 1
            if a != b:
                bad.append((key, a, b))
        compared += n
        status = "OK" if not bad else f"{len(bad)} MISMATCHES"
        print(f"[{name}] {query} (join={join}): {n} metrics compared, {status} ({time.time() - t2:.1f} s)",
              flush=True)
        for key, a, b in bad[:20]:
            print(f"   {key}:\n     engine {str(a)[:300]}\n     spark  {str(b)[:300]}")
        failures += len(bad)
    spark.stop()
    print(f"total {time.time() - t0:.1f} s; {compared} metrics compared; "
          f"{'all equal' if failures == 0 else str(failures) + ' mismatches'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
