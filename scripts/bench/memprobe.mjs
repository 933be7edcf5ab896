// Where the browser's memory goes during one Pulse load + compute (not a test): Pss per Chromium
// process every 250 ms, printed as a timeline. `node scripts/bench/memprobe.mjs [EVENTS]`.
// MEMPROBE_QUERIES: the computes after the load, `|`-separated settings (default: the defaults,
// then gap=10m); `MEMPROBE_QUERIES=bench` runs the browser bench's steps (gap, segment,
// definition, zone, date range).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../../tests/browser/harness.mjs';
import { pssByProcess } from './pss.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const N = process.argv[2] || '10000000';
const DATA = process.env.BENCH_DATA || '/tmp/pulse-bench';

function perProcess() {
  return pssByProcess().map(({ type, kb }) => [type, Math.round(kb / 1024)]);
}

const { server, base } = await serve(path.join(ROOT, 'scripts', 'bench'), {
  '/bench/': path.join(ROOT, 'scripts', 'bench'),
  '/dist/': path.resolve(process.env.BENCH_DIST || path.join(ROOT, 'dist')),
  '/nm/': path.join(ROOT, 'node_modules'),
  '/data/': DATA,
});
const { context } = await launch();
const t0 = Date.now();
let peak = 0;
const timer = setInterval(() => {
  const p = perProcess();
  const total = p.reduce((a, [, mb]) => a + mb, 0);
  if (total > peak) peak = total;
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)}s total ${total} MiB  ${p.filter(([, mb]) => mb > 20).map(([t, mb]) => `${t} ${mb}`).join(', ')}`);
}, 250);
const page = await context.newPage();
await page.goto(`${base}/`);
await page.waitForFunction(() => window.benchReady === true);
await page.setInputFiles('#events-file', path.join(DATA, N, 'events.parquet'));
await page.setInputFiles('#metadata-file', path.join(DATA, N, 'metadata.parquet'));
await new Promise((r) => setTimeout(r, 1500));
console.log('--- pulseRun');
const BENCH_STEPS = ['', 'gap=10m', 'gap=10m&seg=country&topn=20', 'gap=10m&seg=country&topn=20&def=core',
  'gap=10m&seg=country&topn=20&def=core&tz=America%2FNew_York',
  'gap=10m&seg=country&topn=20&def=core&tz=America%2FNew_York&from=2023-07-01&to=2023-12-31'];
const queries = process.env.MEMPROBE_QUERIES === 'bench' ? BENCH_STEPS
  : (process.env.MEMPROBE_QUERIES ?? '|gap=10m').split('|');
const r = await page.evaluate((a) => window.pulseRun(a), { workerUrl: '/dist/worker_loader.js', queries });
console.log(`--- done: load ${r.load_ms.toFixed(0)} ms, wasm ${(r.profile.wasm_memory_bytes / 2 ** 20).toFixed(0)} MiB after the load, ${r.computes.map((c) => (c.wasm_memory_bytes / 2 ** 20).toFixed(0)).join(' / ')} MiB after each compute (${r.computes.map((c) => c.wall_ms.toFixed(0)).join(' / ')} ms)`);
await new Promise((r) => setTimeout(r, 1000));
clearInterval(timer);
console.log(`peak ${peak} MiB`);
await context.close();
server.close();
