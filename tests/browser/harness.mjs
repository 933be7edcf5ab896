// Minimal harness for the browser tests: a static server for dist/ on 127.0.0.1 (at / and at a
// sub-path, as GitHub Pages serves it), Debian's Chromium driven by playwright-core, and a tiny
// test runner that prints "N passed, N failed".
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json',
  '.parquet': 'application/octet-stream', '.csv': 'text/csv', '.txt': 'text/plain',
};

/** Serve `root` on 127.0.0.1; `prefix` (e.g. "/pulse/") is also mapped to root. */
export function serve(root, extra = {}) {
  const server = http.createServer((req, res) => {
    let url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    for (const [p, dir] of Object.entries(extra)) {
      if (url.startsWith(p)) {
        return sendFile(res, path.join(dir, url.slice(p.length)));
      }
    }
    if (url.startsWith('/pulse/')) url = url.slice('/pulse'.length);
    if (url.endsWith('/')) url += 'index.html';
    sendFile(res, path.join(root, url));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

function sendFile(res, file) {
  fs.readFile(file, (err, data) => {
    if (err) { if (process.env.PULSE_DEBUG) console.log('404', file); res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'access-control-allow-origin': '*',
    });
    res.end(data);
  });
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A fresh Chromium profile for this run. */
export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  return { context, profile };
}

/** Open a page and record console errors and page errors. */
export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  return { page, errors };
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

// Dashboard helpers (chart cards: src/ui/card.rs), shared by run.mjs and panel tests.

/** Minimal RFC 4180 parser (quoted fields, doubled quotes). */
export function parseCsv(text) {
  const rows = []; let row = []; let field = ''; let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** Click a card's "Download CSV" and return the parsed file. */
export async function downloadCsv(page, id) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${id} .dl-csv`)]);
  assertEqual(download.suggestedFilename(), `pulse-${id}.csv`, 'CSV file name');
  return parseCsv(fs.readFileSync(await download.path(), 'utf8'));
}

/** A JSON number (or null) as the CSV writes it: same number, empty for null. */
const cell = (v) => (v === null || v === undefined ? '' : v);
export function assertCsvEqual(rows, header, expectedRows, what) {
  assertEqual(rows[0], header, `${what}: CSV header`);
  assertEqual(rows.length - 1, expectedRows.length, `${what}: CSV rows`);
  expectedRows.forEach((exp, i) => {
    exp.forEach((v, j) => {
      const got = rows[i + 1][j];
      const same = typeof v === 'number' ? Number(got) === v && got !== '' : String(cell(v)) === got;
      if (!same) throw new Error(`${what}: row ${i + 1} column ${header[j]}: expected ${v}, got ${got}`);
    });
  });
}

/** Canvas of a card: size, fraction of non-background pixels, distinct colours. */
export async function canvasStats(page, id) {
  return page.$eval(`#${id} canvas`, (canvas) => {
    const { width, height } = canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    const bg = [data[0], data[1], data[2]];
    let ink = 0; const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - bg[0]) + Math.abs(data[i + 1] - bg[1]) + Math.abs(data[i + 2] - bg[2]) > 30) {
        ink++;
        if (colours.size < 5000) colours.add((data[i] >> 3) << 10 | (data[i + 1] >> 3) << 5 | (data[i + 2] >> 3));
      }
    }
    return { cssWidth: canvas.clientWidth, cssHeight: canvas.clientHeight, width, height, ink: ink / (width * height), colours: colours.size };
  });
}

/** Set a text/number/date control the way a person does: type, then leave the field. */
export async function setControl(page, selector, value) {
  await page.fill(selector, value);
  await page.press(selector, 'Tab');
}

/** Run named async tests sequentially; print a summary line the CI understands. */
export async function runTests(tests, filter) {
  let passed = 0; let failed = 0;
  for (const [name, fn] of tests) {
    if (filter && !name.includes(filter)) continue;
    const t0 = Date.now();
    try {
      await fn();
      passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e && e.stack || e).split('\n').join('\n     ')}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

// Page helpers: waiting for a loaded dataset, an error or a card, and dropping files.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The native CLI (debug build): the reference the page's numbers are compared with. */
export const PULSE = path.join(ROOT, 'target/debug/pulse');

/** Every metric for the built-in sample as the native CLI computes it with permalink `params`. */
const cliCache = new Map();
export function cliMetrics(params) {
  if (!cliCache.has(params)) {
    const out = execFileSync(PULSE, ['metrics', '--events', 'sample', '--params', params, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
    cliCache.set(params, JSON.parse(out));
  }
  return cliCache.get(params);
}

/** Wait until card `id` shows the report for `params` (its data-query is the canonical query);
 * returns the CLI's report for the same params. */
export async function expectCard(page, id, params) {
  const r = cliMetrics(params);
  await page.waitForSelector(`#${id}[data-state="ready"][data-query="${r.query}"]`, { timeout: LOAD_TIMEOUT });
  return r;
}

export const LOAD_TIMEOUT = 60_000;

/** Wait until the dataset panel shows `rows` events from `source` (both at once: two files
 * can have the same row count, so the rows alone do not prove the new file is loaded). */
export async function expectRows(page, rows, source) {
  await page.waitForFunction(([rows, source]) => {
    const ds = document.querySelector('#dataset');
    const src = document.querySelector('#dataset-source');
    return ds && ds.dataset.rows === String(rows) && (!source || (src && src.textContent === source));
  }, [rows, source], { timeout: LOAD_TIMEOUT });
}

/** Wait for an error mentioning `fragment` (an earlier error may still be showing). */
export async function expectError(page, fragment) {
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

/** A synthetic drag-and-drop of local files onto #dropzone. */
export async function dropFiles(page, files) {
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

/** The page's query string without `?`. */
export const search = (page) => new URL(page.url()).search.replace(/^\?/, '');

/** Fraction of a canvas' pixels that differ from its top-left (background) pixel. */
export async function inkFraction(page, selector) {
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

