// Reads a .cpuprofile and reports the busy stretches of the main thread (consecutive non-idle samples): their
// length distribution, and for stretches longer than a threshold, the self-time functions and the entry points
// (first frame under the root) in them. Usage: node bench/lab/timeline.mjs <file.cpuprofile> [lastSeconds=10] [longMs=1]
import { readFileSync } from 'node:fs';

const [file, lastS = '10', longMs = '1'] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) =>
  `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
const entry = (id) => {
  let cur = id;
  const chain = [];
  while (parent.has(cur)) {
    chain.push(cur);
    cur = parent.get(cur);
  }
  const top = chain.at(-1);
  const second = chain.at(-2);
  return top ? name(byId.get(top)) + (second ? ' > ' + name(byId.get(second)) : '') : '(root)';
};
let t = p.startTime;
const ts = p.timeDeltas.map((d) => (t += d));
const end = ts.at(-1);
const from = end - Number(lastS) * 1e6;
const runs = [];
let cur = null;
for (let i = 0; i < p.samples.length; i++) {
  if (ts[i] < from) continue;
  const n = byId.get(p.samples[i]);
  const fn = n.callFrame.functionName;
  const dt = (ts[i + 1] ?? ts[i]) - ts[i];
  if (fn === '(idle)') {
    if (cur) runs.push(cur);
    cur = null;
    continue;
  }
  cur ??= { start: ts[i], us: 0, ids: [] };
  cur.us += dt;
  cur.ids.push([p.samples[i], dt]);
}
if (cur) runs.push(cur);
runs.sort((a, b) => b.us - a.us);
const total = runs.reduce((a, r) => a + r.us, 0);
const q = (x) => runs[Math.floor(x * runs.length)]?.us;
console.log(
  `busy stretches: ${runs.length}, busy ${(total / 1e6).toFixed(2)} s of ${lastS} s; longest ${runs
    .slice(0, 10)
    .map((r) => (r.us / 1000).toFixed(2))
    .join(' ')} ms`,
);
console.log(`stretch length quantiles (µs): p50 ${q(0.5)} p90 ${q(0.1)} p99 ${q(0.01)}`);
const long = runs.filter((r) => r.us >= Number(longMs) * 1000);
console.log(
  `stretches ≥ ${longMs} ms: ${long.length}, holding ${(long.reduce((a, r) => a + r.us, 0) / 1000).toFixed(1)} ms`,
);
const self = new Map();
const entries = new Map();
let longTotal = 0;
for (const r of long)
  for (const [id, dt] of r.ids) {
    const n = byId.get(id);
    const k = name(n);
    self.set(k, (self.get(k) ?? 0) + dt);
    const e = entry(id);
    entries.set(e, (entries.get(e) ?? 0) + dt);
    longTotal += dt;
  }
const top = (m, k) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([n, v]) => `  ${((100 * v) / longTotal).toFixed(1)}%  ${n}`)
    .join('\n');
console.log('self time inside long stretches:\n' + top(self, 25));
console.log('entry points inside long stretches:\n' + top(entries, 15));
