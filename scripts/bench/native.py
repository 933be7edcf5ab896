#!/usr/bin/env python3
"""Issue 7's native target: the `pulse` CLI vs native DuckDB (pip, 2 threads) on the same Parquet file.

    python3 scripts/bench/native.py EVENTS.parquet METADATA.parquet [RUNS] [PULSE_BIN]

A benchmark, not a test. DuckDB runs the SQL of the browser benchmark (scripts/bench/bench.js:
DAU per day, rolling 30-day actives, calendar MAU, sessionization at 30 and 10 min with duration
stats, DAU per country after the join), reading the file with its own Parquet reader. Pulse runs
two complete CLI invocations — `--params 'seg=country&topn=20'` (every dashboard metric, sessions
at 30 min, the country breakdown) and `--params gap=10m` — each loading the file from scratch and
printing the whole report as JSON, so Pulse's figure counts two loads and is pessimistic. The
answers are compared (a benchmark that compares wrong answers is void); medians over RUNS (3).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import duckdb

DAY_MS = 86_400_000
NOTIFICATION = "notification_received"  # inactive by default (engine::sample::NOTIFICATION)

ACTIVE_DAYS = f"""
  SELECT DISTINCT user_id, CAST(epoch_ms("timestamp") // {DAY_MS} AS INTEGER) AS day
  FROM events WHERE action_type IS NOT NULL AND action_type <> '{NOTIFICATION}'"""

SQL = {
    "axis": f"""SELECT CAST(min(epoch_ms("timestamp")) // {DAY_MS} AS INTEGER) AS first,
                      CAST(max(epoch_ms("timestamp")) // {DAY_MS} AS INTEGER) AS last FROM events""",
    "dau": f"SELECT day, count(*) AS n FROM ({ACTIVE_DAYS}) GROUP BY day ORDER BY day",
    "rolling": lambda last: f"""
      SELECT d AS day, count(DISTINCT user_id) AS n
      FROM (SELECT user_id, unnest(generate_series(day, day + 29)) AS d FROM ({ACTIVE_DAYS}))
      WHERE d <= {last} GROUP BY d ORDER BY d""",
    "calendar_mau": f"""
      SELECT CAST(date_diff('day', DATE '1970-01-01',
                  date_trunc('month', DATE '1970-01-01' + day)) AS INTEGER) AS month,
             count(DISTINCT user_id) AS n
      FROM ({ACTIVE_DAYS}) GROUP BY month ORDER BY month""",
    "sessions": lambda gap_ms: f"""
      WITH t AS (
        SELECT user_id, epoch_ms("timestamp") AS ts,
               CASE WHEN epoch_ms("timestamp") - LAG(epoch_ms("timestamp"))
                           OVER (PARTITION BY user_id ORDER BY "timestamp") < {gap_ms}
                    THEN 0 ELSE 1 END AS starts
        FROM events),
      s AS (
        SELECT user_id, ts,
               SUM(starts) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid
        FROM t),
      sess AS (SELECT user_id, sid, max(ts) - min(ts) AS dur FROM s GROUP BY user_id, sid)
      SELECT count(*) AS count, CAST(sum(dur) AS BIGINT) AS sum_ms, min(dur) AS min_ms,
             max(dur) AS max_ms, quantile_cont(dur, 0.5) AS p50_ms, quantile_cont(dur, 0.9) AS p90_ms,
             quantile_cont(dur, 0.95) AS p95_ms, quantile_cont(dur, 0.99) AS p99_ms
      FROM sess""",
    # Metadata may repeat a user; like Pulse, the last row wins (rowid is the insertion order).
    "country_dau": f"""
      SELECT CASE WHEN m.user_id IS NULL THEN '(no metadata)' ELSE coalesce(m.country, '(none)') END
               AS country,
             a.day, count(*) AS n
      FROM ({ACTIVE_DAYS}) a
      LEFT JOIN (SELECT user_id, arg_max(country, rowid) AS country FROM metadata GROUP BY user_id) m
        USING (user_id)
      GROUP BY ALL ORDER BY country, a.day""",
}

SESSION_KEYS = ["count", "sum_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"]


def duck_run(events, metadata):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    steps = {}

    def timed(name, sql):
        t0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        steps[name] = time.perf_counter() - t0
        return rows

    timed("load", f"CREATE TABLE events AS SELECT * FROM read_parquet('{events}')")
    timed("load_metadata", f"CREATE TABLE metadata AS SELECT * FROM read_parquet('{metadata}')")
    [(first, last)] = timed("axis", SQL["axis"])

    def series(rows):
        out = [0] * (last - first + 1)
        for day, n in rows:
            out[day - first] = n
        return out

    dau = series(timed("dau", SQL["dau"]))
    mau = series(timed("rolling", SQL["rolling"](last)))
    months = [[max(m, first), n] for m, n in timed("calendar_mau", SQL["calendar_mau"])]
    sessions = []
    for gap in (30, 10):
        [row] = timed(f"sessions_{gap}m", SQL["sessions"](gap * 60_000))
        sessions.append(dict(zip(SESSION_KEYS, row)))
    per_country = {}
    for country, day, n in timed("country_dau", SQL["country_dau"]):
        per_country.setdefault(country, []).append((day, n))
    [(rows,)] = con.execute("SELECT count(*) FROM events").fetchall()
    summary = {
        "rows": rows,
        "first_day": first,
        "days": last - first + 1,
        "dau": dau,
        "mau": mau,
        "months": months,
        "sessions": sessions,
        "segments": {c: series(rs) for c, rs in per_country.items()},
    }
    return steps, summary


def iso_day(iso):
    y, m, d = (int(x) for x in iso.split("-"))
    import datetime

    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


def pulse_run(pulse, events, metadata, params):
    t0 = time.perf_counter()
    out = subprocess.run(
        [pulse, "metrics", "--events", events, "--metadata", metadata, "--params", params, "--json"],
        check=True,
        capture_output=True,
    ).stdout
    return time.perf_counter() - t0, json.loads(out)


def pulse_summary(report):
    s = report["sessions"]["duration"]["after"]
    out = {
        "first_day": iso_day(report["axis"]["first"]),
        "days": len(report["axis"]["dates"]),
        "dau": report["activity"]["dau"],
        "mau": report["activity"]["mau"],
        "months": [[iso_day(m["start"]), m["actives"]] for m in report["activity"]["months"]],
        "sessions": {"count": report["sessions"]["count"], **{k: s[k] for k in SESSION_KEYS[1:]}},
    }
    if report.get("segments"):
        out["segments"] = {g["label"]: g["dau"] for g in report["segments"]["segments"]}
    return out


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def check(defaults, gap, duck):
    problems = []

    def cmp(what, p, d):
        if not same(p, d):
            problems.append(f"{what}: Pulse {str(p)[:200]} vs DuckDB {str(d)[:200]}")

    cmp("rows", defaults["input"]["events"] if "input" in defaults else None, duck["rows"])
    d, g = pulse_summary(defaults), pulse_summary(gap)
    for k in ("first_day", "days", "dau", "mau", "months"):
        cmp(k, d[k], duck[k])
    cmp("sessions (30 min)", d["sessions"], duck["sessions"][0])
    cmp("sessions (10 min)", g["sessions"], duck["sessions"][1])
    cmp("DAU per country", d.get("segments"), duck["segments"])
    return problems


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    events, metadata = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    pulse = sys.argv[4] if len(sys.argv) > 4 else os.path.join(target, "release", "pulse")
    print(f"{events}: {os.path.getsize(events) / 1e6:.1f} MB; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; DuckDB {duckdb.__version__}")
    pulse_times, duck_times, problems = [], [], []
    for i in range(runs):
        t_def, r_def = pulse_run(pulse, events, metadata, "seg=country&topn=20")
        t_gap, r_gap = pulse_run(pulse, events, metadata, "gap=10m")
        steps, duck = duck_run(events, metadata)
        total = sum(steps.values())
        pulse_times.append((t_def, t_gap))
        duck_times.append((total, steps))
        problems += [f"run {i + 1}: {p}" for p in check(r_def, r_gap, duck)]
        print(f"run {i + 1}: Pulse {t_def:.2f} s + {t_gap:.2f} s = {t_def + t_gap:.2f} s; DuckDB {total:.2f} s ("
              + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()) + ")")
    med = statistics.median
    p = med(a + b for a, b in pulse_times)
    d = med(t for t, _ in duck_times)
    print(f"\n| native, {runs} runs, medians | Pulse CLI | DuckDB (2 threads) | DuckDB / Pulse |")
    print("|---|---|---|---|")
    print(f"| all dashboard metrics + country DAU, then sessions at 10 min | {p:.2f} s "
          f"({med(a for a, _ in pulse_times):.2f} + {med(b for _, b in pulse_times):.2f}, two loads) "
          f"| {d:.2f} s | {d / p:.1f}× |")
    if problems:
        print("\nANSWERS DIFFER — the comparison is void:")
        for pr in problems:
            print("  " + pr)
        sys.exit(1)
    print("answers agree (DAU, rolling 30-day, calendar MAU, sessions at 30/10 min with stats, DAU per country)")


if __name__ == "__main__":
    main()
