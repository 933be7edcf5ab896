#!/usr/bin/env python3
"""Independent oracle for Pulse's metrics engine, in DuckDB SQL.

usage: metrics_oracle.py DIR CASES_JSON

DIR holds events.csv (seq,user_id,ts_ms,action,page,duration_ms,app_version,dup — seq is the row's
position in the engine's sorted store, used only to break timestamp ties the same way; dup = 1
marks an exact repeat of an earlier row, skipped under dups=drop) and
metadata.csv (row,user_id,join_day,country,device_type,subscription_type). CASES_JSON is a file
with a JSON list of engine `Params` objects (serde form). Prints a JSON list of results, one per
case. Definitions follow docs/METRICS.md; everything is written from those definitions in SQL
(LAG + running-sum sessionisation, generate_series windows, AT TIME ZONE days), sharing no code
with the engine.
"""

import json
import sys

import duckdb


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def one_case(con, p):
    tz = p["time_zone"]
    gap_ms = p["session_gap_mins"] * 60_000
    maxlen = p["max_session_mins"]
    midnight = bool(p["split_at_midnight"])
    con.execute("DROP TABLE IF EXISTS inactive; CREATE TABLE inactive(a VARCHAR)")
    for a in p["inactive_actions"]:
        con.execute("INSERT INTO inactive VALUES (?)", [a])
    con.execute("DROP TABLE IF EXISTS acts; CREATE TABLE acts(a VARCHAR)")
    for a in p["actions"] or []:
        con.execute("INSERT INTO acts VALUES (?)", [a])
    all_actions = p["actions"] is None
    con.execute("DROP TABLE IF EXISTS core; CREATE TABLE core(a VARCHAR)")
    for a in p["core_actions"]:
        con.execute("INSERT INTO core VALUES (?)", [a])

    # Local calendar day of every event.
    con.execute(
        """
        CREATE OR REPLACE TABLE e0 AS
        SELECT *, date_diff('day', DATE '1970-01-01',
                  CAST(timezone(?, timezone('UTC', epoch_ms(ts_ms))) AS DATE)) AS day
        FROM ev
        WHERE NOT (? AND dup = 1)
        """,
        [tz, p["duplicates"] == "drop"],
    )
    lo, hi = q(con, "SELECT min(day), max(day) FROM e0")[0]
    first = lo if p["from"] is None else q(con, "SELECT date_diff('day', DATE '1970-01-01', CAST(? AS DATE))", [p["from"]])[0][0]
    last = hi if p["to"] is None else q(con, "SELECT date_diff('day', DATE '1970-01-01', CAST(? AS DATE))", [p["to"]])[0][0]
    ndays = last - first + 1

    # Considered events, qualifying flags and sessions.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE e1 AS
        SELECT *,
          (action IS NOT NULL AND action NOT IN (SELECT a FROM inactive)
             AND ({'TRUE' if all_actions else 'action IN (SELECT a FROM acts)'})) AS qual,
          (action IS NOT NULL AND action NOT IN (SELECT a FROM inactive)
             AND action IN (SELECT a FROM core)) AS is_core,
          LAG(ts_ms) OVER w AS prev_ts,
          LAG(day) OVER w AS prev_day
        FROM e0
        WHERE day BETWEEN {first} AND {last}
        WINDOW w AS (PARTITION BY user_id ORDER BY ts_ms, seq)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE e2 AS
        SELECT *,
          SUM(CASE WHEN prev_ts IS NULL OR ts_ms - prev_ts >= {gap_ms}
                        OR ({'TRUE' if midnight else 'FALSE'} AND day <> prev_day)
                   THEN 1 ELSE 0 END)
            OVER (PARTITION BY user_id ORDER BY ts_ms, seq ROWS UNBOUNDED PRECEDING) AS sid
        FROM e1
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE sess AS
        SELECT user_id, sid, min(ts_ms) AS st, max(ts_ms) - min(ts_ms) AS dur, count(*) AS n,
               min(day) AS start_day, bool_or(qual) AS has_qual
        FROM e2 GROUP BY user_id, sid
        """
    )
    if maxlen is not None:
        # Max length: inside each gap/midnight session, a new session starts at the first event
        # more than L after the current session's start (greedy). The starts are found by a
        # recursive query (one step per split), then each event's session is
        # (gap session, number of starts at or before it).
        L = maxlen * 60_000
        con.execute(
            f"""
            CREATE OR REPLACE TABLE mstarts AS
            WITH RECURSIVE st(user_id, sid, s) AS (
              SELECT user_id, sid, min(ts_ms) FROM e2 GROUP BY user_id, sid
              UNION ALL
              SELECT e.user_id, e.sid, min(e.ts_ms)
              FROM st JOIN e2 e ON e.user_id = st.user_id AND e.sid = st.sid AND e.ts_ms > st.s + {L}
              GROUP BY e.user_id, e.sid
            )
            SELECT DISTINCT user_id, sid, s FROM st
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE e2 AS
            SELECT e.* REPLACE (e.sid * 1000000 + (
                     SELECT count(*) FROM mstarts m
                     WHERE m.user_id = e.user_id AND m.sid = e.sid AND m.s <= e.ts_ms) AS sid)
            FROM e2 e
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE sess AS
            SELECT user_id, sid, min(ts_ms) AS st, max(ts_ms) - min(ts_ms) AS dur, count(*) AS n,
                   min(day) AS start_day, bool_or(qual) AS has_qual
            FROM e2 GROUP BY user_id, sid
            """
        )
        res_split = q(con, f"SELECT count(*) FROM sess WHERE dur > {L}")[0][0]
        if res_split:
            raise SystemExit("oracle: a session still exceeds maxlen")

    # Activity units per (user, day).
    d = p["definition"]
    m_ms = p["min_session_mins"] * 60_000
    if d == "minimal":
        W, C = 1, 1
        units = "SELECT user_id, day, count(*) AS c FROM e2 WHERE qual GROUP BY 1, 2"
    elif d == "core":
        W, C = 7, p["core_min_events"]
        if p["core_strict"]:
            units = """
              SELECT user_id, day, count(*) AS c FROM (
                SELECT *, LEAD(action) OVER w AS na, LEAD(page) OVER w AS np, LEAD(sid) OVER w AS ns
                FROM e2 WINDOW w AS (PARTITION BY user_id ORDER BY ts_ms, seq))
              WHERE is_core AND na = 'page_view' AND page IS NOT NULL AND np = page AND ns = sid
              GROUP BY 1, 2"""
        else:
            units = "SELECT user_id, day, count(*) AS c FROM e2 WHERE is_core GROUP BY 1, 2"
    elif d == "session":
        W, C = 30, 1
        units = f"SELECT user_id, start_day AS day, count(*) AS c FROM sess WHERE has_qual AND dur > {m_ms} GROUP BY 1, 2"
    else:
        W, C = p["custom_window_days"], p["custom_min_events"]
        cond = "TRUE" if p["min_session_mins"] == 0 else f"s.dur > {m_ms}"
        units = f"""SELECT e.user_id, e.day, count(*) AS c FROM e2 e JOIN sess s USING (user_id, sid)
                    WHERE e.qual AND {cond} GROUP BY 1, 2"""
    con.execute(f"CREATE OR REPLACE TABLE units AS {units}")
    # Active on d ⟺ sum of units over [d − W + 1, d] ≥ C.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE act AS
        SELECT user_id, d FROM (
          SELECT user_id, unnest(generate_series(day, day + {W} - 1)) AS d, c FROM units)
        WHERE d <= {last}
        GROUP BY user_id, d HAVING sum(c) >= {C}
        """
    )

    def series(sql, params=None):
        out = [0] * ndays
        for day, n in q(con, sql, params):
            if first <= day <= last:
                out[day - first] = n
        return out

    def trailing(table, ext, group=""):
        return f"""
          SELECT {group} d2, count(DISTINCT user_id) FROM (
            SELECT *, unnest(generate_series(d, d + {ext})) AS d2 FROM {table})
          WHERE d2 <= {last} GROUP BY ALL"""

    res = {"first_day": first, "days": ndays}
    res["dau"] = series("SELECT d, count(*) FROM act GROUP BY d")
    res["wau"] = series(trailing("act", 6))
    res["mau"] = series(trailing("act", p["mau_window_days"] - 1))
    res["months"] = [
        [int(a), int(b)]
        for a, b in q(
            con,
            """SELECT date_diff('day', DATE '1970-01-01', date_trunc('month', DATE '1970-01-01' + CAST(d AS INTEGER))) m,
                      count(DISTINCT user_id) FROM act GROUP BY m ORDER BY m""",
        )
    ]
    ws = p["week_start"]
    res["weeks"] = [
        [int(a), int(b)]
        for a, b in q(con, f"SELECT (d + 3 - {ws} + 7000000) // 7 AS w, count(DISTINCT user_id) FROM act GROUP BY w ORDER BY w")
    ]
    res["ever_active"] = q(con, "SELECT count(DISTINCT user_id) FROM act")[0][0]
    res["events_per_day"] = series("SELECT day, count(*) FROM e2 GROUP BY day")
    res["sessions_per_day"] = series("SELECT start_day, count(*) FROM sess GROUP BY start_day")

    # Session durations under the outlier policy.
    det = p["outlier_detector"]
    pol = p["outlier_policy"]

    def threshold(col, table):
        if det == "cap":
            return p["outlier_cap_mins"] * 60_000
        if det == "percentile":
            v = q(con, f"SELECT floor(quantile_cont({col}, ?)) FROM {table}", [p["outlier_percentile"] / 100.0])[0][0]
            return None if v is None else int(v)
        z = float(p["outlier_z"])
        if det == "z_score":
            # ⌊mean + z·σ⌋, σ the population standard deviation; none when σ = 0.
            v = q(con, f"""SELECT CASE WHEN stddev_pop({col}) > 0
                                     THEN floor(avg({col}) + CAST(? AS DOUBLE) * stddev_pop({col})) END
                           FROM {table}""", [z])[0][0]
            return None if v is None else int(v)
        if det == "mad":
            # ⌊median + z·1.4826·MAD⌋, MAD = median |v − median|; none when MAD = 0.
            v = q(con, f"""WITH m AS (SELECT quantile_cont({col}, 0.5) AS med FROM {table}),
                                d AS (SELECT quantile_cont(abs({col} - m.med), 0.5) AS mad FROM {table}, m)
                           SELECT CASE WHEN d.mad > 0
                                       THEN floor(m.med + CAST(? AS DOUBLE) * CAST(1.4826 AS DOUBLE) * d.mad) END
                           FROM m, d""", [z])[0][0]
            return None if v is None else int(v)
        raise SystemExit(f"oracle: unknown detector {det}")

    def stats(col, table):
        t = threshold(col, table)
        expr, where = col, "TRUE"
        if t is not None and pol == "filter":
            where = f"{col} <= {t}"
        if t is not None and pol == "cap":
            expr = f"least({col}, {t})"
        row = q(
            con,
            f"""SELECT count(*), sum({expr}), min({expr}), max({expr}),
                       quantile_cont({expr}, 0.5), quantile_cont({expr}, 0.9),
                       quantile_cont({expr}, 0.95), quantile_cont({expr}, 0.99)
                FROM {table} WHERE {where} AND {col} IS NOT NULL""",
        )[0]
        keys = ["count", "sum_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"]
        out = {k: (None if v is None else (int(v) if i < 4 else float(v))) for i, (k, v) in enumerate(zip(keys, row))}
        out["threshold_ms"] = t
        out["detected"] = 0 if t is None else q(con, f"SELECT count(*) FROM {table} WHERE {col} > {t}")[0][0]
        # Values the policy changed (cap) or removed (filter).
        if t is None or pol not in ("filter", "cap"):
            out["touched"] = 0
        elif pol == "cap":
            out["touched"] = q(con, f"SELECT count(*) FROM {table} WHERE least({col}, {t}) <> {col}")[0][0]
        else:
            out["touched"] = q(con, f"SELECT count(*) FROM {table} WHERE {col} IS NOT NULL AND NOT ({col} <= {t})")[0][0]
        return out

    res["sessions"] = q(con, "SELECT count(*) FROM sess")[0][0]
    res["session_duration"] = stats("dur", "sess")
    res["event_duration"] = stats("duration_ms", "e2")


    # Weekly retention (recurring and cumulative) and lifecycle, from the active days `act`.
    wk = lambda d: f"(({d}) + 3 - {ws} + 7000000) // 7"
    w_first = q(con, f"SELECT {wk(first)}")[0][0]
    w_last = q(con, f"SELECT {wk(last)}")[0][0]
    con.execute(f"CREATE OR REPLACE TABLE uw AS SELECT DISTINCT user_id, {wk('d')} AS w FROM act")
    con.execute("CREATE OR REPLACE TABLE uf AS SELECT user_id, min(w) AS f, max(w) AS l FROM uw GROUP BY user_id")
    if p["retention_granularity"] == "week" and p["cohort_by"] == "first_seen" and not p["retention_start_actions"] and not p["retention_return_actions"]:
        c_min = max(w_first, w_last + 1 - p["retention_span"])
        cohorts = {}
        for c, size in q(con, f"SELECT f, count(*) FROM uf WHERE f >= {c_min} GROUP BY f"):
            cohorts[c] = {"size": size, "retained": [0] * (w_last - c + 1), "cumulative": [0] * (w_last - c + 1)}
        for c, n, k in q(con, f"SELECT f, w - f, count(*) FROM uw JOIN uf USING (user_id) WHERE f >= {c_min} GROUP BY ALL"):
            cohorts[c]["retained"][n] = k
        # Cumulative[n]: users whose last active week is ≥ cohort + n.
        for c, n, k in q(con, f"""SELECT f, n, count(*) FROM (SELECT f, unnest(generate_series(0, l - f)) AS n FROM uf WHERE f >= {c_min})
                                 GROUP BY ALL"""):
            cohorts[c]["cumulative"][n] = k
        res["retention_weekly"] = {str(c): v for c, v in cohorts.items()}
        res["lifecycle_weekly"] = {}
        for w, new, ret, resur in q(
            con,
            """SELECT a.w, count(*) FILTER (a.w = u.f), count(*) FILTER (a.w <> u.f AND b.user_id IS NOT NULL),
                      count(*) FILTER (a.w <> u.f AND b.user_id IS NULL)
               FROM uw a JOIN uf u USING (user_id) LEFT JOIN uw b ON b.user_id = a.user_id AND b.w = a.w - 1
               GROUP BY a.w""",
        ):
            res["lifecycle_weekly"][str(w)] = [new, ret, resur, 0]
        for w, n in q(
            con,
            f"""SELECT b.w + 1, count(*) FROM uw b LEFT JOIN uw a ON a.user_id = b.user_id AND a.w = b.w + 1
                WHERE a.user_id IS NULL AND b.w + 1 <= {w_last} GROUP BY ALL""",
        ):
            res["lifecycle_weekly"].setdefault(str(w), [0, 0, 0, 0])[3] = n

    # Power users: top ceil(users * pct / 100) by policy-applied duration and by active days.
    t = threshold("duration_ms", "e2")
    # NOT NULL: DuckDB's least() skips NULLs, so least(NULL, t) would be t.
    expr, keep = "duration_ms", "duration_ms IS NOT NULL"
    if t is not None and pol == "filter":
        keep += f" AND duration_ms <= {t}"
    if t is not None and pol == "cap":
        expr = f"least(duration_ms, {t})"
    con.execute(
        f"""CREATE OR REPLACE TABLE ut AS
            SELECT user_id, coalesce(sum({expr}) FILTER ({keep}), 0) AS ms,
                   (SELECT count(*) FROM act a WHERE a.user_id = e2.user_id) AS days
            FROM e2 GROUP BY user_id"""
    )
    n_users = q(con, "SELECT count(*) FROM ut")[0][0]
    import math
    n_top = min(n_users, math.ceil(n_users * p["power_pct"] / 100.0))
    res["power"] = {}
    for col in ["ms", "days"]:
        top, total = q(
            con,
            f"""SELECT coalesce(sum({col}) FILTER (rn <= {n_top}), 0), coalesce(sum({col}), 0) FROM (
                  SELECT {col}, row_number() OVER (ORDER BY {col} DESC, user_id) AS rn FROM ut)""",
        )[0]
        res["power"][col] = [n_top, int(top), int(total)]

    # Raw event durations per app version: exact percentiles.
    res["versions"] = {
        v: [n, p50, p95, p99]
        for v, n, p50, p95, p99 in q(
            con,
            """SELECT coalesce(app_version, '(none)'), count(*), quantile_cont(duration_ms, 0.5),
                      quantile_cont(duration_ms, 0.95), quantile_cont(duration_ms, 0.99)
               FROM e2 WHERE duration_ms IS NOT NULL GROUP BY 1""",
        )
    }

    # Per-country DAU: metadata de-duplicated by "last row wins"; users without a row are
    # "(no metadata)".
    con.execute(
        """
        CREATE OR REPLACE TABLE ucountry AS
        SELECT u.user_id, coalesce(m.country, '(no metadata)') AS country
        FROM (SELECT DISTINCT user_id FROM ev) u
        LEFT JOIN (SELECT user_id, arg_max(country, "row") AS country FROM meta GROUP BY user_id) m USING (user_id)
        """
    )
    per_country = {}
    for (c,) in q(con, "SELECT DISTINCT country FROM ucountry ORDER BY 1"):
        per_country[c] = series("SELECT d, count(*) FROM act JOIN ucountry USING (user_id) WHERE country = ? GROUP BY d", [c])
    res["country_dau"] = per_country
    # Per-country stickiness: DAU/MAU, DAU/WAU, WAU/MAU per day as DOUBLE divisions in DuckDB,
    # NULL when the denominator is 0 (every day of the axis, so a missing day is a mismatch).
    mau_ext = p["mau_window_days"] - 1
    con.execute(
        f"""
        CREATE OR REPLACE TABLE cact AS SELECT a.user_id, a.d, u.country FROM act a JOIN ucountry u USING (user_id);
        CREATE OR REPLACE TABLE cdays AS
          SELECT c.country, g.d FROM (SELECT DISTINCT country FROM ucountry) c,
                 (SELECT unnest(generate_series({first}, {last})) AS d) g;
        CREATE OR REPLACE TABLE cdau AS SELECT country, d, count(*) AS n FROM cact GROUP BY ALL;
        CREATE OR REPLACE TABLE cwau AS
          SELECT country, d2 AS d, count(DISTINCT user_id) AS n FROM (
            SELECT *, unnest(generate_series(d, d + 6)) AS d2 FROM cact) WHERE d2 <= {last} GROUP BY ALL;
        CREATE OR REPLACE TABLE cmau AS
          SELECT country, d2 AS d, count(DISTINCT user_id) AS n FROM (
            SELECT *, unnest(generate_series(d, d + {mau_ext})) AS d2 FROM cact) WHERE d2 <= {last} GROUP BY ALL;
        """
    )
    sticky = {}
    for c, d, dm, dw, wm in q(
        con,
        """SELECT x.country, x.d,
                  CAST(coalesce(a.n, 0) AS DOUBLE) / NULLIF(coalesce(m.n, 0), 0),
                  CAST(coalesce(a.n, 0) AS DOUBLE) / NULLIF(coalesce(w.n, 0), 0),
                  CAST(coalesce(w.n, 0) AS DOUBLE) / NULLIF(coalesce(m.n, 0), 0)
           FROM cdays x LEFT JOIN cdau a USING (country, d) LEFT JOIN cwau w USING (country, d)
                LEFT JOIN cmau m USING (country, d)
           ORDER BY x.country, x.d""",
    ):
        sticky.setdefault(c, {"dau_mau": [], "dau_wau": [], "wau_mau": []})
        sticky[c]["dau_mau"].append(dm)
        sticky[c]["dau_wau"].append(dw)
        sticky[c]["wau_mau"].append(wm)
    res["country_stickiness"] = sticky
    return res


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    folder, cases_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        cases = json.load(f)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """CREATE TABLE ev AS SELECT * FROM read_csv(?, header = true, nullstr = '',
             columns = {'seq': 'BIGINT', 'user_id': 'VARCHAR', 'ts_ms': 'BIGINT', 'action': 'VARCHAR',
                        'page': 'VARCHAR', 'duration_ms': 'BIGINT', 'app_version': 'VARCHAR',
                        'dup': 'INTEGER'})""",
        [f"{folder}/events.csv"],
    )
    con.execute(
        """CREATE TABLE meta AS SELECT * FROM read_csv(?, header = true, nullstr = '',
             columns = {'row': 'BIGINT', 'user_id': 'VARCHAR', 'join_day': 'INTEGER', 'country': 'VARCHAR',
                        'device_type': 'VARCHAR', 'subscription_type': 'VARCHAR'})""",
        [f"{folder}/metadata.csv"],
    )
    print(json.dumps([one_case(con, p) for p in cases]))


if __name__ == "__main__":
    main()
