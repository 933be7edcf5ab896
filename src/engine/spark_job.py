

# ---------------------------------------------------------------------------------------------
# The job. Everything above this line was generated from the Pulse settings; below is fixed.
# Definitions: docs/METRICS.md (section "Spark export" maps each metric to the code here).
# ---------------------------------------------------------------------------------------------
import argparse
import json
import math
import sys
from fractions import Fraction
from functools import reduce

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

EVENT_COLUMNS = ["user_id", "timestamp", "action_type", "page_id", "duration_ms", "app_version"]
META_COLUMNS = ["user_id", "join_date", "country", "device_type", "subscription_type"]
STRING_TYPES = (T.StringType,)
INT_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)


class SchemaError(Exception):
    pass


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Pulse metrics on Spark (generated job)")
    ap.add_argument("--events", required=True, nargs="+", help="events Parquet path(s): file, folder or URI")
    ap.add_argument("--metadata", nargs="+", help="user metadata Parquet path(s)")
    ap.add_argument("--out", required=True, help="output folder (metrics.json, daily/ Parquet)")
    ap.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                    help="column mapping, e.g. --map user_id=uid --map timestamp=event_time")
    ap.add_argument("--join", choices=["auto", "broadcast", "salted"], default="auto",
                    help="metadata join strategy (auto: broadcast unless the skew report says otherwise)")
    ap.add_argument("--salt-threshold", type=float, default=SALT_THRESHOLD_SHARE,
                    help="salt user ids whose share of events exceeds this (measured on the loaded data)")
    ap.add_argument("--no-parquet", action="store_true", help="write metrics.json only")
    return ap.parse_args(argv)


def apply_mapping(df, mapping, canonical):
    for pair in mapping:
        if "=" not in pair:
            raise SchemaError(f"--map expects CANONICAL=SOURCE, got {pair!r}")
        canon, src = pair.split("=", 1)
        if canon in canonical and src in df.columns and canon != src:
            df = df.withColumnRenamed(src, canon)
    for canon, src in COLUMN_MAP.items():
        if canon in canonical and src in df.columns and canon not in df.columns:
            df = df.withColumnRenamed(src, canon)
    return df


def check_events_schema(df):
    """Fail with a clear message unless the canonical event columns exist with usable types."""
    problems = []
    types = {f.name: f.dataType for f in df.schema.fields}
    for c in ["user_id", "timestamp"]:
        if c not in types:
            problems.append(f"missing required column {c!r}")
    for c in ["action_type", "page_id", "app_version"]:
        if c not in types:
            df = df.withColumn(c, F.lit(None).cast("string"))
            types[c] = T.StringType()
    if "duration_ms" not in types:
        df = df.withColumn("duration_ms", F.lit(None).cast("long"))
        types["duration_ms"] = T.LongType()
    if "user_id" in types and not isinstance(types["user_id"], STRING_TYPES + INT_TYPES):
        problems.append(f"user_id must be a string or integer, found {types['user_id'].simpleString()}")
    ts = types.get("timestamp")
    if ts is not None and not isinstance(ts, (T.TimestampType, T.LongType)) and ts.simpleString() != "timestamp_ntz":
        problems.append(f"timestamp must be a timestamp or epoch milliseconds (bigint), found {ts.simpleString()}")
    for c in ["action_type", "page_id", "app_version"]:
        if not isinstance(types[c], STRING_TYPES + INT_TYPES):
            problems.append(f"{c} must be a string, found {types[c].simpleString()}")
    if not isinstance(types["duration_ms"], INT_TYPES + (T.DoubleType, T.FloatType, T.DecimalType)):
        problems.append(f"duration_ms must be numeric, found {types['duration_ms'].simpleString()}")
    if problems:
        raise SchemaError("events schema check failed:\n  - " + "\n  - ".join(problems)
                          + f"\n  found columns: {df.columns}\n  (use --map CANONICAL=SOURCE to rename)")
    ts_ms = F.col("timestamp") if isinstance(ts, T.LongType) else F.expr("unix_millis(CAST(`timestamp` AS TIMESTAMP))")
    return df.select(
        F.col("user_id").cast("string").alias("user_id"),
        ts_ms.cast("long").alias("ts_ms"),
        F.col("action_type").cast("string").alias("action"),
        F.col("page_id").cast("string").alias("page"),
        # The engine stores durations as 32-bit integers, clamped on load.
        # (CASE, not least/greatest: those skip nulls.)
        F.when(F.col("duration_ms").cast("long") > 2147483647, F.lit(2147483647).cast("long"))
         .when(F.col("duration_ms").cast("long") < -2147483647, F.lit(-2147483647).cast("long"))
         .otherwise(F.col("duration_ms").cast("long")).alias("duration_ms"),
        F.col("app_version").cast("string").alias("app_version"),
    )


