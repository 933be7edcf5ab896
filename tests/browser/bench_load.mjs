// Browser load benchmark (not a test): time from handing a file to the file input until the
// dataset panel shows its rows (read bytes -> transfer to the worker -> decode -> sorted store).
// Prints the median over runs.
// Usage: node tests/browser/bench_load.mjs FILE EXPECTED_ROWS [RUNS]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from './harness.mjs';

const [file, rows, runsArg] = process.argv.slice(2);
if (!file || !rows) {
  console.error('usage: node tests/browser/bench_load.mjs FILE EXPECTED_ROWS [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg || 3);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { server, base } = await serve(path.join(ROOT, 'dist'));
const { context } = await launch();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const loads = []
for (let i = 0; i < runs; i++) {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('#chart-active-users[data-dau-sum]', { timeout: 120_000 });
  const t0 = Date.now();
  await page.setInputFiles('#file-input', file);
  await page.waitForSelector(`#dataset[data-rows="${rows}"]`, { timeout: 600_000 });
  const t1 = Date.now();
  const heap = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
  loads.push(t1 - t0);
  console.log(`run ${i + 1}: load ${t1 - t0} ms (JS heap ${(heap / 1e6).toFixed(0)} MB)`);
  await page.close();
}
console.log(`median load over ${runs} runs: ${median(loads)} ms for ${rows} rows (${path.basename(file)})`);
await context.close();
server.close();
