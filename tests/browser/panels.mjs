// Browser tests for the column-mapping editor, the "Run at scale" panel and the insight panels
// (issues 3, 6, 8), against the release build in dist/. Usage: node tests/browser/panels.mjs [filter]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  serve, launch, openPage, runTests, assert, assertEqual, downloadCsv,
  LOAD_TIMEOUT, PULSE, cliMetrics, expectCard, expectRows, expectError, inkFraction, dropFiles, search,
} from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');
assert(fs.existsSync(path.join(DIST, 'index.html')), 'dist/index.html missing: build first (./pulse build)');

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-panels-'));

// 20 events of 3 users whose columns detection cannot place (no user/time synonym); 4 rows
// have a 1990 `received_at` (dropped as "before 2000" when time is mapped to it).
// The same file as tests/mapping.rs.
function mappingCsv() {
  const lines = ['who,sent_at,received_at,what'];
  for (let i = 0; i < 20; i++) {
    const user = ['ann', 'bob', 'cyd'][i % 3];
    const day = String(1 + Math.floor(i / 5)).padStart(2, '0');
    const min = String(i).padStart(2, '0');
    const received = i % 5 === 4 ? '1990-01-01 00:00:00' : `2023-07-${day} 11:${min}:00`;
    lines.push(`${user},2023-07-${day} 10:${min}:00,${received},${i % 2 === 0 ? 'open' : 'create'}`);
  }
  return lines.join('\n') + '\n';
}
const MAPPING_CSV = path.join(TMP, 'events.csv');
fs.writeFileSync(MAPPING_CSV, mappingCsv());
fs.writeFileSync(path.join(TMP, 'canonical-profile.csv'), 'user_id,timestamp,action_type\nu1,2023-07-01 10:00:00,open\nu2,2023-07-01 11:00:00,create\nu1,2023-07-02 10:00:00,open\n');

/** What the native CLI loads from `file` with permalink `params` (its col.* keys). */
function cliOverview(file, params) {
  return JSON.parse(execFileSync(PULSE, ['overview', '--events', file, '--params', params], { encoding: 'utf8' }));
}

