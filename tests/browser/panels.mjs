// Browser tests for the column-mapping editor, the "Run at scale" panel and the insight panels
// (issues 3, 6, 8), against the release build in dist/. Usage: node tests/browser/panels.mjs [filter]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch, openPage, runTests, assert, assertEqual } from './harness.mjs';
import { expectRows, expectError, dropFiles, search, LOAD_TIMEOUT } from './pages.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');
const PULSE = path.join(ROOT, 'target/debug/pulse');
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
