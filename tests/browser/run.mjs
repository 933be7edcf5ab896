// Browser tests against the release build in dist/ (run `./pulse test`, which builds it first).
// Usage: node tests/browser/run.mjs [name-filter]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch, openPage, runTests, assert, assertEqual } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');
assert(fs.existsSync(path.join(DIST, 'index.html')), 'dist/index.html missing: build first (./pulse build)');

// Fixtures are written by the real writers (pyarrow, Polars, DuckDB) at test time.
const FIX = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-fixtures-'));
execFileSync('python3', [path.join(ROOT, 'tests/fixtures/make_fixtures.py'), FIX], { stdio: 'inherit' });
const manifest = JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8'));
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const rowsOf = (name) => {
  const n = manifest[name];
  assert(Number.isInteger(n), `manifest has no row count for ${name}`);
  return n;
};

// The sample the app opens with, as the native engine computes it.
const sampleOverview = JSON.parse(execFileSync(path.join(ROOT, 'target/debug/pulse'), ['overview', '--events', 'sample'], { encoding: 'utf8' }));

/** Every metric for the sample as the native CLI computes it with permalink `params`. */
const cliCache = new Map();
function cliMetrics(params) {
  if (!cliCache.has(params)) {
    const out = execFileSync(path.join(ROOT, 'target/debug/pulse'), ['metrics', '--events', 'sample', '--params', params, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
    cliCache.set(params, JSON.parse(out));
  }
  return cliCache.get(params);
}
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** Wait until the active-users and sessions charts show the engine's numbers for `params`. */
async function expectMetrics(page, params) {
  const r = cliMetrics(params);
  await page.waitForSelector(`#chart-active-users[data-query="${r.query}"][data-dau-sum="${sum(r.activity.dau)}"]`, { timeout: LOAD_TIMEOUT });
  assertEqual(await page.getAttribute('#chart-active-users', 'data-mau-sum'), String(sum(r.activity.mau)), `MAU sum for ${params}`);
  assertEqual(await page.getAttribute('#chart-active-users', 'data-wau-sum'), String(sum(r.activity.wau)), `WAU sum for ${params}`);
  assertEqual(await page.getAttribute('#chart-sessions', 'data-sessions'), String(r.sessions.count), `sessions for ${params}`);
  return r;
}

const search = (page) => new URL(page.url()).search.replace(/^\?/, '');

const { server, base } = await serve(DIST);
const { context } = await launch();
const LOAD_TIMEOUT = 60_000;

/** Wait until the dataset panel shows `rows` events from `source` (both at once: two files
 * can have the same row count, so the rows alone do not prove the new file is loaded). */
async function expectRows(page, rows, source) {
  await page.waitForFunction(([rows, source]) => {
    const ds = document.querySelector('#dataset');
    const src = document.querySelector('#dataset-source');
    return ds && ds.dataset.rows === String(rows) && (!source || (src && src.textContent === source));
  }, [rows, source], { timeout: LOAD_TIMEOUT });
}

/** Wait for an error mentioning `fragment` (an earlier error may still be showing). */
async function expectError(page, fragment) {
  try {
    await page.waitForFunction((fragment) => {
      const el = document.querySelector('#status[data-state="error"]');
      return el && el.textContent.includes(fragment);
    }, fragment, { timeout: LOAD_TIMEOUT });
  } catch (e) {
    const shown = await page.textContent('#status').catch(() => '(no status)');
    throw new Error(`expected an error mentioning "${fragment}", the status shows: ${shown}`);
  }
}

/** Fraction of canvas pixels that differ from the top-left (background) pixel. */
async function inkFraction(page, selector) {
  return page.$eval(selector, (canvas) => {
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    const data = ctx.getImageData(0, 0, width, height).data;
    const bg = [data[0], data[1], data[2]];
    let ink = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - bg[0]) + Math.abs(data[i + 1] - bg[1]) + Math.abs(data[i + 2] - bg[2]) > 30) ink++;
    }
    return ink / (width * height);
  });
}