/** The CLI's `spark-sizing --json` / `export-spark` for the sample with these settings. */
function cliScale(params, gb, node) {
  const common = ['--events', 'sample', '--target-gb', gb, '--node', node];
  const sizing = JSON.parse(execFileSync(PULSE, ['spark-sizing', ...common, '--params', params, '--json'], { encoding: 'utf8' }));
  const job = execFileSync(PULSE, ['export-spark', ...common, '--params', params], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { sizing, job };
}

const sumOf = (xs) => xs.reduce((a, b) => a + b, 0);
/** Rust's f64 Display for the numbers the page writes (shortest round-trip, no exponent). */
const num = (v) => (v === null || v === undefined ? '' : Number.isInteger(v) ? String(v) : String(v));

const attr = (page, id, a) => page.getAttribute(`#${id}`, `data-${a}`);

const { server, base } = await serve(DIST);
const { context } = await launch();

async function choose(page, select, value) {
  await page.selectOption(select, value);
}

const tests = [
  ['column mapping: detection fails, the editor picks columns, the URL keeps them', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await page.waitForSelector('#dataset[data-rows]', { timeout: LOAD_TIMEOUT });
    await dropFiles(page, [MAPPING_CSV]);
    await expectError(page, 'Columns found: who, sent_at, received_at, what');
    await page.waitForSelector('#mapping-editor[data-state="needed"]');
    // Only columns that can play the role are offered: all four are text here.
    const userOptions = await page.$$eval('#map-user option', (os) => os.map((o) => o.value));
    assertEqual(userOptions, ['', 'who', 'sent_at', 'received_at', 'what'], 'user id choices');

    await choose(page, '#map-user', 'who');
    await page.waitForFunction(() => location.search.includes('col.user=who'));
    await choose(page, '#map-time', 'sent_at');
    const bySent = cliOverview(MAPPING_CSV, 'col.user=who&col.time=sent_at');
    assertEqual(bySent.events, 20, 'CLI rows with sent_at');
    await expectRows(page, bySent.events, 'events.csv');
    await page.waitForSelector('#mapping-editor[data-state="applied"]');
    // Nothing was detected, so the link carries every role.
    assertEqual(new URLSearchParams(search(page)).get('col.time'), 'sent_at', 'col.time in the URL');

    await choose(page, '#map-time', 'received_at');
    const byReceived = cliOverview(MAPPING_CSV, 'col.user=who&col.time=received_at');
    assertEqual(byReceived.events, 16, 'CLI rows with received_at');
    await expectRows(page, byReceived.events, 'events.csv');
    assertEqual(await page.getAttribute('#q-dropped-time-too-early', 'data-value'), '4', 'rows before 2000');
    assertEqual(await page.getAttribute('#map-time', 'data-value'), 'received_at', 'editor shows the mapping in effect');

    // Back: the previous mapping, decoded again.
    await page.goBack();
    await page.waitForFunction(() => new URLSearchParams(location.search).get('col.time') === 'sent_at');
    await expectRows(page, bySent.events, 'events.csv');

    // The link applies to data dropped after opening it.
    await page.goForward();
    await expectRows(page, byReceived.events, 'events.csv');
    const link = page.url();
    const { page: page2 } = await openPage(context, link);
    await page2.waitForSelector('#dataset[data-rows]', { timeout: LOAD_TIMEOUT });
    await dropFiles(page2, [MAPPING_CSV]);
    await expectRows(page2, byReceived.events, 'events.csv');
    assertEqual(await page2.getAttribute('#map-user', 'data-value'), 'who', 'user id from the link');
    await page2.close();
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],

  ['column mapping: a link made for another file falls back to detection and says so', async () => {
    const fixtures = fs.mkdtempSync(path.join(TMP, 'fx-'));
    const csv = path.join(fixtures, 'canonical.csv');
    fs.writeFileSync(csv, 'user_id,timestamp,action_type\nu1,2023-07-01 10:00:00,open\nu2,2023-07-01 11:00:00,create\nu1,2023-07-02 10:00:00,open\n');
    const { page } = await openPage(context, `${base}/?col.user=who&col.time=received_at`);
    await page.waitForSelector('#dataset[data-rows]', { timeout: LOAD_TIMEOUT });
    await dropFiles(page, [csv]);
    await expectRows(page, 3, 'canonical.csv');
    const note = await page.textContent('#mapping-note');
    assert(note.includes('col.user=who') && note.includes('detected mapping is used'), `note: ${note}`);
    // The URL now describes the data in view: detection, so no col.* keys.
    assert(!search(page).includes('col.'), `stale mapping left in the URL: ${search(page)}`);
    await page.close();
  }],

  ['column mapping: a malformed col.* key in a link is reported and dropped', async () => {
    const { page } = await openPage(context, `${base}/?col.usr=x&gap=10m`);
    await page.waitForSelector('#param-issues li[data-key="col.usr"]', { timeout: LOAD_TIMEOUT });
    const text = await page.textContent('#param-issues');
    assert(text.includes('unknown column role'), text);
    assertEqual(search(page), 'gap=10m', 'corrected link');
    await page.close();
  }],

  ['run at scale: sizing and the PySpark job equal the CLI, settings in the URL', async () => {
    const { page, errors } = await openPage(context, `${base}/?gap=10m&scale.gb=1000&scale.node=8x32x10`);
    await page.waitForSelector('#dataset[data-rows]', { timeout: LOAD_TIMEOUT });
    await page.click('#scale-panel summary');
    const check = async (params, gb, node) => {
      const { sizing, job } = cliScale(params, gb, node);
      await page.waitForSelector(`#scale-advice[data-node="${node}"][data-target-gb="${gb}"]`, { timeout: LOAD_TIMEOUT });
      const attr = (a) => page.getAttribute('#scale-advice', a);
      assertEqual(await attr('data-executors'), String(sizing.executors), 'executors');
      assertEqual(await attr('data-cores-per-executor'), String(sizing.cores_per_executor), 'cores per executor');
      assertEqual(await attr('data-heap-gb'), String(sizing.executor_heap_gb), 'executor heap');
      assertEqual(await attr('data-shuffle-partitions'), String(sizing.shuffle_partitions), 'shuffle partitions');
      assertEqual(await attr('data-recommended-nodes'), String(sizing.recommended_nodes), 'nodes');
      const submit = await page.textContent('#scale-submit');
      assert(submit.startsWith('spark-submit') && submit.includes(`--executor-memory ${sizing.executor_heap_gb}g`), submit);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#scale-download')]);
      assertEqual(download.suggestedFilename(), 'pulse_job.py', 'job file name');
      const text = fs.readFileSync(await download.path(), 'utf8');
      assert(text === job, `downloaded job differs from \`pulse export-spark\` (${text.length} vs ${job.length} bytes)`);
    };
    await check('gap=10m', '1000', '8x32x10');
    assertEqual(await page.inputValue('#scale-node'), '8x32x10', 'node shape from the link');

    await page.selectOption('#scale-gb', '500');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('scale.gb') === '500');
    await check('gap=10m', '500', '8x32x10');
    await page.fill('#scale-node', '16x128x4');
    await page.press('#scale-node', 'Enter');
    await page.locator('#scale-node').blur();
    await page.waitForFunction(() => new URLSearchParams(location.search).get('scale.node') === '16x128x4');
    await check('gap=10m', '500', '16x128x4');
    // The job follows the dashboard's settings.
    await page.goto(page.url().replace('gap=10m', 'gap=5m'));
    await page.click('#scale-panel summary');
    await check('gap=5m', '500', '16x128x4');
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],

  ['run at scale: a malformed node shape in a link is reported and the default used', async () => {
    const { page } = await openPage(context, `${base}/?scale.node=lots&scale.gb=-1`);
    await page.waitForSelector('#param-issues li[data-key="scale.node"]', { timeout: LOAD_TIMEOUT });
    await page.waitForSelector('#param-issues li[data-key="scale.gb"]');
    assertEqual(search(page), '', 'corrected link');
    await page.close();
  }],

  ['retention: heatmap and curve equal the engine; period, cohort and view knobs live in the URL', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    let r = await expectCard(page, 'chart-retention', '');
    const check = async (r, view) => {
      const cohorts = r.retention.cohorts;
      assertEqual(await attr(page, 'chart-retention', 'cohorts'), String(cohorts.length), 'cohorts');
      assertEqual(await attr(page, 'chart-retention', 'sizes'), String(sumOf(cohorts.map((c) => c.size))), 'cohort sizes');
      assertEqual(await attr(page, 'chart-retention', 'retained-sums'), cohorts.map((c) => sumOf(c.retained)).join(','), 'retained per cohort');
      assertEqual(await attr(page, 'chart-retention', 'view'), view, 'view');
    };
    await check(r, 'recurring');
    assert(r.retention.cohorts.length > 10, 'the sample has weekly cohorts');
    // CSV: one row per cohort and period, the engine's numbers unchanged.
    const csv = await downloadCsv(page, 'chart-retention');
    assertEqual(csv[0], ['cohort_start', 'cohort_size', 'period', 'retained', 'rate', 'cumulative', 'cumulative_rate'], 'CSV header');
    const expected = r.retention.cohorts.flatMap((c) => c.retained.map((n, i) => [c.start, String(c.size), String(i), String(n), num(c.rate[i]), String(c.cumulative[i]), num(c.cumulative_rate[i])]));
    assertEqual(csv.slice(1), expected, 'retention CSV');
    const ink = await inkFraction(page, '#chart-retention canvas');
    assert(ink > 0.1, `heatmap looks blank (ink ${ink})`);
    const curve = await expectCard(page, 'chart-retention-curve', '');
    assertEqual(await attr(page, 'chart-retention-curve', 'week1'), `${(curve.retention.average[1] * 100).toFixed(1)}%`, 'average week-1 retention');

    await page.selectOption('#knob-rgran', 'month');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('rgran') === 'month');
    r = await expectCard(page, 'chart-retention', 'rgran=month');
    await check(r, 'recurring');
    await page.selectOption('#knob-rview', 'cumulative');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('rview') === 'cumulative');
    await page.waitForSelector('#chart-retention[data-view="cumulative"]');
    await page.fill('#knob-rspan', '4');
    await page.press('#knob-rspan', 'Enter');
    r = await expectCard(page, 'chart-retention', 'rgran=month&rspan=4');
    await check(r, 'cumulative');
    assertEqual(r.retention.cohorts.length <= 4, true, 'span of 4 months');
    // Reload: the same view; Back: the previous span.
    await page.reload();
    r = await expectCard(page, 'chart-retention', 'rgran=month&rspan=4');
    await check(r, 'cumulative');
    await page.goBack();
    await expectCard(page, 'chart-retention', 'rgran=month');
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],

  ['lifecycle, power users, versions, devices and stickiness by segment equal the engine', async () => {
    const params = 'seg=country&lgran=month&power=5&vtop=3';
    const { page, errors } = await openPage(context, `${base}/?${params}`);
    const r = await expectCard(page, 'chart-lifecycle', params);
    const periods = r.lifecycle.periods;
    assertEqual(await attr(page, 'chart-lifecycle', 'periods'), String(periods.length), 'lifecycle periods');
    for (const k of ['new', 'returning', 'resurrecting', 'dormant']) {
      assertEqual(await attr(page, 'chart-lifecycle', `${k}-sum`), String(sumOf(periods.map((p) => p[k]))), `lifecycle ${k}`);
    }
    await expectCard(page, 'chart-power', params);
    assertEqual(await attr(page, 'chart-power', 'top-users'), String(r.power_users.by_duration.users), 'power users');
    assertEqual(await attr(page, 'chart-power', 'share-duration'), num(r.power_users.by_duration.share), 'power share of time');
    assertEqual(await attr(page, 'chart-power', 'share-days'), num(r.power_users.by_active_days.share), 'power share of days');
    await expectCard(page, 'chart-versions', params);
    assertEqual(await attr(page, 'chart-versions', 'labels'), r.versions.versions.map((v) => v.label).join('|'), 'versions');
    assertEqual(r.versions.versions.length, 4, 'top 3 versions + other');
    assertEqual(await attr(page, 'chart-versions', 'p95'), r.versions.versions.map((v) => num(v.p95_ms)).join(','), 'p95 per version');
    await expectCard(page, 'chart-devices', params);
    assertEqual(await attr(page, 'chart-devices', 'eta-squared'), num(r.versions.devices.eta_squared), 'eta squared');
    await expectCard(page, 'chart-segment-stickiness', params);
    assertEqual(await attr(page, 'chart-segment-stickiness', 'labels'), r.segments.segments.map((s) => s.label).join('|'), 'segments');
    const csv = await downloadCsv(page, 'chart-segment-stickiness');
    assertEqual(csv[1].slice(1), r.segments.segments.map((s) => num(s.dau_mau[0])), 'first day DAU/MAU per segment');
    // A knob: the power-user share follows the engine.
    await page.fill('#knob-power', '10');
    await page.press('#knob-power', 'Enter');
    const r10 = await expectCard(page, 'chart-power', `${params.replace('power=5', 'power=10')}`);
    assertEqual(await attr(page, 'chart-power', 'top-users'), String(r10.power_users.by_duration.users), 'top 10% users');
    for (const id of ['chart-lifecycle', 'chart-versions', 'chart-power']) {
      const ink = await inkFraction(page, `#${id} canvas`);
      assert(ink > 0.02, `${id} looks blank (ink ${ink})`);
    }
    assertEqual(errors, [], 'console errors');
    await page.close();
  }],

  ['anomalies: listed with their size, marked on the active-users chart, threshold in the URL', async () => {
    const { page } = await openPage(context, `${base}/?anomz=6`);
    let r = await expectCard(page, 'chart-anomalies', 'anomz=6');
    const flagged = r.anomalies.flagged;
    assertEqual(await attr(page, 'chart-anomalies', 'flagged'), String(flagged.length), 'flagged days');
    assertEqual(await page.$$eval('#anomaly-list tbody tr', (rows) => rows.length), flagged.length, 'listed days');
    assertEqual(await attr(page, 'chart-anomalies', 'dates'), flagged.map((f) => `${f.date}:${f.metric}`).join(','), 'flagged dates');
    await expectCard(page, 'chart-active-users', 'anomz=6');
    assertEqual(await attr(page, 'chart-active-users', 'anomalies'), String(flagged.filter((f) => f.metric === 'dau').length), 'DAU marks');
    await page.fill('#knob-anomz', '8');
    await page.press('#knob-anomz', 'Enter');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('anomz') === '8');
    r = await expectCard(page, 'chart-anomalies', 'anomz=8');
    assertEqual(await attr(page, 'chart-anomalies', 'flagged'), String(r.anomalies.flagged.length), 'flagged days at z > 8');
    assert(r.anomalies.flagged.length < flagged.length, 'a higher threshold flags fewer days');
    await page.close();
  }],

  ['profile tab: the last recompute and load as stage timelines; the tab is in the URL', async () => {
    const { page, errors } = await openPage(context, `${base}/`);
    await page.waitForSelector('#chart-active-users[data-state="ready"]', { timeout: LOAD_TIMEOUT });
    await page.click('#tab-profile');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('tab') === 'profile');
    await page.waitForSelector('#chart-profile-compute[data-state="ready"]');
    const stages = (await attr(page, 'chart-profile-compute', 'stages')).split(',');
    for (const s of ['sessionize', 'activity', 'join', 'aggregate']) assert(stages.includes(s), `compute stage ${s} in ${stages}`);
    assert(Number(await attr(page, 'chart-profile-compute', 'total-ms')) > 0, 'compute wall time');
    const ink = await inkFraction(page, '#chart-profile-compute canvas');
    assert(ink > 0.01, `timeline looks blank (ink ${ink})`);
    const bpe = Number(await page.getAttribute('#profile-memory', 'data-bytes-per-event'));
    assert(bpe > 5 && bpe <= 24, `bytes per event ${bpe}`);
    // A file load has decode, map and sort stages.
    await dropFiles(page, [MAPPING_CSV.replace('events.csv', 'canonical-profile.csv')]);
    await page.waitForFunction(() => {
      const el = document.querySelector('#chart-profile-load');
      return el && (el.dataset.stages || '').includes('decode');
    }, null, { timeout: LOAD_TIMEOUT });
    const load = (await attr(page, 'chart-profile-load', 'stages')).split(',');
    for (const s of ['decode', 'map', 'sort']) assert(load.includes(s), `load stage ${s} in ${load}`);
    await page.goBack();
    await page.waitForSelector('#chart-active-users');
    assert(!(await page.$('#chart-profile-compute')), 'Back returns to the dashboard');
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
  fs.rmSync(TMP, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
