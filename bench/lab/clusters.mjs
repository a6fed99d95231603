// Slow requests of an h2load log (≥ the given µs, default p99): how they cluster in time. A process-wide stall
// delays every request in flight at once (bursts of slow requests that end together); a per-connection cause does
// not. Usage: node bench/lab/clusters.mjs <h2load.log> [thresholdUs]
import { readFileSync } from 'node:fs';

const [file, thr] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t').map(Number));
const durs = rows.map((r) => r[2]).sort((a, b) => a - b);
const t = thr ? Number(thr) : durs[Math.floor(0.99 * durs.length)];
const slow = rows
  .filter((r) => r[2] >= t)
  .map((r) => ({ s: r[0], e: r[0] + r[2], d: r[2] }))
  .sort((a, b) => a.e - b.e);
// group by end time within 300 µs
const groups = [];
for (const x of slow) {
  const g = groups.at(-1);
  if (g && x.e - g.at(-1).e < 300) g.push(x);
  else groups.push([x]);
}
const t0 = rows[0][0];
console.log(
  `threshold ${t} µs, slow ${slow.length}, groups ${groups.length}; sizes ${groups.map((g) => g.length).join(' ')}`,
);
console.log('group end times (ms from start) and max duration (µs):');
console.log(groups.map((g) => `${((g.at(-1).e - t0) / 1000).toFixed(0)}:${Math.max(...g.map((x) => x.d))}`).join(' '));
