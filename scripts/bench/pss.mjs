// Memory of the browser the benchmark scripts launched: Pss of every process below this Node
// process (Chromium's browser, renderers, GPU, utility), from /proc (Linux).
import fs from 'node:fs';

function descendants(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) || []) { out.push(c); stack.push(c); }
  }
  return out;
}

/** `[{ type, kb }]` per process: `type` is Chromium's `--type=` (or "browser"). */
export function pssByProcess() {
  const out = [];
  for (const pid of descendants(process.pid)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (!m) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      out.push({ type: (/--type=([a-z-]+)/.exec(cmd) || [, 'browser'])[1], kb: Number(m[1]) });
    } catch { /* gone */ }
  }
  return out;
}

/** Total Pss of the browser's processes, in bytes. */
export function browserPssBytes() {
  return pssByProcess().reduce((s, p) => s + p.kb, 0) * 1024;
}
