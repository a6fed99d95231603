/**
 * What a test backend has seen: counters by Host, path, status and `x-envoy-attempt-count`, plus a bounded ring of
 * the most recent requests. Every map and the ring are bounded, so a long benchmark cannot grow memory.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** How a request ended at the backend. */
export type RequestOutcome =
  | 'pending'
  | 'responded'
  | 'stalled'
  | 'closed-mid-response'
  | 'reset-before-response'
  | 'client-aborted';

/** One received request, as kept in `BackendStats.recent`. */
export interface ReceivedRequest {
  /** Sequence number of the request since start or the last `reset()`, from 1. */
  seq: number;
  method: string;
  /** Request target as received, including the query string. */
  path: string;
  /** Request headers, lower-case names (repeated headers joined as node:http does). */
  headers: IncomingHttpHeaders;
  /** Request body size in bytes (as far as it was read). */
  bodyBytes: number;
  /** Hex SHA-256 of the request body; present once the body was fully read and `hashBodies` is on. */
  bodySha256?: string;
  /** Wall-clock arrival time (`Date.now()`), ms since the epoch. */
  receivedAtMs: number;
  /** Status sent, once a status line was written. */
  status?: number;
  outcome: RequestOutcome;
}

/** A snapshot of the counters; plain data, safe to JSON-encode and to keep after further requests. */
export interface BackendStats {
  name: string;
  version: string;
  /** Requests received (control API requests excluded). */
  totalRequests: number;
  /** Requests currently being handled (including stalled ones). */
  inFlight: number;
  /** Count per `Host` header value (`""` when absent). */
  byHost: Record<string, number>;
  /** Count per path without the query string. */
  byPath: Record<string, number>;
  /** Count per status sent (as a string key). */
  byStatus: Record<string, number>;
  /** Count per value of the `x-envoy-attempt-count` request header, for requests that carried it. */
  attemptCounts: Record<string, number>;
  /** Count per outcome other than a normal response. */
  faults: { stalled: number; closedMidResponse: number; resetBeforeResponse: number; clientAborted: number };
  /** The last `recentLimit` requests (default 1000), oldest first. */
  recent: ReceivedRequest[];
}

/** Distinct keys kept per counter map; further keys are counted under {@link OTHER_KEY}. */
export const MAX_COUNTER_KEYS = 10_000;

/** The key that absorbs counts once a counter map holds {@link MAX_COUNTER_KEYS} keys. */
export const OTHER_KEY = '(other)';

function bump(map: Map<string, number>, key: string): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < MAX_COUNTER_KEYS) map.set(key, 1);
  else map.set(OTHER_KEY, (map.get(OTHER_KEY) ?? 0) + 1);
}

/** Mutable counters of one backend. Owned by the backend; callers see {@link BackendStats} snapshots. */
export class StatsRecorder {
  private total = 0;
  private readonly open = new Set<ReceivedRequest>();
  private readonly byHost = new Map<string, number>();
  private readonly byPath = new Map<string, number>();
  private readonly byStatus = new Map<string, number>();
  private readonly attempts = new Map<string, number>();
  private readonly faults = { stalled: 0, closedMidResponse: 0, resetBeforeResponse: 0, clientAborted: 0 };
  private ring: ReceivedRequest[] = [];
  private ringNext = 0;

  /** @param recentLimit ring size, ≥ 0. */
  constructor(private readonly recentLimit: number) {}

  /** Records an arriving request and returns its (mutable) entry. */
  begin(method: string, path: string, headers: IncomingHttpHeaders, receivedAtMs: number): ReceivedRequest {
    this.total++;
    bump(this.byHost, headers.host ?? '');
    const q = path.indexOf('?');
    bump(this.byPath, q === -1 ? path : path.slice(0, q));
    const attempt = headers['x-envoy-attempt-count'];
    if (attempt !== undefined) bump(this.attempts, String(attempt));
    const entry: ReceivedRequest = {
      seq: this.total,
      method,
      path,
      headers,
      bodyBytes: 0,
      receivedAtMs,
      outcome: 'pending',
    };
    this.open.add(entry);
    if (this.recentLimit > 0) {
      if (this.ring.length < this.recentLimit) this.ring.push(entry);
      else this.ring[this.ringNext] = entry;
      this.ringNext = (this.ringNext + 1) % this.recentLimit;
    }
    return entry;
  }

  /** Records a status line sent for `entry`. */
  status(entry: ReceivedRequest, status: number): void {
    entry.status = status;
    bump(this.byStatus, String(status));
  }

  /** Marks `entry` as deliberately stalled; it stays in flight until its connection closes. */
  stall(entry: ReceivedRequest): void {
    if (entry.outcome !== 'pending') return;
    entry.outcome = 'stalled';
    this.faults.stalled++;
  }

  /** Records how `entry` ended; later calls for the same entry are ignored. A stalled entry stays `stalled`. */
  end(entry: ReceivedRequest, outcome: Exclude<RequestOutcome, 'pending' | 'stalled'>): void {
    if (!this.open.delete(entry)) return;
    if (entry.outcome === 'stalled') return;
    entry.outcome = outcome;
    if (outcome === 'closed-mid-response') this.faults.closedMidResponse++;
    else if (outcome === 'reset-before-response') this.faults.resetBeforeResponse++;
    else if (outcome === 'client-aborted') this.faults.clientAborted++;
  }

  /** Forgets everything recorded (requests still in flight keep counting in `inFlight`). */
  reset(): void {
    this.total = 0;
    this.byHost.clear();
    this.byPath.clear();
    this.byStatus.clear();
    this.attempts.clear();
    this.faults.stalled = this.faults.closedMidResponse = this.faults.resetBeforeResponse = 0;
    this.faults.clientAborted = 0;
    this.ring = [];
    this.ringNext = 0;
  }

  /** A deep copy of the counters (ring entries are copied, header objects shared read-only). */
  snapshot(name: string, version: string): BackendStats {
    const recent =
      this.ring.length < this.recentLimit
        ? this.ring
        : [...this.ring.slice(this.ringNext), ...this.ring.slice(0, this.ringNext)];
    return {
      name,
      version,
      totalRequests: this.total,
      inFlight: this.open.size,
      byHost: Object.fromEntries(this.byHost),
      byPath: Object.fromEntries(this.byPath),
      byStatus: Object.fromEntries(this.byStatus),
      attemptCounts: Object.fromEntries(this.attempts),
      faults: { ...this.faults },
      recent: recent.map((e) => ({ ...e })),
    };
  }
}