def check_metadata_schema(df):
    types = {f.name: f.dataType for f in df.schema.fields}
    problems = []
    if "user_id" not in types:
        problems.append("missing required column 'user_id'")
    if "join_date" in types and not isinstance(types["join_date"], (T.DateType, T.TimestampType, T.StringType)):
        problems.append(f"join_date must be a date, found {types['join_date'].simpleString()}")
    if problems:
        raise SchemaError("metadata schema check failed:\n  - " + "\n  - ".join(problems)
                          + f"\n  found columns: {df.columns}")
    cols = [F.col("user_id").cast("string").alias("user_id")]
    for c in df.columns:
        if c != "user_id":
            cols.append(F.col(c).cast("date").alias(c) if c == "join_date" else F.col(c).cast("string").alias(c))
    return df.select(*cols)


# ---- exact quantile_cont (bit-for-bit the engine's: first product fused) -----------------------

def fma(a, b, c):
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def cont_ranks(n, q):
    pos = (n - 1) * q
    lo = math.floor(pos)
    hi = min(math.ceil(pos), n - 1)
    return lo, hi, pos - lo


def interpolate(lo, hi, frac):
    return float(lo) if frac == 0.0 else fma(float(lo), 1.0 - frac, float(hi) * frac)


def order_stats(df, col, ranks):
    """Values at the given 0-based ranks of `col` sorted ascending: a value histogram with a
    running count (the distinct values travel to one partition, not the rows)."""
    ranks = sorted(set(ranks))
    if not ranks:
        return {}
    h = df.groupBy(col).count()
    h = h.withColumn("cum", F.sum("count").over(Window.orderBy(col).rowsBetween(Window.unboundedPreceding, 0)))
    cond = reduce(lambda a, b: a | b,
                  [((F.col("cum") - F.col("count")) <= r) & (F.col("cum") > r) for r in ranks])
    rows = h.where(cond).select(col, "count", "cum").collect()
    out = {}
    for r in ranks:
        for row in rows:
            if row["cum"] - row["count"] <= r < row["cum"]:
                out[r] = int(row[col])
    return out


def quantiles(df, col, n, qs):
    if n == 0:
        return [None for _ in qs]
    ks = [cont_ranks(n, q) for q in qs]
    stats = order_stats(df, col, [k[0] for k in ks] + [k[1] for k in ks])
    return [interpolate(stats[lo], stats[hi], frac) for lo, hi, frac in ks]


def duration_stats(df, col):
    row = df.agg(F.count(col).alias("n"), F.sum(col).alias("s"), F.min(col).alias("lo"),
                 F.max(col).alias("hi")).collect()[0]
    n = int(row["n"])
    qs = quantiles(df.where(F.col(col).isNotNull()), col, n, [0.5, 0.9, 0.95, 0.99])
    return {
        "count": n,
        "sum_ms": int(row["s"] or 0),
        "mean_ms": (int(row["s"]) / n) if n else None,
        "min_ms": None if row["lo"] is None else int(row["lo"]),
        "max_ms": None if row["hi"] is None else int(row["hi"]),
        "p50_ms": qs[0], "p90_ms": qs[1], "p95_ms": qs[2], "p99_ms": qs[3],
    }


def outlier_threshold(df, col):
    vals = df.where(F.col(col).isNotNull()).select(F.col(col).alias("v"))
    n = vals.count()
    if n == 0:
        return None
    if OUTLIER_DETECTOR == "cap":
        return OUTLIER_CAP_MS
    if OUTLIER_DETECTOR == "percentile":
        q = min(max(OUTLIER_PERCENTILE / 100.0, 0.0), 1.0)
        return math.floor(quantiles(vals, "v", n, [q])[0])
    if OUTLIER_DETECTOR == "z_score":
        s = int(vals.agg(F.sum("v")).collect()[0][0])
        mean = s / n
        var = vals.agg(F.sum((F.col("v").cast("double") - F.lit(mean)) ** 2)).collect()[0][0] / n
        sd = math.sqrt(var)
        return math.floor(mean + OUTLIER_Z * sd) if sd > 0 else None
    # mad: median and the median of |2v − 2·median| / 2 (integers, as the engine).
    median = quantiles(vals, "v", n, [0.5])[0]
    twice = round(median * 2.0)
    dev = vals.select(F.abs(F.col("v") * 2 - F.lit(twice)).alias("d"))
    mad = quantiles(dev, "d", n, [0.5])[0] / 2.0
    return math.floor(median + OUTLIER_Z * 1.4826 * mad) if mad > 0 else None


