// Dashboard latency benchmark (not a test): time from a gap-slider step to every chart card
// repainted with the new report, at N events, in headless Chromium against dist/.
//
// One sample: set the slider to a new value and dispatch `input` (what a drag does), then wait
// until every report card's `data-query` names the new settings (a card sets it right after
// drawing its canvas) and one more animation frame has run (the frame that shows the pixels).
// Measured inside the page with performance.now(), so Playwright's round trips are not counted.
// Prints each run and the median.
//
// Usage: node tests/browser/bench_latency.mjs FILE EXPECTED_ROWS [RUNS]
//   target/debug/pulse gen --events 1000000 --out /tmp/pulse-1m
//   node tests/browser/bench_latency.mjs /tmp/pulse-1m/events.parquet 989992 15
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from './harness.mjs';

const [file, rows, runsArg] = process.argv.slice(2);
if (!file || !rows) {
  console.error('usage: node tests/browser/bench_latency.mjs FILE EXPECTED_ROWS [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg || 15);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { server, base } = await serve(path.join(ROOT, 'dist'));
const { context } = await launch();
const page = await context.newPage();
await page.goto(`${base}/`);
await page.waitForSelector('#chart-active-users[data-state="ready"]', { timeout: 120_000 });
const t0 = Date.now();
await page.setInputFiles('#file-input', file);
await page.waitForSelector(`#dataset[data-rows="${rows}"]`, { timeout: 600_000 });
console.log(`loaded ${rows} rows in ${Date.now() - t0} ms`);
// Wait for the first report of the new data.
await page.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'idle');
await page.waitForTimeout(3000);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const samples = [];
const engineMs = [];
for (let i = 0; i < runs + 1; i++) {
  const gap = 31 + i; // a new value every run, so every run recomputes
  const ms = await page.evaluate((gap) => new Promise((resolve) => {
    const cards = [...document.querySelectorAll('.card[data-query]')];
    const want = `gap=${gap}m`;
    const start = performance.now();
    const done = () => cards.every((c) => (c.dataset.query || '').split('&').includes(want));
    const obs = new MutationObserver(() => {
      if (done()) {
        obs.disconnect();
        requestAnimationFrame(() => resolve(performance.now() - start));
      }
    });
    for (const c of cards) obs.observe(c, { attributes: true, attributeFilter: ['data-query'] });
    const slider = document.querySelector('#gap-range');
    slider.value = String(gap);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    slider.dispatchEvent(new Event('change', { bubbles: true }));
  }), gap);
  if (i === 0) continue; // warm-up
  const engine = Number(await page.getAttribute('#compute-ms', 'data-ms'));
  samples.push(ms);
  engineMs.push(engine);
  console.log(`run ${i}: gap ${gap}m → charts repainted in ${ms.toFixed(1)} ms (engine ${engine.toFixed(1)} ms in the worker)`);
}
console.log(`median over ${runs} runs: ${median(samples).toFixed(1)} ms end to end (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)}) at ${rows} events; engine median ${median(engineMs).toFixed(1)} ms; everything else (messages, JSON, charts, paint) median ${median(samples.map((s, i) => s - engineMs[i])).toFixed(1)} ms`);
await context.close();
server.close();
