// The open-loop load stream of `npm run bench:scale`, run in a worker thread (plain JS: workers do not inherit the
// tsx loader), so the harness's probes and file writes do not delay it. GET `url` at a fixed `rate` for
// `warmupSeconds + seconds`; each request is timed from its scheduled start (no coordinated omission: a request the
// target answers late, or that waits for a connection, shows the whole wait); the warm-up's latencies are dropped.
// workerData: LoadJob; posts a LoadResult (types in load.ts) and exits.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const quantile = (sorted, p) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function run(job) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });
  const warm = Math.round(job.rate * job.warmupSeconds);
  const total = warm + Math.round(job.rate * job.seconds);
  const latencies = new Float64Array(total - warm);
  let done = 0;
  let errors = 0;
  let sent = 0;
  let maxSendLagMs = 0;
  let firstSendMs = 0;
  let lastSendMs = 0;
  const intervalMs = 1000 / job.rate;
  const t0 = performance.now() + 5;
  const headers = job.host ? { host: job.host } : {};
  await new Promise((resolve) => {
    const finish = (i, due, ok) => {
      if (i >= warm) {
        latencies[i - warm] = performance.now() - due;
        if (!ok) errors++;
      }
      if (++done === total) resolve();
    };
    // A 1 ms tick sends every request that is due (the schedule is kept when a tick is late).
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && t0 + sent * intervalMs <= now) {
        const i = sent++;
        const due = t0 + i * intervalMs;
        if (i >= warm) maxSendLagMs = Math.max(maxSendLagMs, now - due);
        if (i === warm) firstSendMs = now;
        lastSendMs = now;
        let settled = false;
        const settle = (ok) => {
          if (settled) return;
          settled = true;
          finish(i, due, ok);
        };
        const req = http.get(job.url, { agent, headers, timeout: job.timeoutMs }, (res) => {
          res.resume();
          res.on('end', () => settle(res.statusCode === 200));
          res.on('error', () => settle(false));
        });
        req.on('error', () => settle(false));
        req.on('timeout', () => req.destroy());
      }
      if (sent === total) clearInterval(timer);
    }, 1);
  });
  agent.destroy();
  const sorted = latencies.sort();
  const spanS = (lastSendMs - firstSendMs) / 1000;
  return {
    requests: total - warm,
    errors,
    achievedRps: spanS > 0 ? (total - warm - 1) / spanS : 0,
    maxSendLagMs,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

parentPort?.postMessage(await run(workerData));