def outlier_report(df, col, target):
    base = df.where(F.col(col).isNotNull()).select(F.col(col).alias("v"))
    t = outlier_threshold(base, "v")
    before = duration_stats(base, "v")
    if t is None:
        detected, after, outliers = 0, before, duration_stats(base.where(F.lit(False)), "v")
    else:
        detected = base.where(F.col("v") > t).count()
        outliers = duration_stats(base.where(F.col("v") > t), "v")
        if OUTLIER_POLICY == "filter":
            after = duration_stats(base.where(F.col("v") <= t), "v")
        elif OUTLIER_POLICY == "cap":
            after = duration_stats(base.select(F.least(F.col("v"), F.lit(t)).alias("v")), "v")
        else:
            after = before
    touched = detected if OUTLIER_POLICY in ("filter", "cap") else 0
    return {"target": target, "detector": OUTLIER_DETECTOR, "policy": OUTLIER_POLICY, "threshold_ms": t,
            "detected": detected, "touched": touched, "before": before, "after": after, "outliers": outliers}


def policy_expr(col, t):
    """The event-duration policy applied to one value (None = removed)."""
    c = F.col(col)
    if t is None or OUTLIER_POLICY in ("keep", "flag"):
        return c
    if OUTLIER_POLICY == "filter":
        return F.when(c <= t, c)
    return F.when(c > t, F.lit(t)).otherwise(c)  # least() would turn a null into t


# ---- calendar -----------------------------------------------------------------------------------

def _iso(day):
    import datetime
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))).isoformat()


def period_of_py(day, gran):
    import datetime
    if gran == "day":
        return day
    if gran == "week":
        return (day + 3 - WEEK_START) // 7
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))
    return d.year * 12 + d.month - 1


def period_col(name, gran):
    """Period number of a day-number column: days, weeks from WEEK_START (day 0 = Thursday),
    or months as year·12 + month − 1."""
    if gran == "day":
        return F.col(name).cast("long")
    if gran == "week":
        return F.expr(f"CAST(floor(({name} + {3 - WEEK_START}) / 7) AS BIGINT)")
    d = f"date_add(DATE'1970-01-01', CAST({name} AS INT))"
    return F.expr(f"CAST(year({d}) * 12 + month({d}) - 1 AS BIGINT)")