async function dropFiles(page, files) {
  // A synthetic drag-and-drop: build a DataTransfer with File objects in the page.
  const payload = files.map((f) => ({ name: path.basename(f), b64: fs.readFileSync(f).toString('base64') }));
  await page.evaluate((payload) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of payload) {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], name));
    }
    const zone = document.querySelector('#dropzone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, payload);
}

const tests = [
  ['sample dataset loads with no console errors and a drawn chart', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events, 'sample');
    assertEqual(await page.getAttribute('#dataset', 'data-users'), String(sampleOverview.users), 'sample users');
    const fig = await page.waitForSelector(`#chart-events-per-day[data-total="${sampleOverview.events}"]`);
    assertEqual(await fig.getAttribute('data-days'), String(sampleOverview.events_per_day.length), 'days in chart');
    await page.waitForTimeout(200);
    const ink = await inkFraction(page, '#chart-events-per-day canvas');
    assert(ink > 0.02, `chart looks blank (ink ${ink})`);
    const box = await page.$eval('#chart-events-per-day canvas', (c) => [c.clientWidth, c.clientHeight]);
    assert(box[0] > 300 && box[1] > 150, `chart collapsed: ${box}`);
    await page.screenshot({ path: path.join(os.tmpdir(), 'pulse-sample.png') });
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['file input: snappy and zstd Parquet show the right row count', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events);
    await page.setInputFiles('#file-input', path.join(FIX, 'spark_int96_snappy.parquet'));
    await expectRows(page, rowsOf('spark_int96_snappy.parquet'), 'spark_int96_snappy.parquet');
    await page.setInputFiles('#file-input', path.join(FIX, 'polars_zstd.parquet'));
    await expectRows(page, rowsOf('polars_zstd.parquet'), 'polars_zstd.parquet');
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['drag and drop of a Parquet file loads it', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events);
    await dropFiles(page, [path.join(FIX, 'polars_zstd.parquet')]);
    await expectRows(page, rowsOf('polars_zstd.parquet'), 'polars_zstd.parquet');
    await page.close();
  }],
  ['bad files show a clear error and the app keeps working', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events);
    await page.setInputFiles('#file-input', path.join(FIX, 'not_parquet.parquet'));
    await expectError(page, 'not a Parquet or CSV file');
    // The previous data is still there.
    await expectRows(page, sampleOverview.events, 'sample');
    await page.setInputFiles('#file-input', path.join(FIX, 'truncated.parquet'));
    await expectError(page, 'truncated or corrupt');
    await page.setInputFiles('#file-input', path.join(FIX, 'spark_int96_snappy.parquet'));
    await expectRows(page, rowsOf('spark_int96_snappy.parquet'), 'spark_int96_snappy.parquet');
    await page.close();
  }],
  ['CSV with a header loads; the quality report counts read and dropped rows', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events);
    await page.setInputFiles('#file-input', path.join(FIX, 'events.csv'));
    await expectRows(page, expected['events.csv'].rows_loaded, 'events.csv');
    assertEqual(await page.getAttribute('#q-rows-read', 'data-value'), String(rowsOf('events.csv')), 'rows read');
    assertEqual(await page.getAttribute('#q-rows-loaded', 'data-value'), String(expected['events.csv'].rows_loaded), 'rows loaded');
    assertEqual(await page.getAttribute('#dataset', 'data-users'), String(expected['events.csv'].users), 'users');
    // Then user metadata for those events.
    await page.setInputFiles('#metadata-input', path.join(FIX, 'metadata.csv'));
    await page.waitForSelector(`#q-meta-users[data-value="${expected.metadata.rows_loaded}"]`, { timeout: LOAD_TIMEOUT });
    assertEqual(await page.getAttribute('#q-meta-rows-read', 'data-value'), String(rowsOf('metadata.csv')), 'metadata rows read');
    assertEqual(await page.getAttribute('#q-meta-duplicate-rows', 'data-value'), String(expected.metadata.duplicate_rows), 'metadata duplicates');
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['a Spark output folder with Hive partitions loads as one dataset', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events);
    await page.setInputFiles('#folder-input', path.join(FIX, 'partitioned'));
    await page.waitForSelector(`#dataset[data-rows="${expected['partitioned/'].rows_loaded}"]`, { timeout: LOAD_TIMEOUT });
    assertEqual(await page.getAttribute('#dataset', 'data-users'), String(expected['partitioned/'].users), 'users');
    const schema = await page.textContent('#schema');
    assert(schema.includes('date'), `partition column 'date' should be in the schema: ${schema}`);
    assert(schema.includes('3 file(s)'), `three part files (bookkeeping files ignored): ${schema}`);
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['dashboard: default metrics equal the engine, charts drawn', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    for (const id of ['#chart-active-users', '#chart-sessions']) {
      const ink = await inkFraction(page, `${id} canvas`);
      assert(ink > 0.01, `${id} looks blank (ink ${ink})`);
    }
    await page.screenshot({ path: path.join(os.tmpdir(), 'pulse-dashboard.png'), fullPage: true });
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['session gap: typed value updates the URL and sessions; reload and Back restore', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.fill('#gap-input', '10');
    await page.press('#gap-input', 'Enter');
    await expectMetrics(page, 'gap=10m');
    assertEqual(search(page), 'gap=10m', 'URL after changing the gap');
    await page.reload();
    await expectMetrics(page, 'gap=10m');
    assertEqual(await page.inputValue('#gap-input'), '10', 'gap input after reload');
    await page.goBack();
    await expectMetrics(page, '');
    assertEqual(search(page), '', 'URL after Back');
    await page.close();
  }],
  ['gap slider drag: every step recomputes, Back returns to the value before the drag', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    for (const v of ['20', '15', '5']) {
      await page.$eval('#gap-range', (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, v);
    }
    await page.$eval('#gap-range', (el) => el.dispatchEvent(new Event('change', { bubbles: true })));
    await expectMetrics(page, 'gap=5m');
    assertEqual(search(page), 'gap=5m', 'URL after the drag');
    await page.goBack();
    await expectMetrics(page, '');
    await page.close();
  }],
  ['activity definition, MAU window and time zone selects equal the engine', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.selectOption('#ctl-def', 'core');
    await expectMetrics(page, 'def=core');
    await page.selectOption('#ctl-mau', '28');
    await expectMetrics(page, 'def=core&mau=28');
    await page.selectOption('#ctl-tz', 'America/New_York');
    const r = await expectMetrics(page, 'tz=America%2FNew_York&def=core&mau=28');
    assertEqual(search(page), r.query, 'URL is the canonical query');
    await page.close();
  }],
  ['a malformed link names the bad settings and uses defaults', async () => {
    const { page } = await openPage(context, `${base}/?gap=abc&tz=Mars%2FOlympus&def=core`);
    await expectMetrics(page, 'def=core');
    const text = await page.textContent('#param-issues');
    assert(text.includes('gap') && text.includes('abc'), `names the bad gap: ${text}`);
    assert(text.includes('tz') && text.includes('Mars/Olympus'), `names the bad time zone: ${text}`);
    assertEqual(search(page), 'def=core', 'the corrected link keeps the good setting');
    await page.close();
  }],
  ['release build works under a sub-path (/pulse/)', async () => {
    const { page, errors } = await openPage(context, `${base}/pulse/`);
    await expectRows(page, sampleOverview.events, 'sample');
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
];

let failed = 1;
try {
  failed = await runTests(tests, process.argv[2]);
} finally {
  await context.close();
  server.close();
  fs.rmSync(FIX, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
