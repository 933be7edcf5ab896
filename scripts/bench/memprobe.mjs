// Where the browser's memory goes during one Pulse load + compute (not a test): Pss per Chromium
// process every 200 ms, printed as a timeline. `node scripts/bench/memprobe.mjs [EVENTS]`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../../tests/browser/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const N = process.argv[2] || '10000000';
const DATA = process.env.BENCH_DATA || '/tmp/pulse-bench';

function descendants(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) for (const c of children.get(stack.pop()) || []) { out.push(c); stack.push(c); }
  return out;
}

function perProcess() {
  const out = [];
  for (const pid of descendants(process.pid)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const type = (/--type=([a-z-]+)/.exec(cmd) || [, 'browser'])[1];
      if (m) out.push([type, Math.round(Number(m[1]) / 1024)]);
    } catch { /* gone */ }
  }
  return out;
}

const { server, base } = await serve(path.join(ROOT, 'scripts', 'bench'), {
  '/bench/': path.join(ROOT, 'scripts', 'bench'),
  '/dist/': path.join(ROOT, 'dist'),
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
const r = await page.evaluate((a) => window.pulseRun(a), { workerUrl: '/dist/worker_loader.js', queries: ['', 'gap=10m'] });
console.log(`--- done: load ${r.load_ms.toFixed(0)} ms, wasm ${(r.profile.wasm_memory_bytes / 2 ** 20).toFixed(0)} MiB after the load, ${r.computes.map((c) => (c.wasm_memory_bytes / 2 ** 20).toFixed(0)).join(' / ')} MiB after each compute (${r.computes.map((c) => c.wall_ms.toFixed(0)).join(' / ')} ms)`);
await new Promise((r) => setTimeout(r, 1000));
clearInterval(timer);
console.log(`peak ${peak} MiB`);
await context.close();
server.close();
