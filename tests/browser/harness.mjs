// Minimal harness for the browser tests: a static server for dist/ on 127.0.0.1 (at / and at a
// sub-path, as GitHub Pages serves it), Debian's Chromium driven by playwright-core, and a tiny
// test runner that prints "N passed, N failed".
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
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
