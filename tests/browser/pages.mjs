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
