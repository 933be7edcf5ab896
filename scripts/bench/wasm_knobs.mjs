// The worker's recompute path in wasm under Node's V8 (Chromium's engine), no browser: a
// low-noise A/B of wasm-side engine changes. A benchmark, not a test.
//
//   node scripts/bench/wasm_knobs.mjs [EVENTS] [RUNS] [WASM]     (env WASM_KNOBS_STEPS=0,2: only those)
//
// Builds examples/wasm_knobs.rs for wasm32 (release) unless WASM names a built module, generates
// the sample data of EVENTS events (default 10M) in wasm memory, computes the defaults, then
// times each knob change RUNS times (default 9) on the warm cache, alternating with its way back
// (gap 10 → 30 → 10 …), and a fresh cache's first compute. Prints medians and ranges.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EVENTS = Number(process.argv[2] || 10_000_000);
const RUNS = Number(process.argv[3] || 9);
let wasmPath = process.argv[4];
if (!wasmPath) {
  execFileSync('cargo', ['build', '--release', '--example', 'wasm_knobs', '--target', 'wasm32-unknown-unknown'],
    { cwd: ROOT, stdio: 'inherit' });
  wasmPath = path.join(ROOT, 'target', 'wasm32-unknown-unknown', 'release', 'examples', 'wasm_knobs.wasm');
}
const module = new WebAssembly.Module(fs.readFileSync(wasmPath));
// Whatever the library's wasm-bindgen glue imports is never called on this path.
const imports = {};
for (const imp of WebAssembly.Module.imports(module)) {
  imports[imp.module] ??= {};
  imports[imp.module][imp.name] = () => { throw new Error(`unexpected call of ${imp.module}.${imp.name}`); };
}
const { exports } = new WebAssembly.Instance(module, imports);

const QUERIES = ['defaults', 'gap=10m', 'gap=30m', 'seg=country (gap 10m)', 'def=core (gap 10m, seg)', 'outlier=pct&policy=cap',
  'tz=America/New_York', 'from=2023-07-01&to=2023-12-31'];
const time = (f) => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const fmt = (v) => `median ${median(v).toFixed(1)} ms (${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)})`;

const [setupMs, n] = time(() => exports.setup(EVENTS));
if (n === 0xffffffff) throw new Error('the sample could not be built');
// WASM_KNOBS_PAUSE=ms: wait before the first knob change (as an analyst would), giving V8's
// background compiler time to finish optimising what the first compute ran.
const pause = Number(process.env.WASM_KNOBS_PAUSE || 0);
if (pause) await new Promise((r) => setTimeout(r, pause));
console.log(`${n} events: generated and first compute in ${(setupMs / 1000).toFixed(1)} s; ${path.basename(wasmPath)}`);
const steps = [[1, 2], [3, 1], [4, 3], [5, 0], [6, 0], [7, 0]]; // (change, way back)
// WASM_KNOBS_STEPS=0 times only the first step (e.g. to profile it: node --cpu-prof …).
const only = process.env.WASM_KNOBS_STEPS?.split(',').map(Number);
for (const [si, [to, back]] of steps.entries()) {
  if (only && !only.includes(si)) continue;
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    if (i === 0) {
      // The change's first run (a wasm function's first call runs baseline code until V8
      // has optimised it), from its own starting point.
      exports.knob(back);
      const [first] = time(() => exports.knob(to));
      console.log(`  ${QUERIES[back]} → ${QUERIES[to]}, first time: ${first.toFixed(1)} ms`);
    }
    exports.knob(back);
    const [ms, r] = time(() => exports.knob(to));
    if (r === 0xffffffff) throw new Error(`compute failed: ${QUERIES[to]}`);
    times.push(ms);
  }
  console.log(`  ${QUERIES[back]} → ${QUERIES[to]}: ${fmt(times)}`);
}
const cold = [];
if (!only) for (let i = 0; i < Math.max(3, Math.floor(RUNS / 3)); i++) cold.push(time(() => exports.cold(0))[0]);
if (cold.length) console.log(`  a fresh cache's first compute (defaults): ${fmt(cold)}`);