def period_start_py(p, gran):
    import datetime
    if gran == "day":
        return p
    if gran == "week":
        return p * 7 - 3 + WEEK_START
    return (datetime.date(p // 12, p % 12 + 1, 1) - datetime.date(1970, 1, 1)).days


def period_end_py(p, gran):
    return period_start_py(p + 1, gran) - 1


# ---- the metrics --------------------------------------------------------------------------------

def series(rows, first, ndays):
    out = [0] * ndays
    for d, n in rows:
        if first <= d < first + ndays:
            out[d - first] = int(n)
    return out


def ratio(a, b):
    return [None if y == 0 else x / y for x, y in zip(a, b)]


def run(spark, args):
    for k, v in SQL_CONF.items():
        spark.conf.set(k, v)
    # Days are computed explicitly with from_utc_timestamp(ts, TIME_ZONE); the session zone is UTC
    # so no other conversion happens on the way.
    spark.conf.set("spark.sql.session.timeZone", "UTC")

    raw = spark.read.parquet(*args.events)
    raw = apply_mapping(raw, args.map, EVENT_COLUMNS)
    ev = check_events_schema(raw)
    # seq: the row's position (file order within a partition): breaks timestamp ties the engine's
    # way (store order: user, time, then file order).
    ev = ev.withColumn("seq", F.monotonically_increasing_id())

    # Data quality, as one aggregate pass.
    dup_w = Window.partitionBy("user_id", "ts_ms", "action", "page", "duration_ms", "app_version").orderBy("seq")
    ev = ev.withColumn("dup", F.row_number().over(dup_w) > 1)
    ev = ev.withColumn("day", F.datediff(F.to_date(F.from_utc_timestamp(
        F.expr("timestamp_millis(ts_ms)"), TIME_ZONE)), F.lit("1970-01-01").cast("date")))
    ev = ev.where(F.col("user_id").isNotNull() & F.col("ts_ms").isNotNull())
    ev.cache()
    dq = ev.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("user_id").alias("users"),
        F.sum(F.col("dup").cast("long")).alias("duplicates"),
        F.sum(F.col("action").isNull().cast("long")).alias("null_action"),
        F.sum(F.col("duration_ms").isNull().cast("long")).alias("null_duration"),
        F.sum((F.col("duration_ms") < 0).cast("long")).alias("negative_duration"),
        F.min("day").alias("first_day"), F.max("day").alias("last_day"),
    ).collect()[0].asDict()
    dropped_nulls = raw.where(F.col("user_id").isNull() | F.col("timestamp").isNull()).count()
    dq["null_user_or_timestamp_rows_dropped"] = dropped_nulls

    first = dq["first_day"] if FROM_DAY is None else FROM_DAY
    last = dq["last_day"] if TO_DAY is None else TO_DAY
    if first is None or last is None or first > last:
        ndays = 0
        first = last = 0 if first is None else first
    else:
        ndays = last - first + 1

    # Metadata: last row wins per user; broadcast (small) or salted join.
    meta = None
    if args.metadata:
        m = apply_mapping(spark.read.parquet(*args.metadata), args.map, META_COLUMNS)
        m = check_metadata_schema(m).withColumn("mrow", F.monotonically_increasing_id())
        meta_rows = m.count()
        meta = (m.withColumn("rk", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("mrow"))))
                 .where("rk = 1").drop("rk", "mrow").withColumn("__has_meta", F.lit(True)))
        meta.cache()
        meta_users = meta.count()

    # Considered events: duplicate policy, date range, segment filter.
    e0 = ev
    if DROP_DUPLICATES:
        e0 = e0.where(~F.col("dup"))
    dups_dropped = ev.where(F.col("dup")).count() if DROP_DUPLICATES else 0
    before_range = e0.count()
    e0 = e0.where((F.col("day") >= first) & (F.col("day") <= last))
    outside = before_range - e0.count()

    # Heavy users, measured on the loaded data: share of events above the threshold.
    total_events = e0.count()
    per_user = e0.groupBy("user_id").count()
    heavy = per_user.where(F.col("count") > F.lit(args.salt_threshold * max(total_events, 1)))
    hot = sorted({r["user_id"] for r in heavy.select("user_id").collect()} | set(SALT_KEYS))
    strategy = args.join if args.join != "auto" else ("broadcast" if BROADCAST else "salted")

    def join_meta(df):
        """Events (user_id, seq, …) with the metadata columns attached (left join)."""
        if meta is None:
            return df
        if strategy == "broadcast":
            return df.join(F.broadcast(meta), "user_id", "left")
        # Salting: hot keys are spread over SALT_COUNT pieces on the event side and the metadata
        # rows of those keys are replicated once per piece.
        n = max(SALT_COUNT, 2)
        hot_col = F.col("user_id").isin(hot) if hot else F.lit(False)
        left = df.withColumn("salt", F.when(hot_col, F.pmod(F.col("seq"), F.lit(n))).otherwise(F.lit(0)))
        right = (meta.withColumn("salts", F.when(hot_col, F.sequence(F.lit(0), F.lit(n - 1)))
                                 .otherwise(F.array(F.lit(0))))
                     .withColumn("salt", F.explode("salts")).drop("salts"))
        return left.join(right, ["user_id", "salt"], "left").drop("salt")

    # Segment filter (segv).
    removed_by_segment = 0
    if SEGMENT is not None and SEGMENT_VALUES:
        kind, col = SEGMENT
        before = e0.count()
        if kind in ("app_version", "action_type"):
            src = "app_version" if kind == "app_version" else "action"
            e0 = e0.where(F.coalesce(F.col(src), F.lit("(none)")).isin(SEGMENT_VALUES))
        elif meta is not None:
            lab = join_meta(e0.select("user_id", "seq"))
            lab = lab.select("seq", segment_label(lab, kind, col).alias("label"))
            e0 = e0.join(lab.where(F.col("label").isin(SEGMENT_VALUES)).select("seq"), "seq", "left_semi")
        removed_by_segment = before - e0.count()

    # Flags, then LAG + cumulative-sum sessionisation.
    qual = F.col("action").isNotNull() & ~F.col("action").isin(INACTIVE_ACTIONS)
    if ACTIONS is not None:
        qual = qual & F.col("action").isin(ACTIONS)
    core = F.col("action").isNotNull() & ~F.col("action").isin(INACTIVE_ACTIONS) & F.col("action").isin(CORE_ACTIONS)
    w = Window.partitionBy("user_id").orderBy("ts_ms", "seq")
    e1 = (e0.withColumn("qual", qual).withColumn("is_core", core)
            .withColumn("prev_ts", F.lag("ts_ms").over(w)).withColumn("prev_day", F.lag("day").over(w)))
    new = F.col("prev_ts").isNull() | ((F.col("ts_ms") - F.col("prev_ts")) >= F.lit(GAP_MS))
    if SPLIT_AT_MIDNIGHT:
        new = new | (F.col("day") != F.col("prev_day"))
    e1 = e1.withColumn("sid0", F.sum(new.cast("long")).over(w.rowsBetween(Window.unboundedPreceding, 0)))
    if MAX_SESSION_MS is not None:
        # Greedy max-length split: within a gap session, an event more than MAX_SESSION_MS after
        # the current piece's start opens a new piece (the engine's rule), via aggregate().
        spans = e1.groupBy("user_id", "sid0").agg((F.max("ts_ms") - F.min("ts_ms")).alias("span"))
        long_ = spans.where(F.col("span") > MAX_SESSION_MS).select("user_id", "sid0")
        if long_.limit(1).count() > 0:
            items = (e1.join(long_, ["user_id", "sid0"], "left_semi")
                       .groupBy("user_id", "sid0")
                       .agg(F.array_sort(F.collect_list(F.struct("ts_ms", "seq"))).alias("xs")))
            split = items.selectExpr(f"""inline(aggregate(xs,
                named_struct('st', CAST(-1 AS BIGINT), 'k', 0,
                             'out', filter(array(named_struct('seq', CAST(0 AS BIGINT), 'sub', 0)), z -> false)),
                (acc, x) -> CASE WHEN acc.st < 0 OR x.ts_ms - acc.st > {MAX_SESSION_MS}
                  THEN named_struct('st', x.ts_ms, 'k', acc.k + 1,
                                    'out', concat(acc.out, array(named_struct('seq', x.seq, 'sub', acc.k + 1))))
                  ELSE named_struct('st', acc.st, 'k', acc.k,
                                    'out', concat(acc.out, array(named_struct('seq', x.seq, 'sub', acc.k)))) END,
                acc -> acc.out))""")
            e1 = e1.join(split, "seq", "left").withColumn("sub", F.coalesce("sub", F.lit(1)))
        else:
            e1 = e1.withColumn("sub", F.lit(1))
    else:
        e1 = e1.withColumn("sub", F.lit(1))
    e2 = e1.withColumn("sid", F.col("sid0") * F.lit(1 << 24) + F.col("sub")).drop("sid0", "sub", "prev_ts", "prev_day")
    e2.cache()
    e2.createOrReplaceTempView("e2")
    sess = spark.sql("""
        SELECT user_id, sid, min(ts_ms) AS st, max(ts_ms) - min(ts_ms) AS dur, count(*) AS n,
               min(day) AS start_day, bool_or(qual) AS has_qual
        FROM e2 GROUP BY user_id, sid""")
    sess.cache()
    sess.createOrReplaceTempView("sess")

    # Activity units c(u, x) per definition; active(u, d) ⟺ Σ c over [d − W + 1, d] ≥ C.
    if DEFINITION == "minimal":
        units = "SELECT user_id, day, count(*) AS c FROM e2 WHERE qual GROUP BY 1, 2"
    elif DEFINITION == "core":
        if CORE_STRICT:
            units = """SELECT user_id, day, count(*) AS c FROM (
                SELECT *, LEAD(action) OVER w AS na, LEAD(page) OVER w AS np, LEAD(sid) OVER w AS ns
                FROM e2 WINDOW w AS (PARTITION BY user_id ORDER BY ts_ms, seq))
              WHERE is_core AND na = 'page_view' AND page IS NOT NULL AND np = page AND ns = sid
              GROUP BY 1, 2"""
        else:
            units = "SELECT user_id, day, count(*) AS c FROM e2 WHERE is_core GROUP BY 1, 2"
    elif DEFINITION == "session":
        units = f"""SELECT user_id, start_day AS day, count(*) AS c FROM sess
                    WHERE has_qual AND dur > {MIN_SESSION_MS} GROUP BY 1, 2"""
    else:
        cond = "TRUE" if MIN_SESSION_MS == 0 else f"s.dur > {MIN_SESSION_MS}"
        units = f"""SELECT e.user_id, e.day, count(*) AS c FROM e2 e JOIN sess s
                    ON e.user_id = s.user_id AND e.sid = s.sid
                    WHERE e.qual AND {cond} GROUP BY 1, 2"""
    spark.sql(units).createOrReplaceTempView("units")
    act = spark.sql(f"""
        SELECT user_id, d FROM (
          SELECT user_id, explode(sequence(day, day + {WINDOW_DAYS} - 1)) AS d, c FROM units)
        WHERE d <= {last}
        GROUP BY user_id, d HAVING sum(c) >= {MIN_UNITS}""")
    act.cache()
    act.createOrReplaceTempView("act")

    def trailing(table, ext, extra=""):
        return spark.sql(f"""
            SELECT {extra} d2, count(DISTINCT user_id) AS n FROM (
              SELECT *, explode(sequence(d, d + {ext})) AS d2 FROM {table})
            WHERE d2 <= {last} GROUP BY {extra} d2""")

    def rows(df):
        return [(int(r[0]), int(r[1])) for r in df.collect()]

    dau = series(rows(spark.sql("SELECT d, count(*) FROM act GROUP BY d")), first, ndays)
    wau = series(rows(trailing("act", 6)), first, ndays)
    mau = series(rows(trailing("act", MAU_DAYS - 1)), first, ndays)

    def calendar(gran):
        counts = dict(rows(act.select(period_col("d", gran).alias("p"), "user_id")
                              .groupBy("p").agg(F.countDistinct("user_id"))))
        out = []
        if ndays == 0:
            return out
        for p in range(period_of_py(first, gran), period_of_py(last, gran) + 1):
            s, e = period_start_py(p, gran), period_end_py(p, gran)
            out.append({"start": _iso(max(s, first)), "end": _iso(min(e, last)),
                        "partial": s < first or e > last, "actives": counts.get(p, 0)})
        return out

    def stickiness(days):
        lo = last - days + 1
        per = act.where((F.col("d") >= lo) & (F.col("d") <= last)).groupBy("user_id").agg(F.count("*").alias("k"))
        hist = dict(rows(per.groupBy("k").count()))
        counts = [hist.get(n, 0) for n in range(1, days + 1)]
        cumulative = [sum(counts[i:]) for i in range(days)]
        return {"as_of": _iso(last), "counts": counts, "cumulative": cumulative}

    ever_active = act.select("user_id").distinct().count()
    activity = {
        "dau": dau, "wau": wau, "mau": mau,
        "dau_mau": ratio(dau, mau), "dau_wau": ratio(dau, wau), "wau_mau": ratio(wau, mau),
        "weeks": calendar("week"), "months": calendar("month"),
        "l7": stickiness(7) if ndays else None, "l30": stickiness(30) if ndays else None,
        "ever_active": ever_active,
    }

    # Sessions and durations under the outlier policy.
    sessions_per_day = series(rows(spark.sql("SELECT start_day, count(*) FROM sess GROUP BY 1")), first, ndays)
    sessions = {
        "count": sess.count(),
        "per_day": sessions_per_day,
        "duration": outlier_report(sess, "dur", "session_duration_ms"),
    }
    event_durations = outlier_report(e2, "duration_ms", "event_duration_ms")
    t_ev = event_durations["threshold_ms"]
    active = e2.select("user_id", "sid", policy_expr("duration_ms", t_ev).alias("a")) \
               .groupBy("user_id", "sid").agg(F.coalesce(F.sum("a"), F.lit(0)).alias("active_ms"))
    sessions["active_time"] = duration_stats(active, "active_ms")
    events_per_day = series(rows(spark.sql("SELECT day, count(*) FROM e2 GROUP BY 1")), first, ndays)

    # Join report and per-segment DAU/WAU/MAU (per-user metadata columns).
    join = None
    segments = None
    if meta is not None:
        store_users = ev.select("user_id").distinct()
        with_meta = store_users.join(meta.select("user_id"), "user_id", "left_semi").count()
        store_user_count = store_users.count()
        events_with = ev.join(meta.select("user_id"), "user_id", "left_semi").count()
        join = {
            "strategy": strategy,
            "metadata_rows": meta_rows,
            "metadata_users": meta_users,
            "duplicate_metadata_rows": meta_rows - meta_users,
            "duplicate_rule": "last row wins",
            "users_without_metadata": store_user_count - with_meta,
            "events_without_metadata": dq["rows"] - events_with,
            "metadata_users_without_events": meta_users - with_meta,
            "salted_keys": hot if strategy == "salted" else [],
        }
    if SEGMENT is not None and SEGMENT[0] in ("metadata", "join_month") and meta is not None:
        kind, col = SEGMENT
        labelled = join_meta(ev.select("user_id", "seq"))
        user_label = labelled.select("user_id", segment_label(labelled, kind, col).alias("label")).distinct()
        ranked = [r["label"] for r in user_label.groupBy("label").count()
                  .orderBy(F.desc("count"), F.asc("label")).collect()]
        keep = ranked[:TOP_SEGMENTS]
        folded = user_label.withColumn("label", F.when(F.col("label").isin(keep), F.col("label"))
                                       .otherwise(F.lit("other")))
        folded.cache()
        folded.createOrReplaceTempView("ulabel")
        spark.sql("SELECT a.* , l.label FROM act a JOIN ulabel l USING (user_id)").createOrReplaceTempView("act_l")
        labels = keep + (["other"] if len(ranked) > len(keep) else [])

        def per_label(df):
            out = {}
            for r in df.collect():
                out.setdefault(r[0], []).append((int(r[1]), int(r[2])))
            return out

        s_dau = per_label(spark.sql("SELECT label, d, count(*) FROM act_l GROUP BY 1, 2"))
        s_wau = per_label(trailing("act_l", 6, "label,"))
        s_mau = per_label(trailing("act_l", MAU_DAYS - 1, "label,"))
        s_users = dict(rows_kv(spark.sql("SELECT l.label, count(DISTINCT e.user_id) FROM e2 e JOIN ulabel l USING (user_id) GROUP BY 1")))
        s_events = dict(rows_kv(spark.sql("SELECT l.label, count(*) FROM e2 e JOIN ulabel l USING (user_id) GROUP BY 1")))
        segments = {"column": SEGMENT_KEY, "per_user": True, "segments": [
            {"label": lab, "users": s_users.get(lab, 0), "events": s_events.get(lab, 0),
             "dau": series(s_dau.get(lab, []), first, ndays),
             "wau": series(s_wau.get(lab, []), first, ndays),
             "mau": series(s_mau.get(lab, []), first, ndays)} for lab in labels]}

    retention = retention_cohorts(spark, act, first, last, ndays)

    report = {
        "schema_version": 1,
        "generator": "pulse export-spark",
        "query": QUERY,
        "axis": {"time_zone": TIME_ZONE, "first": _iso(first) if ndays else None,
                 "last": _iso(last) if ndays else None,
                 "dates": [_iso(first + i) for i in range(ndays)]},
        "input": {"store_events": dq["rows"], "store_users": dq["users"], "events": e2.count(),
                  "users": e2.select("user_id").distinct().count(), "duplicates_dropped": dups_dropped,
                  "outside_date_range": outside, "removed_by_segment_filter": removed_by_segment,
                  "null_durations": e2.where(F.col("duration_ms").isNull()).count()},
        "data_quality": dq,
        "events_per_day": events_per_day,
        "sessions": sessions,
        "activity": activity,
        "event_durations": event_durations,
        "join": join,
        "segments": segments,
        "retention": retention,
        "skew": {"salt_threshold_share": args.salt_threshold, "heavy_users_measured": hot,
                 "salt_count": SALT_COUNT},
    }
    write_outputs(spark, args, report)
    for df in (ev, e2, sess, act):
        df.unpersist()
    if meta is not None:
        meta.unpersist()
    return report


