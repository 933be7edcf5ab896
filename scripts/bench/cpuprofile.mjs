// Where the worker's time goes in Chromium (not a test): V8's sampling CPU profiler on the Pulse
// worker (wasm functions by name) for each step — load, defaults, then each query — printed as
// the top functions by self time. Needs a release build in dist/ (or BENCH_DIST=dir).
//
//   node scripts/bench/cpuprofile.mjs [EVENTS] [QUERY...]     e.g. 10000000 gap=10m def=core
//   PROFILE_TOP=40 PROFILE_JSON=/tmp/p   (also writes each step's .cpuprofile for DevTools)
//
// Playwright cannot profile a dedicated worker, so this talks CDP itself: Chromium is started
// with a debugging port on 127.0.0.1, and the page's session auto-attaches to its workers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ws as WebSocket } from 'playwright-core/lib/utilsBundle';
import { serve, CHROMIUM_ARGS } from '../../tests/browser/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const N = process.argv[2] || '10000000';
const QUERIES = ['', ...process.argv.slice(3)];
const DATA = process.env.BENCH_DATA || '/tmp/pulse-bench';
const TOP = Number(process.env.PROFILE_TOP || 25);

const { server, base } = await serve(path.join(ROOT, 'scripts', 'bench'), {
  '/dist/': path.resolve(process.env.BENCH_DIST || path.join(ROOT, 'dist')),
  '/data/': DATA,
});
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-chromium-'));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [...CHROMIUM_ARGS, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0'],
});
const [port, wsPath] = fs.readFileSync(path.join(profileDir, 'DevToolsActivePort'), 'utf8').trim().split('\n');

// A minimal flat-session CDP client.
const sock = new WebSocket(`ws://127.0.0.1:${port}${wsPath}`, { perMessageDeflate: false, maxPayload: 1 << 30 });
await new Promise((r) => sock.once('open', r));
let nextId = 1;
const pending = new Map();
const listeners = [];
sock.on('message', (data) => {
  const msg = JSON.parse(data.toString());
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) reject(new Error(JSON.stringify(msg.error)));
    else resolve(msg.result);
  } else if (msg.method) {
    for (const l of listeners) l(msg);
  }
});
const send = (method, params = {}, sessionId = undefined) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  sock.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
});

const page = await context.newPage();
await page.goto(`${base}/`);
await page.setInputFiles('#events-file', path.join(DATA, N, 'events.parquet'));
await page.setInputFiles('#metadata-file', path.join(DATA, N, 'metadata.parquet'));

const { targetInfos } = await send('Target.getTargets');
const pageTarget = targetInfos.find((t) => t.type === 'page' && t.url.startsWith(base));
const { sessionId: pageSession } = await send('Target.attachToTarget', { targetId: pageTarget.targetId, flatten: true });
const workerSession = new Promise((resolve) => {
  listeners.push((msg) => {
    if (msg.method === 'Target.attachedToTarget' && msg.params.targetInfo.type === 'worker') {
      resolve(msg.params.sessionId);
    }
  });
});
await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, pageSession);

// The worker, driven with the UI's JSON protocol (as scripts/bench/bench.js does).
await page.evaluate(() => {
  const w = new Worker('/dist/worker_loader.js');
  let next = 1;
  const waiting = new Map();
  window.pulseReady = new Promise((ready) => {
    w.onmessage = (ev) => {
      const msg = JSON.parse(ev.data.json);
      if (msg.body.kind === 'ready') return ready();
      if (msg.body.kind === 'progress') return;
      const done = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (done) done(msg.body.kind === 'failed' ? `failed: ${msg.body.message}` : msg.body.kind);
    };
  });
  window.pulseStep = (body, withFiles) => new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    const t0 = performance.now();
    waiting.set(id, (kind) => resolve({ kind, ms: performance.now() - t0 }));
    const files = withFiles ? [document.getElementById(withFiles).files[0]] : undefined;
    w.postMessage(files ? { json: JSON.stringify({ id, body }), files } : { json: JSON.stringify({ id, body }) });
  });
});
const worker = await workerSession;
await send('Profiler.enable', {}, worker);
await send('Profiler.setSamplingInterval', { interval: 200 }, worker);
await send('Runtime.runIfWaitingForDebugger', {}, worker);
await page.evaluate(() => window.pulseReady);

function report(name, profile, wall) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = (deltas[i + 1] ?? 0) / 1000;
    const n = byId.get(id);
    const f = n.callFrame;
    const key = f.functionName || `(${f.url ? path.basename(f.url) : 'anonymous'})`;
    self.set(key, (self.get(key) || 0) + dt);
    total += dt;
  });
  console.log(`\n== ${name}: ${wall.toFixed(0)} ms wall, ${total.toFixed(0)} ms sampled`);
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${ms.toFixed(1).padStart(9)} ms ${(100 * ms / total).toFixed(1).padStart(5)} %  ${k.slice(0, 150)}`);
  }
  if (process.env.PROFILE_JSON) {
    fs.mkdirSync(process.env.PROFILE_JSON, { recursive: true });
    fs.writeFileSync(path.join(process.env.PROFILE_JSON, `${name.replace(/\W+/g, '_')}.cpuprofile`), JSON.stringify(profile));
  }
}

async function step(name, body, withFiles) {
  await send('Profiler.start', {}, worker);
  const r = await page.evaluate(([b, f]) => window.pulseStep(b, f), [body, withFiles]);
  const { profile } = await send('Profiler.stop', {}, worker);
  if (r.kind.startsWith('failed')) throw new Error(`${name}: ${r.kind}`);
  report(name, profile, r.ms);
}

await step('load', { kind: 'load_files', names: ['events.parquet'] }, 'events-file');
await step('metadata', { kind: 'load_metadata', names: ['metadata.parquet'] }, 'metadata-file');
for (const q of QUERIES) await step(q || 'defaults', { kind: 'compute', query: q });
sock.close();
await context.close();
server.close();
