// The benchmark page: Pulse (the real release worker from dist/, driven with the JSON protocol of
// src/protocol.rs) and DuckDB-WASM (npm build, single-thread `eh` bundle, its own worker) on the
// same files. scripts/bench/run.mjs calls `pulseRun` and `duckRun` and compares their answers.
// Pulse gets disk-backed `File`s from the page's file inputs (run.mjs fills them), exactly what a
// drop hands the UI, so its load time includes reading the file. DuckDB's timing starts once the
// file bytes are in the page (fetching them is not timed).
import * as duckdb from '/nm/@duckdb/duckdb-wasm/dist/duckdb-browser.mjs';
import initParquet, { readParquet } from '/nm/parquet-wasm/esm/parquet_wasm.js';

const DAY_MS = 86_400_000;
const NOTIFICATION = 'notification_received'; // inactive by default (engine::sample::NOTIFICATION)
const isoDay = (iso) => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;
const log = (s) => { document.getElementById('log').textContent += `\n${s}`; };

async function bytesOf(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

// ---------------------------------------------------------------------------------------------
// Pulse: one worker per run, the same messages the UI sends (src/ui/client.rs).

class PulseWorker {
  constructor(url) {
    this.worker = new Worker(url);
    this.nextId = 1;
    this.waiting = new Map();
    this.ready = new Promise((resolve, reject) => {
      this.worker.onerror = (e) => {
        // A wasm trap (e.g. out of memory) ends the request without a `failed` message.
        const err = new Error(`Pulse worker error: ${e.message}`);
        reject(err);
        for (const w of this.waiting.values()) w.reject(err);
        this.waiting.clear();
      };
      this.worker.onmessage = (ev) => {
        const msg = JSON.parse(ev.data.json);
        const kind = msg.body.kind;
        if (kind === 'ready') { resolve(); return; }
        if (kind === 'progress') return;
        const w = this.waiting.get(msg.id);
        if (!w) {
          if (kind === 'failed') console.error(`Pulse: ${msg.body.message}`);
          return;
        }
        this.waiting.delete(msg.id);
        if (kind === 'failed') w.reject(new Error(`Pulse failed: ${msg.body.message}`));
        else w.resolve({ body: msg.body, at: performance.now(), jsonBytes: ev.data.json.length });
      };
    });
  }

  request(body, files = undefined) {
    const id = this.nextId++;
    const json = JSON.stringify({ id, body });
    const done = new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.worker.postMessage(files ? { json, files } : { json });
    return done;
  }

  terminate() { this.worker.terminate(); }
}

/** What run.mjs compares: the report fields DuckDB's SQL also computes. */
function pulseSummary(report) {
  const s = report.sessions.duration.after;
  const summary = {
    first_day: report.axis.first ? isoDay(report.axis.first) : null,
    days: report.axis.dates.length,
    dau: report.activity.dau,
    mau: report.activity.mau,
    months: report.activity.months.map((m) => [isoDay(m.start), m.actives]),
    sessions: report.sessions.count,
    session_duration: {
      count: s.count, sum_ms: s.sum_ms, min_ms: s.min_ms, max_ms: s.max_ms,
      p50_ms: s.p50_ms, p90_ms: s.p90_ms, p95_ms: s.p95_ms, p99_ms: s.p99_ms,
    },
  };
  if (report.segments) {
    summary.segments = Object.fromEntries(report.segments.segments.map((g) => [g.label, g.dau]));
  }
  return summary;
}

const inputFile = (id) => {
  const f = document.getElementById(id).files[0];
  if (!f) throw new Error(`#${id} has no file (run.mjs sets it)`);
  return f;
};

window.pulseRun = async ({ workerUrl, queries, idleMs = 0 }) => {
  const pulse = new PulseWorker(workerUrl);
  try {
    await pulse.ready;
    const events = inputFile('events-file');
    const fileBytes = events.size;
    let t0 = performance.now();
    const loaded = await pulse.request({ kind: 'load_files', names: ['events.parquet'] }, [events]);
    const load_ms = loaded.at - t0;
    t0 = performance.now();
    const meta = await pulse.request({ kind: 'load_metadata', names: ['metadata.parquet'] }, [inputFile('metadata-file')]);
    const meta_ms = meta.at - t0;
    const computes = [];
    for (const query of queries) {
      t0 = performance.now();
      const r = await pulse.request({ kind: 'compute', query });
      const c = r.body;
      if (c.issues.length) throw new Error(`Pulse rejected settings ${query}: ${JSON.stringify(c.issues)}`);
      computes.push({
        query, wall_ms: r.at - t0, compute_ms: c.compute_ms, json_bytes: r.jsonBytes,
        wasm_memory_bytes: c.wasm_memory_bytes || 0,
        summary: pulseSummary(c.report),
        stages: (c.report.profile?.stages || []).map((st) => [st.wall_ms, st.detail]),
      });
      // Optionally leave the worker idle after the first compute (its idle work runs then).
      if (computes.length === 1 && idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    }
    log(`pulse: load ${load_ms.toFixed(0)} ms, ${computes.map((c) => `${c.query || 'defaults'} ${c.wall_ms.toFixed(0)} ms`).join(', ')}`);
    return {
      file_bytes: fileBytes,
      rows: loaded.body.overview.events,
      load_ms,
      meta_ms,
      profile: loaded.body.profile || null,
      computes,
      js_heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : 0,
    };
  } finally {
    pulse.terminate();
  }
};

// ---------------------------------------------------------------------------------------------
// DuckDB-WASM: its npm build cannot fetch the Parquet extension offline, so the file is decoded
// with parquet-wasm and the Arrow data inserted — together that is DuckDB's load.

let duck = null;

async function duckDb() {
  if (duck) return duck;
  const nm = '/nm/@duckdb/duckdb-wasm/dist';
  const worker = new Worker(`${nm}/duckdb-browser-eh.worker.js`);
  const db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
  await db.instantiate(`${location.origin}${nm}/duckdb-eh.wasm`);
  await initParquet(`${location.origin}/nm/parquet-wasm/esm/parquet_wasm_bg.wasm`);
  const conn = await db.connect();
  duck = { db, conn, worker, version: await db.getVersion() };
  return duck;
}

async function rows(conn, sql) {
  const t = await conn.query(sql);
  return t.toArray().map((r) => r.toJSON());
}

const num = (v) => (typeof v === 'bigint' ? Number(v) : v);

/** Parquet bytes → Arrow IPC (parquet-wasm) → a DuckDB table. */
async function insertParquet(conn, name, bytes) {
  const table = readParquet(new Uint8Array(bytes));
  const ipc = table.intoIPCStream(); // consumes (frees) the wasm table
  await conn.query(`DROP TABLE IF EXISTS ${name}`);
  await conn.insertArrowFromIPCStream(ipc, { name, create: true });
}

// The SQL an analyst would write for the same definitions (docs/METRICS.md, defaults): a user is
// active on a UTC day with at least one event whose action is not a notification; sessions cut
// where the gap to the user's previous event is ≥ the gap; a session lasts last − first event.
const ACTIVE_DAYS = `
  SELECT DISTINCT user_id, CAST(epoch_ms("timestamp") // ${DAY_MS} AS INTEGER) AS day
  FROM events WHERE action_type IS NOT NULL AND action_type <> '${NOTIFICATION}'`;

const SQL = {
  axis: `SELECT CAST(min(epoch_ms("timestamp")) // ${DAY_MS} AS INTEGER) AS first,
                CAST(max(epoch_ms("timestamp")) // ${DAY_MS} AS INTEGER) AS last FROM events`,
  dau: `SELECT day, count(*) AS n FROM (${ACTIVE_DAYS}) GROUP BY day ORDER BY day`,
  rolling: (last) => `
    SELECT d AS day, count(DISTINCT user_id) AS n
    FROM (SELECT user_id, unnest(generate_series(day, day + 29)) AS d FROM (${ACTIVE_DAYS}))
    WHERE d <= ${last} GROUP BY d ORDER BY d`,
  calendarMau: `
    SELECT CAST(date_diff('day', DATE '1970-01-01',
                date_trunc('month', DATE '1970-01-01' + day)) AS INTEGER) AS month,
           count(DISTINCT user_id) AS n
    FROM (${ACTIVE_DAYS}) GROUP BY month ORDER BY month`,
  sessions: (gapMs) => `
    WITH t AS (
      SELECT user_id, epoch_ms("timestamp") AS ts,
             CASE WHEN epoch_ms("timestamp") - LAG(epoch_ms("timestamp"))
                         OVER (PARTITION BY user_id ORDER BY "timestamp") < ${gapMs}
                  THEN 0 ELSE 1 END AS starts
      FROM events),
    s AS (
      SELECT user_id, ts,
             SUM(starts) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid
      FROM t),
    sess AS (SELECT user_id, sid, max(ts) - min(ts) AS dur FROM s GROUP BY user_id, sid)
    SELECT count(*) AS count, CAST(sum(dur) AS BIGINT) AS sum_ms, min(dur) AS min_ms, max(dur) AS max_ms,
           quantile_cont(dur, 0.5) AS p50_ms, quantile_cont(dur, 0.9) AS p90_ms,
           quantile_cont(dur, 0.95) AS p95_ms, quantile_cont(dur, 0.99) AS p99_ms
    FROM sess`,
  // Metadata may repeat a user; like Pulse, the last row wins (rowid is the insertion order).
  countryDau: `
    SELECT CASE WHEN m.user_id IS NULL THEN '(no metadata)' ELSE coalesce(m.country, '(none)') END
             AS country,
           a.day, count(*) AS n
    FROM (${ACTIVE_DAYS}) a
    LEFT JOIN (SELECT user_id, arg_max(country, rowid) AS country FROM metadata GROUP BY user_id) m
      USING (user_id)
    GROUP BY ALL ORDER BY country, a.day`,
};

window.duckRun = async ({ events, metadata, gapsMs }) => {
  const { conn, version } = await duckDb();
  const steps = {};
  const timed = async (name, fn) => {
    const t0 = performance.now();
    const out = await fn();
    steps[name] = performance.now() - t0;
    return out;
  };
  const eventBytes = await bytesOf(events);
  await timed('load', () => insertParquet(conn, 'events', eventBytes));
  const metaBytes = await bytesOf(metadata);
  await timed('load_metadata', () => insertParquet(conn, 'metadata', metaBytes));
  const [axis] = await timed('axis', () => rows(conn, SQL.axis));
  const first = num(axis.first);
  const last = num(axis.last);
  const series = (rs) => {
    const out = new Array(last - first + 1).fill(0);
    for (const r of rs) out[num(r.day) - first] = num(r.n);
    return out;
  };
  const dau = series(await timed('dau', () => rows(conn, SQL.dau)));
  const mau = series(await timed('rolling', () => rows(conn, SQL.rolling(last))));
  const months = (await timed('calendar_mau', () => rows(conn, SQL.calendarMau)))
    .map((r) => [Math.max(num(r.month), first), num(r.n)]);
  const sessions = [];
  for (const gap of gapsMs) {
    const [s] = await timed(`sessions_${gap / 60000}m`, () => rows(conn, SQL.sessions(gap)));
    sessions.push(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, num(v)])));
  }
  const perCountry = {};
  for (const r of await timed('country_dau', () => rows(conn, SQL.countryDau))) {
    (perCountry[r.country] ||= []).push(r);
  }
  const segments = Object.fromEntries(Object.entries(perCountry).map(([c, rs]) => [c, series(rs)]));
  const [{ n: rowCount }] = await rows(conn, 'SELECT count(*) AS n FROM events');
  log(`duckdb: ${Object.entries(steps).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
  return {
    version,
    rows: num(rowCount),
    steps,
    summary: { first_day: first, days: last - first + 1, dau, mau, months, sessions, segments },
    js_heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : 0,
  };
};

window.benchReady = true;
