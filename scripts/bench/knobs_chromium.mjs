// One knob moved back and forth in Chromium's worker, for an A/B of two builds (not a test):
// each build loads the file once per round, computes the settings A, then alternates B, A, B …
// and the script prints the medians of the worker's compute time (engine only) and of the
// round trip for A → B and B → A. Builds alternate round by round, in one run, so that a
// noisy VM hits both alike (run.mjs's whole sequence reloads the file for every run). Each
// round's load time is printed too (with its stages), so it doubles as a load A/B.
//
//   BENCH_DISTS=/tmp/dist_base,/tmp/dist_new node scripts/bench/knobs_chromium.mjs \
//     [EVENTS] [A] [B] [CHANGES] [ROUNDS]
//   e.g. 10000000 'gap=10m&seg=country&topn=20' 'gap=10m&seg=country&topn=20&def=core' 8 2
//
// BENCH_IDLE_MS=1500 leaves the worker idle that long after the first compute (its idle work,
// the sort of what that compute selected, then runs before the first change).
//
// Needs the bench data (./pulse bench generates it under BENCH_DATA, default /tmp/pulse-bench).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../../tests/browser/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const N = process.argv[2] || '10000000';
const A = process.argv[3] ?? '';
const B = process.argv[4] ?? 'gap=10m';
const CHANGES = Number(process.argv[5] || 8);
const ROUNDS = Number(process.argv[6] || 2);
const DATA = process.env.BENCH_DATA || '/tmp/pulse-bench';
const DISTS = (process.env.BENCH_DISTS || path.join(ROOT, 'dist')).split(',').map((d) => path.resolve(d));

const mounts = {
  '/bench/': path.join(ROOT, 'scripts', 'bench'),
  '/nm/': path.join(ROOT, 'node_modules'),
  '/data/': DATA,
};
DISTS.forEach((d, i) => { mounts[`/dist${i}/`] = d; });
const { server, base } = await serve(path.join(ROOT, 'scripts', 'bench'), mounts);
const { context } = await launch();
const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const times = DISTS.map(() => ({ ab: [], ba: [], abWall: [], baWall: [], load: [] }));
// A first, then B and A in turn: CHANGES changes each way.
const queries = [A];
for (let i = 0; i < CHANGES; i++) queries.push(B, A);
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < DISTS.length; i++) {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.benchReady === true);
    await page.setInputFiles('#events-file', path.join(DATA, N, 'events.parquet'));
    await page.setInputFiles('#metadata-file', path.join(DATA, N, 'metadata.parquet'));
    const r = await page.evaluate((a) => window.pulseRun(a), { workerUrl: `/dist${i}/worker_loader.js`, queries, idleMs: Number(process.env.BENCH_IDLE_MS || 0) });
    times[i].load.push(r.load_ms);
    const stages = (r.profile?.stages || []).map((st) => `${st.kind} ${st.wall_ms.toFixed(0)}`).join(', ');
    console.log(`round ${round + 1}, ${DISTS[i]}: load ${r.load_ms.toFixed(0)} ms (${stages})`);
    r.computes.slice(1).forEach((c, k) => {
      const t = times[i];
      (k % 2 === 0 ? t.ab : t.ba).push(c.compute_ms);
      (k % 2 === 0 ? t.abWall : t.baWall).push(c.wall_ms);
    });
    if (process.env.BENCH_STAGES) {
      r.computes.forEach((c, k) => {
        if (k < 2) console.log(`  compute ${k} (${c.query || 'defaults'}): ${c.compute_ms.toFixed(0)} ms, round trip ${c.wall_ms.toFixed(0)} ms\n${c.stages.map(([ms, d]) => `    ${ms.toFixed(1).padStart(7)} ms  ${d}`).join('\n')}`);
      });
    }
    console.log(`round ${round + 1}, ${DISTS[i]}: A→B ${r.computes.slice(1).filter((_, k) => k % 2 === 0).map((c) => c.compute_ms.toFixed(0)).join(' ')} ms`);
    await page.close();
  }
}
console.log(`${N} events, A = '${A}', B = '${B}', ${CHANGES} changes each way × ${ROUNDS} rounds:`);
DISTS.forEach((d, i) => {
  const t = times[i];
  console.log(`  ${d}: load ${median(t.load).toFixed(0)} ms (${t.load.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`  ${d}: A→B engine ${median(t.ab).toFixed(1)} ms (round trip ${median(t.abWall).toFixed(1)}), B→A engine ${median(t.ba).toFixed(1)} ms (round trip ${median(t.baWall).toFixed(1)})`);
});
await context.close();
server.close();
