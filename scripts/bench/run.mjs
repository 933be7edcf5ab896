// Pulse vs DuckDB-WASM in one headless Chromium (issue 7). A benchmark, not a test.
//
// usage: node scripts/bench/run.mjs [EVENTS...]          (default: 1000000 10000000)
// env:   BENCH_RUNS (default 3), BENCH_DATA (default /tmp/pulse-bench), PULSE_BIN (the native
//        CLI used to generate data; default target/release/pulse), BENCH_JSON (write results),
//        BENCH_DIST (the Pulse build to serve; default dist/), BENCH_ENGINES=pulse (skip DuckDB,
//        for before/after measurements of Pulse alone; nothing is compared then)
//
// Each engine does one warm-up run first (not counted): DuckDB-WASM keeps one database across
// runs, so its later runs run tiered-up wasm code; Pulse starts a fresh worker per run (so each
// load's memory is its own), and its warm-up puts the worker's compiled code in Chromium's cache.
//
// For each size: `pulse gen` writes events.parquet (snappy) and metadata.parquet once; the page
// (scripts/bench/index.html) runs Pulse's release worker from dist/ and DuckDB-WASM on the same
// bytes; the answers are compared (a mismatch fails the run) and a table of medians is printed.
// Memory: the whole browser's proportional set size (Pss of every Chromium process, sampled every
// 200 ms) peak per engine, the page's JS heap, and Pulse's wasm memory after the load.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../../tests/browser/harness.mjs';
import { browserPssBytes } from './pss.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv.slice(2).length ? process.argv.slice(2) : ['1000000', '10000000'])
  .map((s) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not an event count: ${s}`);
    return n;
  });
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || 3));
const DATA = process.env.BENCH_DATA || '/tmp/pulse-bench';
const PULSE_BIN = process.env.PULSE_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'pulse');
const DIST = path.resolve(process.env.BENCH_DIST || path.join(ROOT, 'dist'));
const WITH_DUCKDB = (process.env.BENCH_ENGINES || 'pulse,duckdb').split(',').includes('duckdb');
// Each step changes one knob from the step before, as a user moving one control at a time does
// (the session gap, then the breakdown, then the definition). Every query is the whole setting,
// so a step that also restored an earlier knob would time two changes. The segment step is the
// one DuckDB's DAU per country is checked against (minimal definition, which the gap leaves
// alone).
const QUERIES = {
  defaults: '',
  gap: 'gap=10m',
  segment: 'gap=10m&seg=country&topn=20',
  definition: 'gap=10m&seg=country&topn=20&def=core',
  // The filter knobs (Pulse only: DuckDB's queries have no zone or range): every part depends
  // on which events are considered and on their local days.
  timezone: 'gap=10m&seg=country&topn=20&def=core&tz=America%2FNew_York',
  range: 'gap=10m&seg=country&topn=20&def=core&tz=America%2FNew_York&from=2023-07-01&to=2023-12-31',
};

const median = (xs) => {
  const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- data -----------------------------------------------------------------------------------
function dataFor(n) {
  const dir = path.join(DATA, String(n));
  const events = path.join(dir, 'events.parquet');
  if (!fs.existsSync(events) || !fs.existsSync(path.join(dir, 'metadata.parquet'))) {
    if (!fs.existsSync(PULSE_BIN)) throw new Error(`${PULSE_BIN} missing: build it (cargo build --release) or set PULSE_BIN`);
    console.log(`generating ${n} events into ${dir}`);
    execFileSync(PULSE_BIN, ['gen', '--events', String(n), '--out', dir], { stdio: 'inherit' });
  }
  return { dir, bytes: fs.statSync(events).size };
}

// ---- memory: peak Pss of the browser (scripts/bench/pss.mjs), sampled every 200 ms ----------
class MemorySampler {
  constructor() { this.peak = 0; this.timer = setInterval(() => this.sample(), 200); }
  sample() { this.peak = Math.max(this.peak, browserPssBytes()); }
  reset() { this.sample(); const p = this.peak; this.peak = 0; return p; }
  stop() { clearInterval(this.timer); }
}

// ---- correctness ----------------------------------------------------------------------------
function compare(what, pulse, duck, problems) {
  const same = (a, b) => {
    if (typeof a === 'number' && typeof b === 'number') {
      return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
    }
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const ka = Object.keys(a).sort(); const kb = Object.keys(b).sort();
      return same(ka.length, kb.length) && ka.every((k, i) => k === kb[i] && same(a[k], b[k]));
    }
    return a === b;
  };
  if (!same(pulse, duck)) {
    const short = (v) => { const s = String(JSON.stringify(v)); return s.length > 300 ? `${s.slice(0, 300)}…` : s; };
    problems.push(`${what}: Pulse ${short(pulse)} vs DuckDB ${short(duck)}`);
  }
}

function check(p, d) {
  const problems = [];
  const def = p.computes.find((c) => c.query === QUERIES.defaults).summary;
  const gap = p.computes.find((c) => c.query === QUERIES.gap).summary;
  const seg = p.computes.find((c) => c.query === QUERIES.segment).summary;
  const ds = d.summary;
  compare('rows', p.rows, d.rows, problems);
  compare('first day', def.first_day, ds.first_day, problems);
  compare('days', def.days, ds.days, problems);
  compare('DAU per day', def.dau, ds.dau, problems);
  compare('rolling 30-day actives', def.mau, ds.mau, problems);
  compare('calendar MAU', def.months, ds.months, problems);
  compare('sessions (30 min)', def.sessions, ds.sessions[0].count, problems);
  compare('session durations (30 min)', def.session_duration, ds.sessions[0], problems);
  compare('sessions (10 min)', gap.sessions, ds.sessions[1].count, problems);
  compare('session durations (10 min)', gap.session_duration, ds.sessions[1], problems);
  compare('DAU per country', seg.segments, ds.segments, problems);
  return problems;
}

// ---- the run --------------------------------------------------------------------------------
const fmtMs = (v) => (v === undefined ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const fmtMb = (b) => (b ? `${(b / 2 ** 20).toFixed(0)} MiB` : '—');

if (!fs.existsSync(path.join(DIST, 'worker_loader.js'))) {
  throw new Error(`${DIST} has no release build: run ./pulse build (or ./pulse bench, which builds)`);
}
const datasets = sizes.map((n) => ({ n, ...dataFor(n) }));
const { server, base } = await serve(path.join(ROOT, 'scripts', 'bench'), {
  '/bench/': path.join(ROOT, 'scripts', 'bench'),
  '/dist/': DIST,
  '/nm/': path.join(ROOT, 'node_modules'),
  '/data/': DATA,
});
const { context } = await launch();
const memory = new MemorySampler();
const results = [];
let failed = false;
try {
  for (const ds of datasets) {
    const urls = { events: `/data/${ds.n}/events.parquet`, metadata: `/data/${ds.n}/metadata.parquet` };
    console.log(`\n== ${ds.n} events (${(ds.bytes / 1e6).toFixed(1)} MB snappy Parquet), ${RUNS} runs each ==`);

    memory.reset();
    let page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('404')) console.log(`  page: ${m.text()}`); });
    page.on('pageerror', (e) => console.log(`  page error: ${e}`));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.benchReady === true);
    await page.setInputFiles('#events-file', path.join(DATA, String(ds.n), 'events.parquet'));
    await page.setInputFiles('#metadata-file', path.join(DATA, String(ds.n), 'metadata.parquet'));
    const pulseRuns = [];
    let pulseError = null;
    for (let i = 0; i <= RUNS; i++) {
      let r;
      try {
        r = await page.evaluate((a) => window.pulseRun(a), {
          workerUrl: '/dist/worker_loader.js', ...urls, queries: Object.values(QUERIES),
        });
      } catch (e) {
        pulseError = String(e.message || e).split('\n')[0];
        console.log(`  Pulse could not load ${ds.n} events: ${pulseError}`);
        break;
      }
      if (i > 0) pulseRuns.push(r);
      const stages = r.profile ? ` (${r.profile.stages.map((st) => `${st.kind} ${fmtMs(st.wall_ms)}`).join(', ')})` : '';
      console.log(`  pulse ${i ? `run ${i}` : 'warm-up'}: load ${fmtMs(r.load_ms)}${stages}, ${r.computes.map((c) => `${c.query || 'defaults'} ${fmtMs(c.wall_ms)}`).join(', ')}`);
    }
    await page.close();
    const pulsePeak = memory.reset();

    if (pulseError) {
      failed = true;
      console.log(`  browser peak Pss during the attempt ${fmtMb(pulsePeak)}`);
      results.push({ events: ds.n, file_bytes: ds.bytes, pulse_error: pulseError, peak_pss: { pulse: pulsePeak } });
      continue;
    }
    const duckRuns = [];
    let duckPeak = 0;
    if (!WITH_DUCKDB) {
      const med = (f) => fmtMs(median(pulseRuns.map(f)));
      console.log(`  Pulse only: median load ${med((r) => r.load_ms)}; ${['decode', 'map', 'sort'].map((k) => `${k} ${med((r) => r.profile.stages.find((st) => st.kind === k).wall_ms)}`).join(', ')}; `
        + `${Object.keys(QUERIES).map((k, i) => `${k} ${med((r) => r.computes[i].wall_ms)}`).join(', ')}; `
        + `engine only ${Object.keys(QUERIES).map((k, i) => `${k} ${med((r) => r.computes[i].compute_ms)}`).join(', ')}; `
        + `response JSON ${Object.keys(QUERIES).map((k, i) => `${k} ${(median(pulseRuns.map((r) => r.computes[i].json_bytes)) / 1e3).toFixed(0)} kB`).join(', ')}; browser peak Pss ${fmtMb(pulsePeak)}; wasm memory ${fmtMb(pulseRuns[0].profile.wasm_memory_bytes)} after the load, ${fmtMb(Math.max(...pulseRuns[0].computes.map((c) => c.wasm_memory_bytes)))} after the recomputes`);
      results.push({ events: ds.n, rows: pulseRuns[0].rows, file_bytes: ds.bytes, pulse: pulseRuns, peak_pss: { pulse: pulsePeak } });
      continue;
    }
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('404')) console.log(`  page: ${m.text()}`); });
    page.on('pageerror', (e) => console.log(`  page error: ${e}`));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.benchReady === true);
    for (let i = 0; i <= RUNS; i++) {
      const r = await page.evaluate((a) => window.duckRun(a), { ...urls, gapsMs: [30 * 60_000, 10 * 60_000] });
      if (i > 0) duckRuns.push(r);
      console.log(`  duckdb ${i ? `run ${i}` : 'warm-up'}: ${Object.entries(r.steps).map(([k, v]) => `${k} ${fmtMs(v)}`).join(', ')}`);
    }
    await page.close();
    duckPeak = memory.reset();

    const problems = [];
    for (let i = 0; i < RUNS; i++) problems.push(...check(pulseRuns[i], duckRuns[i]).map((p) => `run ${i + 1}: ${p}`));
    if (problems.length) {
      failed = true;
      console.log(`\nMISMATCH — Pulse and DuckDB-WASM disagree; these timings are void:\n  ${problems.join('\n  ')}`);
    } else {
      console.log('  answers agree: DAU per day, rolling 30-day actives, calendar MAU, session count and duration stats (30 and 10 min), DAU per country');
    }

    const pm = (q) => median(pulseRuns.map((r) => r.computes.find((c) => c.query === q).wall_ms));
    const pe = (q) => median(pulseRuns.map((r) => r.computes.find((c) => c.query === q).compute_ms));
    const dm = (k) => median(duckRuns.map((r) => (Array.isArray(k) ? k.reduce((s, x) => s + r.steps[x], 0) : r.steps[k])));
    const all = ['axis', 'dau', 'rolling', 'calendar_mau', 'sessions_30m', 'country_dau'];
    const rowsOut = [
      ['load events (bytes → table/store)', median(pulseRuns.map((r) => r.load_ms)), dm('load'), undefined],
      ['load user metadata', median(pulseRuns.map((r) => r.meta_ms)), dm('load_metadata'), undefined],
      ['every metric, defaults (DuckDB: the 5 queries below)', pm(QUERIES.defaults), dm(all), pe(QUERIES.defaults)],
      ['  DAU per day', undefined, dm(['axis', 'dau']), undefined],
      ['  rolling 30-day actives per day', undefined, dm('rolling'), undefined],
      ['  calendar MAU', undefined, dm('calendar_mau'), undefined],
      ['  sessionization, 30 min gap + stats', undefined, dm('sessions_30m'), undefined],
      ['  DAU per country (join metadata)', undefined, dm('country_dau'), undefined],
      ['session gap 30 → 10 min', pm(QUERIES.gap), dm('sessions_10m'), pe(QUERIES.gap)],
      ['then segment breakdown → country', pm(QUERIES.segment), dm('country_dau'), pe(QUERIES.segment)],
      ['then activity definition → core', pm(QUERIES.definition), undefined, pe(QUERIES.definition)],
      ['then time zone → America/New_York', pm(QUERIES.timezone), undefined, pe(QUERIES.timezone)],
      ['then date range → 2023-07-01 … 12-31', pm(QUERIES.range), undefined, pe(QUERIES.range)],
    ];
    console.log(`\n| step (${ds.n.toLocaleString('en')} events) | Pulse | DuckDB-WASM | DuckDB / Pulse | Pulse engine only |`);
    console.log('|---|---|---|---|---|');
    for (const [name, p, d, e] of rowsOut) {
      const ratio = p !== undefined && d !== undefined ? `${(d / p).toFixed(1)}×` : '—';
      console.log(`| ${name} | ${fmtMs(p)} | ${fmtMs(d)} | ${ratio} | ${fmtMs(e)} |`);
    }
    const wasm = median(pulseRuns.map((r) => (r.profile ? r.profile.wasm_memory_bytes : undefined)));
    console.log(`\nmemory: browser peak Pss during Pulse ${fmtMb(pulsePeak)}, during DuckDB-WASM ${fmtMb(duckPeak)}; `
      + `page JS heap Pulse ${fmtMb(median(pulseRuns.map((r) => r.js_heap_bytes)))}, DuckDB ${fmtMb(median(duckRuns.map((r) => r.js_heap_bytes)))}`
      + (wasm ? `; Pulse worker wasm memory ${fmtMb(wasm)} after the load (${(wasm / pulseRuns[0].rows).toFixed(1)} B/event), `
        + `${fmtMb(median(pulseRuns.map((r) => Math.max(...r.computes.map((c) => c.wasm_memory_bytes)))))} after the recomputes` : ''));
    console.log(`DuckDB-WASM npm 1.32.0 (DuckDB ${duckRuns[0].version}); Pulse ${DIST} built ${fs.statSync(path.join(DIST, 'worker_loader.js')).mtime.toISOString()}`);
    results.push({ events: ds.n, rows: pulseRuns[0].rows, file_bytes: ds.bytes, pulse: pulseRuns, duckdb: duckRuns, peak_pss: { pulse: pulsePeak, duckdb: duckPeak }, problems });
  }
} finally {
  memory.stop();
  await context.close();
  server.close();
}
if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 1));
if (failed) {
  console.log('\nFAILED: the engines disagree (see MISMATCH above)');
  process.exit(1);
}
