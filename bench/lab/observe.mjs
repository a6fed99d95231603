// Preloaded into a proxy under test (`node --import ./bench/lab/observe.mjs …`, WEIR_LAB_OUT=<file>): records every
// GC pause (PerformanceObserver 'gc', wall-clock ms) and the event-loop delay histogram, and writes them as JSON to
// $WEIR_LAB_OUT when the process ends (SIGTERM). Marks from the harness (SIGUSR2) reset the event-loop histogram so
// that it covers only the measured window. Adds no work to the request path.
import { writeFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const out = process.env.WEIR_LAB_OUT;
const gcs = [];
const kinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({
      t: performance.timeOrigin + e.startTime,
      ms: e.duration,
      kind: kinds[e.detail?.kind] ?? String(e.detail?.kind),
    });
});
obs.observe({ entryTypes: ['gc'] });
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
const marks = [];
// RSS peak and what made it up (sampled every 100 ms; the sampler is unref'd and allocates little).
let peak = { rss: 0 };
setInterval(() => {
  const m = process.memoryUsage();
  if (m.rss > peak.rss)
    peak = {
      ...m,
      spaces: getHeapSpaceStatistics()
        .filter((x) => x.space_size > 0)
        .map(
          (x) => `${x.space_name} ${(x.space_size / 1048576).toFixed(1)}/${(x.space_used_size / 1048576).toFixed(1)}`,
        )
        .join(', '),
    };
}, 100).unref();
process.on('SIGUSR2', () => {
  marks.push(Date.now());
  eld.reset();
  process.stdout.write(`=== lab mark ${Date.now()}\n`);
});
let written = false;
function dump() {
  if (written || !out) return;
  written = true;
  const pct = (p) => eld.percentile(p) / 1e3;
  writeFileSync(
    out,
    JSON.stringify({
      gcs,
      marks,
      eld: {
        min: eld.min / 1e3,
        mean: eld.mean / 1e3,
        p50: pct(50),
        p90: pct(90),
        p99: pct(99),
        p999: pct(99.9),
        max: eld.max / 1e3,
      },
      mem: process.memoryUsage(),
      peak,
      spaces: getHeapSpaceStatistics().map((x) => ({
        name: x.space_name,
        size: x.space_size,
        used: x.space_used_size,
      })),
    }),
  );
}
process.prependListener('SIGTERM', dump);
process.on('exit', dump);
