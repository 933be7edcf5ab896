// Page helpers shared by the browser test files: waiting for a loaded dataset or an error,
// and dropping files on the drop zone.
import fs from 'node:fs';
import path from 'node:path';

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

/** A minimal RFC 4180 CSV parser (quoted fields, doubled quotes). */
export function parseCsv(text) {
  const rows = []; let row = []; let field = ''; let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}
