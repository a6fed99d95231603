/**
 * One upstream attempt, dispatched on an undici pool with a handler that streams the response straight into the
 * downstream response (no intermediate stream objects or promises per chunk, with backpressure). The caller
 * decides, synchronously when the response head arrives, whether to relay it or to retry (the body is then
 * drained so the connection can be reused). Timeouts and client disconnects cancel the attempt.
 */
import type { ServerResponse } from 'node:http';
import type { Pool } from 'undici';

/** What the caller decides when a response head arrives. */
export type HeadDecision = 'relay' | 'retry';

/** How an attempt ended. */
export type AttemptResult =
  /** The response was relayed downstream (`complete` false when the upstream failed mid-body). */
  | { kind: 'relayed'; complete: boolean; error: Error | null }
  /** A response arrived that the caller chose to retry; its body was drained. */
  | { kind: 'retry'; status: number }
  /** No response: the attempt failed before the response head (connect failure, reset, or cancellation). */
  | { kind: 'error'; error: Error; cancelled: 'timeout' | 'client' | null; requestSent: boolean };

/** Inputs of {@link runAttempt}. */
export interface AttemptOptions {
  pool: Pool;
  path: string;
  method: string;
  /** Flat `[name, value, …]` request headers (including `host`). */
  headers: string[];
  body: Buffer | NodeJS.ReadableStream | null;
  res: ServerResponse;
  /**
   * Called once with the response head; returns whether to relay or retry. When relaying, the callback writes
   * the downstream head itself (status and headers); the body follows from here.
   */
  onHead(status: number, rawHeaders: Buffer[]): HeadDecision;
  /** Called per relayed body chunk (bytes), for accounting. */
  onBytes?(n: number): void;
}

/** A running attempt: its result, and a way to cancel it (timeout or client gone). */
export interface Attempt {
  result: Promise<AttemptResult>;
  cancel(reason: 'timeout' | 'client'): void;
  /** True once the response head was received. */
  readonly headersReceived: boolean;
}

class CancelledError extends Error {
  constructor(readonly reason: 'timeout' | 'client') {
    super(reason === 'timeout' ? 'upstream request timeout' : 'downstream disconnected');
    this.name = 'CancelledError';
  }
}

/** Dispatches one attempt. Never throws; every outcome is in `result`. */
export function runAttempt(o: AttemptOptions): Attempt {
  let resolve!: (r: AttemptResult) => void;
  const result = new Promise<AttemptResult>((r) => {
    resolve = r;
  });
  let abortFn: ((err?: Error) => void) | null = null;
  let cancelled: 'timeout' | 'client' | null = null;
  let mode: 'waiting' | 'relay' | 'discard' = 'waiting';
  let status = 0;
  let settled = false;
  let connected = false;
  const settle = (r: AttemptResult): void => {
    if (settled) return;
    settled = true;
    resolve(r);
  };
  const res = o.res;
  const handler = {
    onConnect(abort: (err?: Error) => void): void {
      abortFn = abort;
      connected = true;
      if (cancelled) abort(new CancelledError(cancelled));
    },
    onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
      if (statusCode < 200) return true; // 1xx informational: wait for the final head
      status = statusCode;
      const d = o.onHead(statusCode, rawHeaders);
      if (d === 'retry') {
        mode = 'discard';
        return true;
      }
      mode = 'relay';
      drainResume = resume;
      return true;
    },
    onData(chunk: Buffer): boolean {
      if (mode !== 'relay') return true;
      o.onBytes?.(chunk.length);
      if (res.write(chunk)) return true;
      res.once('drain', onDrain);
      return false;
    },
    onComplete(): void {
      if (mode === 'discard') {
        settle({ kind: 'retry', status });
        return;
      }
      res.end();
      settle({ kind: 'relayed', complete: true, error: null });
    },
    onError(err: Error): void {
      if (mode === 'relay') {
        settle({ kind: 'relayed', complete: false, error: err });
        return;
      }
      if (mode === 'discard') {
        settle({ kind: 'retry', status });
        return;
      }
      settle({ kind: 'error', error: err, cancelled, requestSent: connected });
    },
  };
  let drainResume: (() => void) | null = null;
  const onDrain = (): void => drainResume?.();
  try {
    o.pool.dispatch(
      { path: o.path, method: o.method as 'GET', headers: o.headers, body: o.body as Buffer | null },
      handler as unknown as Parameters<Pool['dispatch']>[1],
    );
  } catch (err) {
    settle({ kind: 'error', error: err as Error, cancelled: null, requestSent: false });
  }
  return {
    result,
    get headersReceived() {
      return mode !== 'waiting';
    },
    cancel(reason) {
      if (settled || cancelled) return;
      cancelled = reason;
      if (abortFn) abortFn(new CancelledError(reason));
      // Still queued for a connection: answer now; the queued request is aborted when it gets one.
      else settle({ kind: 'error', error: new CancelledError(reason), cancelled: reason, requestSent: false });
    },
  };
}
