// Screenshots of the dashboard for eyeballing (not a test): light and dark, 1280×800, one hover.
// Usage: node tests/browser/shot.mjs OUT_DIR [QUERY]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve, CHROMIUM_ARGS } from './harness.mjs';

const [out = '/tmp', query = ''] = process.argv.slice(2);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { server, base } = await serve(path.join(ROOT, 'dist'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
for (const scheme of ['light', 'dark']) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: scheme, deviceScaleFactor: 1 });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(scheme, m.type(), m.text()); });
  page.on('pageerror', (e) => console.log(scheme, 'pageerror', String(e)));
  await page.goto(`${base}/?${query}`);
  await page.waitForSelector('#chart-active-users[data-state="ready"]', { timeout: 120_000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(out, `${scheme}-top.png`) });
  await page.screenshot({ path: path.join(out, `${scheme}-full.png`), fullPage: true });
  const box = await (await page.$('#chart-active-users canvas')).boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
  await page.waitForTimeout(200);
  await (await page.$('#chart-active-users')).screenshot({ path: path.join(out, `${scheme}-hover.png`) });
  for (const card of await page.$$('.card')) {
    const id = await card.getAttribute('id');
    await card.screenshot({ path: path.join(out, `${scheme}-${id}.png`) });
  }
  await page.close();
}
await browser.close();
server.close();