def rows_kv(df):
    return [(r[0], int(r[1])) for r in df.collect()]


def segment_label(df, kind, col):
    """Per-user segment label: (no metadata) without a metadata row, (none) for a null value."""
    if kind == "join_month":
        value = F.date_format(F.col("join_date"), "yyyy-MM")
    else:
        if col not in df.columns:
            raise SchemaError(f"segment column {col!r} is not in the metadata (columns: {df.columns})")
        value = F.col(col)
    return F.when(F.col("__has_meta").isNull(), F.lit("(no metadata)")).otherwise(F.coalesce(value.cast("string"), F.lit("(none)")))


def retention_cohorts(spark, act, first, last, ndays):
    """Cohort = first active period; retained[n] recurring, cumulative[n] unbounded."""
    if ndays == 0:
        return None
    if COHORT_BY != "first_seen" or RETENTION_START or RETENTION_RETURN:
        return {"exported": False, "reason": "cohort=join / rstart / rreturn are not exported yet"}
    g = RETENTION_GRANULARITY
    p_first, p_last = period_of_py(first, g), period_of_py(last, g)
    c_min = max(p_first, p_last + 1 - RETENTION_SPAN)
    up = act.select("user_id", period_col("d", g).alias("p")).distinct()
    uf = up.groupBy("user_id").agg(F.min("p").alias("f"), F.max("p").alias("l"))
    up.cache()
    uf.cache()
    sizes = {int(r[0]): int(r[1]) for r in uf.where(F.col("f") >= c_min).groupBy("f").count().collect()}
    without = uf.where(F.col("f") < c_min).count()
    ret = up.join(uf, "user_id").where(F.col("f") >= c_min) \
            .groupBy("f", (F.col("p") - F.col("f")).alias("n")).count().collect()
    cum = uf.where(F.col("f") >= c_min) \
            .select("f", F.explode(F.sequence(F.lit(0), (F.col("l") - F.col("f")).cast("int"))).alias("n")) \
            .groupBy("f", "n").count().collect()
    cohorts = []
    for c in range(c_min, p_last + 1):
        length = p_last - c + 1
        retained, cumulative = [0] * length, [0] * length
        for r in ret:
            if r["f"] == c:
                retained[int(r["n"])] = int(r["count"])
        for r in cum:
            if r["f"] == c:
                cumulative[int(r["n"])] = int(r["count"])
        size = sizes.get(c, 0)
        cohorts.append({"start": _iso(max(period_start_py(c, g), first)), "size": size,
                        "retained": retained, "cumulative": cumulative,
                        "rate": [x / size if size else 0.0 for x in retained],
                        "cumulative_rate": [x / size if size else 0.0 for x in cumulative]})

    def average(key):
        out = []
        for n in range(p_last - c_min + 1):
            reached = [c for c in cohorts if len(c[key]) > n]
            tot = sum(c["size"] for c in reached)
            out.append(None if tot == 0 else sum(c[key][n] for c in reached) / tot)
        return out

    up.unpersist()
    uf.unpersist()
    return {"granularity": g, "cohort_by": "first_seen",
            "last_period_partial": period_end_py(p_last, g) > last,
            "cohorts": cohorts, "average": average("retained"),
            "average_cumulative": average("cumulative"), "users_without_cohort": without}


def write_outputs(spark, args, report):
    out = args.out.rstrip("/")
    text = json.dumps(report, indent=1, sort_keys=False)
    if "://" in out:
        # Cloud URI: write through Spark (one JSON text file).
        spark.sparkContext.parallelize([text], 1).saveAsTextFile(out + "/metrics.json")
    else:
        import os
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "metrics.json"), "w") as f:
            f.write(text)
    if not args.no_parquet:
        a = report["activity"]
        rows_ = [(d, report["events_per_day"][i], report["sessions"]["per_day"][i], a["dau"][i], a["wau"][i], a["mau"][i])
                 for i, d in enumerate(report["axis"]["dates"])]
        schema = "date string, events long, sessions long, dau long, wau long, mau long"
        spark.createDataFrame(rows_, schema).coalesce(1).write.mode("overwrite").parquet(out + "/daily")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    builder = SparkSession.builder.appName("pulse-metrics")
    for k, v in SQL_CONF.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    try:
        return run(spark, args)
    except SchemaError as e:
        print(f"pulse job: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
