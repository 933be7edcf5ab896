// Browser tests against the release build in dist/ (run `./pulse test`, which builds it first).
// Usage: node tests/browser/run.mjs [name-filter]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  serve, launch, openPage, runTests, assert, assertEqual,
  parseCsv, downloadCsv, assertCsvEqual, canvasStats, setControl,
  LOAD_TIMEOUT, PULSE, cliMetrics, expectCard, expectRows, expectError, inkFraction, dropFiles, search,
} from './harness.mjs';

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


/** Every chart card on the dashboard. */
const REPORT_CARDS = ['chart-active-users', 'chart-months', 'chart-l7', 'chart-l30', 'chart-sessions',
  'chart-session-duration', 'chart-events-per-session', 'chart-sessions-per-user', 'chart-outliers-events',
  'chart-outliers-sessions', 'chart-segments', 'chart-segment-months', 'chart-top-users', 'chart-partitions'];

// The fixtures are also served over HTTP (with CORS) for the `src=` link tests.
const { server, base } = await serve(DIST, { '/fixtures/': FIX });
const { context } = await launch();
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
  ['a large Parquet load is decoded by the second worker, to the numbers the CLI computes', async () => {
    // Over the worker's threshold (4M rows) for handing decoding to its decoding worker.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-large-'));
    execFileSync(PULSE, ['gen', '--events', '4200000', '--out', dir], { stdio: 'ignore' });
    const file = path.join(dir, 'events.parquet');
    const r = JSON.parse(execFileSync(PULSE, ['metrics', '--events', file, '--params', '', '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 }));
    assert(r.input.store_events >= 4_000_000, `${r.input.store_events} events`);
    const { page, errors } = await openPage(context, `${base}/`);
    await expectRows(page, sampleOverview.events, 'sample');
    await page.setInputFiles('#file-input', file);
    await expectRows(page, r.input.store_events, 'events.parquet');
    await page.waitForSelector(`#chart-active-users[data-dau-sum="${sum(r.activity.dau)}"]`, { timeout: LOAD_TIMEOUT });
    assertEqual(await page.getAttribute('#chart-active-users', 'data-mau-sum'), String(sum(r.activity.mau)), 'MAU sum');
    assertEqual(await page.getAttribute('#chart-sessions', 'data-sessions'), String(r.sessions.count), 'sessions');
    assertEqual(await page.getAttribute('#dataset', 'data-users'), String(r.input.store_users), 'users');
    // The load's profile says the decoding happened on the second thread.
    await page.click('#tab-profile');
    await page.waitForSelector('#chart-profile-load[data-state="ready"]');
    const details = await page.getAttribute('#chart-profile-load', 'data-details');
    assert(details.split('|')[0].includes('second thread'), `decode stage detail: ${details}`);
    assertEqual(errors, [], 'console errors');
    await page.close();
    fs.rmSync(dir, { recursive: true, force: true });
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
    const { page } = await openPage(context, `${base}/?gap=abc&tz=Mars%2FOlympus&def=core&expand=chart-nope`);
    await expectMetrics(page, 'def=core');
    const text = await page.textContent('#param-issues');
    assert(text.includes('gap') && text.includes('abc'), `names the bad gap: ${text}`);
    assert(text.includes('tz') && text.includes('Mars/Olympus'), `names the bad time zone: ${text}`);
    assert(text.includes('expand') && text.includes('chart-nope'), `names the unknown chart: ${text}`);
    assertEqual(await page.locator('figure.card.expanded').count(), 0, 'no chart expanded');
    assertEqual(search(page), 'def=core', 'the corrected link keeps the good setting');
    await page.close();
  }],
  ['every chart card is drawn: not blank, not collapsed, crisp at the device pixel ratio', async () => {
    const { page, errors } = await openPage(context, `${base}/?seg=country`);
    for (const id of REPORT_CARDS) await expectCard(page, id, 'seg=country');
    await page.waitForSelector('#chart-events-per-day[data-state="ready"]');
    for (const id of [...REPORT_CARDS, 'chart-events-per-day']) {
      const s = await canvasStats(page, id);
      assert(s.cssWidth >= 380 && s.cssHeight >= 200, `${id} collapsed: ${s.cssWidth}×${s.cssHeight}`);
      assert(s.width >= s.cssWidth && s.height >= s.cssHeight, `${id} canvas not at device pixels: ${s.width}×${s.height}`);
      assert(s.ink > 0.01, `${id} looks blank (ink ${s.ink})`);
      assert(s.colours >= 4, `${id} has too few colours (${s.colours}): axes only?`);
    }
    // The element screenshot of a card is an image of a sensible size too.
    const png = await page.locator('#chart-active-users canvas').screenshot();
    assert(png.length > 5000, `active-users screenshot suspiciously small (${png.length} bytes)`);
    await page.screenshot({ path: path.join(os.tmpdir(), 'pulse-dashboard-all.png'), fullPage: true });
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['chart numbers equal the engine: months, L7/L30, distributions, outliers, skew, segments', async () => {
    const params = 'outlier=pct&pct=95&policy=flag&seg=country';
    const { page } = await openPage(context, `${base}/?${params}`);
    const r = await expectCard(page, 'chart-months', params);
    const attr = (id, a) => page.getAttribute(`#${id}`, `data-${a}`);
    for (const id of REPORT_CARDS) await expectCard(page, id, params);
    assertEqual(await attr('chart-months', 'actives'), r.activity.months.map((m) => m.actives).join(','), 'monthly actives');
    assertEqual(await attr('chart-l7', 'counts'), r.activity.l7.counts.join(','), 'L7');
    assertEqual(await attr('chart-l30', 'counts'), r.activity.l30.counts.join(','), 'L30');
    assertEqual(await attr('chart-l30', 'as-of'), r.activity.l30.as_of, 'L30 as of');
    const d = r.sessions.duration;
    assertEqual(await attr('chart-session-duration', 'detected'), String(d.detected), 'session outliers detected');
    assertEqual(await attr('chart-session-duration', 'outlier-bucket'), String(d.outlier_bucket), 'flagged bucket');
    assertEqual(await attr('chart-session-duration', 'threshold-ms'), String(d.threshold_ms), 'threshold');
    assertEqual(await attr('chart-events-per-session', 'total'), String(r.sessions.events_per_session.total), 'events per session total');
    assertEqual(await attr('chart-sessions-per-user', 'count'), String(r.sessions.per_user.count), 'users in sessions per user');
    const e = r.event_durations;
    assertEqual(await attr('chart-outliers-events', 'detected'), String(e.detected), 'event outliers detected');
    assertEqual(await attr('chart-outliers-events', 'after-sum-ms'), String(e.after.sum_ms), 'event durations after policy');
    assertEqual(Number(await attr('chart-top-users', 'top-share')), r.skew.top_share, 'top users share');
    assertEqual(Number(await attr('chart-partitions', 'imbalance')), r.skew.partitioning.imbalance, 'partition imbalance');
    assertEqual(await attr('chart-segments', 'labels'), r.segments.segments.map((g) => g.label).join('|'), 'segment labels');
    assertEqual(await attr('chart-segments', 'dau-sums'), r.segments.segments.map((g) => sum(g.dau)).join(','), 'segment DAU sums');
    assertEqual(await attr('chart-segment-months', 'actives'), r.segments.segments.map((g) => g.months.map((m) => m.actives).join(',')).join('|'), 'monthly actives per segment');
    // The heatmap's read-out names the cell under the pointer (row and column).
    await page.locator('#chart-segment-months canvas').hover(); // scrolls it into view, pointer at the centre
    const cellText = await (await page.waitForSelector('#chart-segment-months .readout')).textContent();
    const seg = r.segments.segments.find((g) => cellText.includes(`segment ${g.label} ·`));
    assert(seg, `read-out names a segment: ${cellText}`);
    const m = seg.months.find((mm) => cellText.includes(`month ${mm.start.slice(0, 7)}`));
    assert(m && cellText.replace(/,/g, '').includes(String(m.actives)), `read-out shows that cell's actives: ${cellText}`);
    await page.close();
  }],
  ['CSV downloads equal the engine; PNG download is a PNG', async () => {
    const params = 'policy=flag&seg=device_type';
    const { page } = await openPage(context, `${base}/?${params}`);
    const r = await expectCard(page, 'chart-active-users', params);
    await expectCard(page, 'chart-segments', params);
    const a = r.activity;
    assertCsvEqual(await downloadCsv(page, 'chart-active-users'), ['date', 'dau', 'wau', 'mau', 'dau_mau'],
      r.axis.dates.map((d, i) => [d, a.dau[i], a.wau[i], a.mau[i], a.dau_mau[i]]), 'active users');
    const h = r.sessions.duration;
    assertCsvEqual(await downloadCsv(page, 'chart-session-duration'), ['lower_ms', 'upper_ms', 'count'],
      [...h.histogram.map((b) => [b.lower_ms, b.upper_ms, b.count]), ['outlier_bucket', null, h.outlier_bucket]], 'session durations');
    assertCsvEqual(await downloadCsv(page, 'chart-months'), ['start', 'end', 'partial', 'actives'],
      a.months.map((m) => [m.start, m.end, String(m.partial), m.actives]), 'months');
    const segs = r.segments.segments;
    assertCsvEqual(await downloadCsv(page, 'chart-segments'), ['date', ...segs.map((g) => `${g.label} dau`)],
      r.axis.dates.map((d, i) => [d, ...segs.map((g) => g.dau[i])]), 'segments');
    assertCsvEqual(await downloadCsv(page, 'chart-events-per-session'), ['value', 'count'],
      r.sessions.events_per_session.frequencies, 'events per session');
    assertCsvEqual(await downloadCsv(page, 'chart-top-users'), ['rank', 'user', 'events', 'share'],
      r.skew.top_users.map((u, i) => [i + 1, u.user, u.events, u.share]), 'top users');
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#chart-sessions .dl-png')]);
    assertEqual(png.suggestedFilename(), 'pulse-chart-sessions.png', 'PNG file name');
    const bytes = fs.readFileSync(await png.path());
    assertEqual([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG', 'PNG magic');
    assert(bytes.length > 5000, `PNG too small (${bytes.length} bytes)`);
    await page.close();
  }],
  ['hover and arrow keys read out the date and values under the pointer', async () => {
    const { page } = await openPage(context, `${base}/`);
    const r = await expectCard(page, 'chart-active-users', '');
    const box = await (await page.$('#chart-active-users canvas')).boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const out = await page.waitForSelector('#chart-active-users .readout');
    const i = Number(await out.getAttribute('data-index'));
    const text = await out.textContent();
    assert(text.includes(r.axis.dates[i]), `read-out names the day ${r.axis.dates[i]}: ${text}`);
    assert(text.replace(/,/g, '').includes(`DAU${r.activity.dau[i]}`), `read-out shows DAU ${r.activity.dau[i]}: ${text}`);
    await page.focus('#chart-sessions canvas');
    await page.keyboard.press('Home');
    const first = await page.textContent('#chart-sessions .readout');
    assert(first.includes(r.axis.dates[0]) && first.replace(/,/g, '').includes(String(r.sessions.per_day[0])), `keyboard read-out of day 0: ${first}`);
    await page.close();
  }],
  ['expand: the URL keeps the expanded chart, reload keeps it, Back collapses, no recompute', async () => {
    const { page } = await openPage(context, `${base}/?gap=10m`);
    await expectMetrics(page, 'gap=10m');
    const before = (await canvasStats(page, 'chart-months')).cssHeight;
    await page.click('#chart-months .expand');
    await page.waitForSelector('#chart-months.expanded');
    assertEqual(search(page), 'gap=10m&expand=chart-months', 'URL after expanding');
    await page.waitForFunction((h) => document.querySelector('#chart-months canvas').clientHeight > h, before);
    await page.waitForTimeout(100);
    const big = await canvasStats(page, 'chart-months');
    assert(big.height >= big.cssHeight && big.ink > 0.005, `expanded chart redrawn at its new size: ${JSON.stringify(big)}`);
    assertEqual(await page.getAttribute('#chart-months .expand', 'aria-pressed'), 'true', 'toggle state');
    await page.reload();
    await page.waitForSelector('#chart-months.expanded[data-state="ready"]', { timeout: LOAD_TIMEOUT });
    await page.goBack();
    await page.waitForFunction(() => !document.querySelector('#chart-months').classList.contains('expanded'));
    assertEqual(search(page), 'gap=10m', 'URL after Back');
    await expectMetrics(page, 'gap=10m');
    await page.close();
  }],
  ['date range: URL, engine numbers, reload and Back', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await setControl(page, '#ctl-from', '2023-03-01');
    await expectMetrics(page, 'from=2023-03-01');
    await setControl(page, '#ctl-to', '2023-05-15');
    const r = await expectMetrics(page, 'from=2023-03-01&to=2023-05-15');
    assertEqual(search(page), 'from=2023-03-01&to=2023-05-15', 'URL');
    await expectCard(page, 'chart-months', 'from=2023-03-01&to=2023-05-15');
    assertEqual(await page.getAttribute('#chart-months', 'data-actives'), r.activity.months.map((m) => m.actives).join(','), 'months in range');
    assertEqual(await page.getAttribute('#chart-active-users', 'data-days'), String(r.axis.dates.length), 'days in range');
    await page.reload();
    await expectMetrics(page, 'from=2023-03-01&to=2023-05-15');
    assertEqual(await page.inputValue('#ctl-to'), '2023-05-15', 'to after reload');
    await page.goBack();
    await expectMetrics(page, 'from=2023-03-01');
    await page.close();
  }],
  ['definition parameters: core K/actions/strict, session and custom, actions and inactive', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.selectOption('#ctl-def', 'core');
    await setControl(page, '#ctl-k', '3');
    await expectMetrics(page, 'def=core&k=3');
    await setControl(page, '#ctl-core', 'create, share');
    await expectMetrics(page, 'def=core&k=3&core=create,share');
    await page.check('#ctl-strict');
    await expectMetrics(page, 'def=core&k=3&core=create,share&strict=1');
    assertEqual(search(page), 'def=core&k=3&core=create%2Cshare&strict=1', 'URL (core)');
    await page.goBack();
    await expectMetrics(page, 'def=core&k=3&core=create,share');
    await page.selectOption('#ctl-def', 'session');
    await setControl(page, '#ctl-minsess', '5');
    await expectMetrics(page, 'def=session&k=3&core=create,share&minsess=5m');
    await page.selectOption('#ctl-def', 'custom');
    await setControl(page, '#ctl-win', '14');
    await setControl(page, '#ctl-cmin', '3');
    await expectMetrics(page, 'def=custom&k=3&core=create,share&minsess=5m&win=14&cmin=3');
    await setControl(page, '#ctl-actions', 'create,edit');
    await expectMetrics(page, 'def=custom&actions=create,edit&k=3&core=create,share&minsess=5m&win=14&cmin=3');
    await setControl(page, '#ctl-inactive', '');
    const r = await expectMetrics(page, 'def=custom&actions=create,edit&inactive=&k=3&core=create,share&minsess=5m&win=14&cmin=3');
    assertEqual(search(page), r.query, 'URL is the canonical query');
    await page.reload();
    await expectMetrics(page, r.query);
    assertEqual(await page.inputValue('#ctl-win'), '14', 'window after reload');
    await page.selectOption('#ctl-wstart', 'sun');
    await expectMetrics(page, `${r.query}&wstart=sun`);
    await page.close();
  }],
  ['a typed value the engine rejects says why and keeps the previous setting', async () => {
    const { page } = await openPage(context, `${base}/?def=core`);
    await expectMetrics(page, 'def=core');
    await setControl(page, '#ctl-k', '0');
    const text = await (await page.waitForSelector('#param-issues')).textContent();
    assert(text.includes('k') && text.includes('1 to 10000'), `names the bad K: ${text}`);
    assertEqual(search(page), 'def=core', 'URL unchanged');
    await page.close();
  }],
  ['idle time after the first compute sorts the event durations for the outlier knobs', async () => {
    // The first compute selects the event-duration percentiles instead of sorting; when the
    // worker then receives nothing for a while it sorts them, so the first outlier change
    // reads sorted values — with the engine's numbers.
    const { page, errors } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.waitForTimeout(2500);
    await page.selectOption('#ctl-outlier', 'pct');
    const r = await expectCard(page, 'chart-outliers-events', 'outlier=pct');
    assertEqual(await page.getAttribute('#chart-outliers-events', 'data-detected'), String(r.event_durations.detected), 'event outliers detected (p99)');
    await page.click('#tab-profile');
    await page.waitForSelector('#chart-profile-compute[data-state="ready"]');
    const details = (await page.getAttribute('#chart-profile-compute', 'data-details')).split('|');
    const stage = details.find((d) => d.startsWith('event-duration outliers'));
    assert(stage && stage.startsWith('event-duration outliers, app-version percentiles (durations sorted earlier)'), `event-duration stage: ${stage}`);
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],
  ['sessions, outliers and duplicates controls equal the engine', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.check('#ctl-midnight');
    await expectMetrics(page, 'midnight=1');
    // The midnight split reads local days: under it a zone change cuts again (the worker's gap
    // index codes no day; the day changes are ORed into the cuts); without it the cuts are
    // kept and only their days move.
    await page.selectOption('#ctl-tz', 'Asia/Tokyo');
    await expectMetrics(page, 'midnight=1&tz=Asia%2FTokyo');
    await page.uncheck('#ctl-midnight');
    await expectMetrics(page, 'tz=Asia%2FTokyo');
    await page.selectOption('#ctl-tz', 'UTC');
    await expectMetrics(page, '');
    await page.check('#ctl-midnight');
    await expectMetrics(page, 'midnight=1');
    await page.selectOption('#ctl-maxlen', '4h');
    await expectMetrics(page, 'maxlen=4h&midnight=1');
    await page.selectOption('#ctl-dups', 'drop');
    let q = 'maxlen=4h&midnight=1&dups=drop';
    await expectMetrics(page, q);
    await page.selectOption('#ctl-policy', 'filter');
    q += '&policy=filter';
    await setControl(page, '#ctl-cap', '60');
    q = 'maxlen=4h&midnight=1&cap=1h&policy=filter&dups=drop';
    let r = await expectCard(page, 'chart-outliers-events', q);
    assertEqual(await page.getAttribute('#chart-outliers-events', 'data-touched'), String(r.event_durations.touched), 'touched (cap 1h, filter)');
    assertEqual(await page.getAttribute('#chart-outliers-sessions', 'data-after-count'), String(r.sessions.duration.after.count), 'sessions after filter');
    await page.selectOption('#ctl-outlier', 'pct');
    await setControl(page, '#ctl-pct', '90');
    q = 'maxlen=4h&midnight=1&outlier=pct&cap=1h&pct=90&policy=filter&dups=drop';
    r = await expectCard(page, 'chart-session-duration', q);
    assertEqual(await page.getAttribute('#chart-session-duration', 'data-threshold-ms'), String(r.sessions.duration.threshold_ms), 'p90 threshold');
    await page.selectOption('#ctl-outlier', 'z');
    await setControl(page, '#ctl-z', '2');
    q = 'maxlen=4h&midnight=1&outlier=z&cap=1h&pct=90&z=2&policy=filter&dups=drop';
    r = await expectCard(page, 'chart-outliers-events', q);
    assertEqual(await page.getAttribute('#chart-outliers-events', 'data-detected'), String(r.event_durations.detected), 'z detected');
    assertEqual(search(page), r.query, 'URL is the canonical query');
    await page.close();
  }],
  ['segment breakdown: column, filter values and top N', async () => {
    const { page } = await openPage(context, `${base}/`);
    await expectMetrics(page, '');
    await page.selectOption('#ctl-seg', 'country');
    let r = await expectCard(page, 'chart-segments', 'seg=country');
    assertEqual(await page.getAttribute('#chart-segments', 'data-users'), r.segments.segments.map((g) => g.users).join(','), 'users per country');
    await setControl(page, '#ctl-topn', '2');
    r = await expectCard(page, 'chart-segments', 'seg=country&topn=2');
    assertEqual(await page.getAttribute('#chart-segments', 'data-labels'), r.segments.segments.map((g) => g.label).join('|'), 'top 2 + other');
    await setControl(page, '#ctl-segv', 'US,DE');
    r = await expectMetrics(page, 'seg=country&segv=US,DE&topn=2');
    await expectCard(page, 'chart-segments', 'seg=country&segv=US,DE&topn=2');
    assertEqual(await page.getAttribute('#chart-segments', 'data-dau-sums'), r.segments.segments.map((g) => sum(g.dau)).join(','), 'filtered DAU per country');
    assertEqual(search(page), 'seg=country&segv=US%2CDE&topn=2', 'URL');
    await page.goBack();
    await expectCard(page, 'chart-segments', 'seg=country&topn=2');
    await page.close();
  }],
  ['Copy link copies the address; the link reproduces the view', async () => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const { page } = await openPage(context, `${base}/?gap=15m&seg=device_type&expand=chart-segments`);
    await expectMetrics(page, 'gap=15m&seg=device_type');
    await page.click('#copy-link');
    await page.waitForSelector('#copy-status:has-text("copied")');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assertEqual(copied, page.url(), 'clipboard holds the page URL');
    const other = await context.newPage();
    await other.goto(copied);
    await expectMetrics(other, 'gap=15m&seg=device_type');
    await other.waitForSelector('#chart-segments.expanded');
    await other.close();
    await page.close();
  }],
  ['src= fetches a public Parquet file with progress; failures say why', async () => {
    const { page, errors } = await openPage(context, `${base}/?src=${encodeURIComponent(`${base}/fixtures/polars_zstd.parquet`)}&gap=10m`);
    await expectRows(page, rowsOf('polars_zstd.parquet'), 'polars_zstd.parquet');
    const st = await page.waitForSelector('#src-status[data-state="fetched"]');
    assertEqual(await st.getAttribute('data-bytes'), String(fs.statSync(path.join(FIX, 'polars_zstd.parquet')).size), 'bytes fetched');
    assert(search(page).includes('gap=10m') && search(page).includes('src='), `settings and src stay in the link: ${search(page)}`);
    assertEqual(errors, [], 'console errors');
    await page.close();
    const missing = (await openPage(context, `${base}/?src=${encodeURIComponent(`${base}/fixtures/nope.parquet`)}`)).page;
    const msg = await (await missing.waitForSelector('#src-status[data-state="error"]', { timeout: LOAD_TIMEOUT })).textContent();
    assert(msg.includes('HTTP 404'), `names the HTTP status: ${msg}`);
    await expectRows(missing, sampleOverview.events, 'sample');
    await missing.close();
    const refused = (await openPage(context, `${base}/?src=${encodeURIComponent('http://127.0.0.1:9/x.parquet')}`)).page;
    const why = await (await refused.waitForSelector('#src-status[data-state="error"]', { timeout: LOAD_TIMEOUT })).textContent();
    assert(why.includes('network error') && why.includes('CORS'), `explains a network/CORS failure: ${why}`);
    await refused.close();
    const scheme = (await openPage(context, `${base}/?src=ftp%3A%2F%2Fexample.org%2Fx.parquet`)).page;
    const bad = await (await scheme.waitForSelector('#src-status[data-state="error"]', { timeout: LOAD_TIMEOUT })).textContent();
    assert(bad.includes('https://'), `asks for https: ${bad}`);
    await scheme.close();
    const notParquet = (await openPage(context, `${base}/?src=${encodeURIComponent(`${base}/fixtures/not_parquet.parquet`)}`)).page;
    await expectError(notParquet, 'not a Parquet or CSV file');
    await notParquet.close();
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
