/**
 * One upstream attempt, dispatched on an undici pool with a handler that streams the response straight into the
 * downstream response (no intermediate stream objects or promises per chunk, with backpressure). The caller
 * decides, synchronously when the response head arrives, whether to relay it or to retry (the body is then
 * drained so the connection can be reused). Timeouts and client disconnects cancel the attempt. The attempt object
 * is itself the undici handler, so a request allocates one object rather than a set of closures.
 */
import type { ServerResponse } from 'node:http';
import type { Pool } from './undici.ts';

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
  /** Called per relayed body chunk with its size in bytes, for accounting. */
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

const RELAYED_OK: AttemptResult = Object.freeze({ kind: 'relayed', complete: true, error: null });

/** The attempt and its undici handler in one object (legacy handler interface: onConnect … onError). */
class UpstreamAttempt implements Attempt {
  readonly result: Promise<AttemptResult>;
  private resolve!: (r: AttemptResult) => void;
  private abortFn: ((err?: Error) => void) | null = null;
  private cancelled: 'timeout' | 'client' | null = null;
  private mode: 0 | 1 | 2 = 0; // waiting | relay | discard
  private status = 0;
  private settled = false;
  private connected = false;
  private resumeFn: (() => void) | null = null;
  /** The last body chunk, held back so that the final one goes out with the end of the response (one write). */
  private held: Buffer | null = null;
  private readonly onDrain = (): void => this.resumeFn?.();

  constructor(private readonly o: AttemptOptions) {
    this.result = new Promise<AttemptResult>((r) => {
      this.resolve = r;
    });
  }

  get headersReceived(): boolean {
    return this.mode !== 0;
  }

  private settle(r: AttemptResult): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(r);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    this.connected = true;
    if (this.cancelled) abort(new CancelledError(this.cancelled));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: wait for the final head
    this.status = statusCode;
    if (this.o.onHead(statusCode, rawHeaders) === 'retry') {
      this.mode = 2;
      return true;
    }
    this.mode = 1;
    this.resumeFn = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.mode !== 1) return true;
    this.o.onBytes?.(chunk.length);
    const previous = this.held;
    this.held = chunk;
    if (previous === null || this.o.res.write(previous)) return true;
    this.o.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.mode === 2) {
      this.settle({ kind: 'retry', status: this.status });
      return;
    }
    const last = this.held;
    this.held = null;
    if (last) this.o.res.end(last);
    else this.o.res.end();
    this.settle(RELAYED_OK);
  }

  onError(err: Error): void {
    this.held = null;
    if (this.mode === 1) this.settle({ kind: 'relayed', complete: false, error: err });
    else if (this.mode === 2) this.settle({ kind: 'retry', status: this.status });
    else this.settle({ kind: 'error', error: err, cancelled: this.cancelled, requestSent: this.connected });
  }

  cancel(reason: 'timeout' | 'client'): void {
    if (this.settled || this.cancelled) return;
    this.cancelled = reason;
    if (this.abortFn) this.abortFn(new CancelledError(reason));
    // Still queued for a connection: answer now; the queued request is aborted when it gets one.
    else this.settle({ kind: 'error', error: new CancelledError(reason), cancelled: reason, requestSent: false });
  }
}

/** Dispatches one attempt. Never throws; every outcome is in `result`. */
export function runAttempt(o: AttemptOptions): Attempt {
  const a = new UpstreamAttempt(o);
  try {
    o.pool.dispatch(
      { path: o.path, method: o.method as 'GET', headers: o.headers, body: o.body as Buffer | null },
      a as unknown as Parameters<Pool['dispatch']>[1],
    );
  } catch (err) {
    a.onError(err as Error);
  }
  return a;
}
