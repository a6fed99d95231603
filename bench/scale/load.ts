/** The load stream's job and result (the worker itself is load-worker.mjs), and how to run it. */
import { Worker } from 'node:worker_threads';

/** What the load worker is asked to do. */
export interface LoadJob {
  url: string;
  /** Host header, or null for the URL's. */
  host: string | null;
  /** Requests per second. */
  rate: number;
  /** Measured seconds, after `warmupSeconds` at the same rate whose latencies are dropped. */
  seconds: number;
  warmupSeconds: number;
  /** Keep-alive connections at most. */
  connections: number;
  /** Per-request timeout, ms (a timed-out request is an error, its latency up to the timeout). */
  timeoutMs: number;
}

/** Latencies in ms from each request's scheduled start to the end of its response. */
export interface LoadResult {
  requests: number;
  /** Non-200 answers and failed requests. */
  errors: number;
  /** Requests per second actually sent (first to last send). */
  achievedRps: number;
  /** How late the generator sent its latest request, ms (large: the generator itself stalled). */
  maxSendLagMs: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Runs the open-loop load stream in a worker thread; rejects only if the worker fails. */
export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), { workerData: job });
    worker.once('message', (m: LoadResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load worker exited with ${code}`));
    });
  });
}
