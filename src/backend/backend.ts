/**
 * `weir backend`: a real HTTP/1.1 upstream (node:http only) that stands in for `checkout-service` v1/v2 in the demo,
 * the end-to-end tests and the benchmarks. It reports its identity, counts what it receives and fails on demand
 * (status errors, latency, stalls, mid-response closes, resets). It knows nothing about Istio config or routing.
 */
import { createHash, type Hash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSeededRng, type Rng, randomSeed } from '../util/random.ts';
import {
  applyRuntimeOptions,
  type BackendConfig,
  type BackendOptions,
  type BackendRuntimeOptions,
  defaultConfig,
  type FaultKind,
  MAX_DELAY_MS,
  parseRuntimeOptions,
} from './options.ts';
import { type BackendStats, type ReceivedRequest, StatsRecorder } from './stats.ts';

export type { BackendConfig, BackendOptions, BackendRuntimeOptions, FaultKind } from './options.ts';
export type { BackendStats, ReceivedRequest, RequestOutcome } from './stats.ts';

/** Path prefix of the control API; requests under it are never counted, delayed or failed. See README.md. */
export const CONTROL_PREFIX = '/__weir_backend/';

/** Largest JSON body accepted by `POST /__weir_backend/configure`, in bytes. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;

/** A running backend. Owned by whoever started it, who must `close()` it. */
export interface Backend {
  /** Base URL, e.g. `http://127.0.0.1:43127` (IPv6 hosts in brackets). */
  readonly url: string;
  /** The bound port (the ephemeral one when started with `port: 0`). */
  readonly port: number;
  /** `host:port` as bound, e.g. `127.0.0.1:43127`: what an endpoint list or `--upstream` flag wants. */
  readonly address: string;
  /** A snapshot of the counters and of the last received requests. */
  stats(): BackendStats;
  /** Forgets all counters and recorded requests; configuration (including pending N-counters) is kept. */
  reset(): void;
  /**
   * Changes behaviour while running and returns the resulting configuration. Validated like the control API;
   * throws `RangeError` for unknown keys, `host`/`port`, or out-of-range values (and then changes nothing).
   */
  configure(patch: BackendRuntimeOptions): BackendConfig;
  /** The current configuration; N-counters show what is left. */
  config(): BackendConfig;
  /** Stops listening, cancels pending delays and destroys every open connection (stalled ones too). Idempotent. */
  close(): Promise<void>;
}

/** SHA-256 of the empty body (most requests), so bodyless requests skip creating a hash. */
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Trailing-space padding shared by all backends; grown on demand, sliced without copying. */
let padding = Buffer.alloc(0);

function paddingOf(bytes: number): Buffer {
  if (padding.length < bytes) padding = Buffer.alloc(Math.max(bytes, padding.length * 2), 0x20);
  return padding.subarray(0, bytes);
}

interface EchoMatcher {
  exact: Set<string>;
  prefixes: string[];
}

const matchers = new WeakMap<readonly string[], EchoMatcher>();

function echoMatcher(names: readonly string[]): EchoMatcher {
  let m = matchers.get(names);
  if (m === undefined) {
    m = { exact: new Set(), prefixes: [] };
    for (const n of names) {
      if (n.endsWith('*')) m.prefixes.push(n.slice(0, -1));
      else m.exact.add(n);
    }
    matchers.set(names, m);
  }
  return m;
}

function selectHeaders(headers: IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const m = echoMatcher(names);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (m.exact.has(k) || m.prefixes.some((p) => k.startsWith(p))) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function headerInt(headers: IncomingHttpHeaders, name: string): number | undefined {
  const v = headers[name];
  if (typeof v !== 'string' || !/^\d{1,9}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

function formatAddress(addr: AddressInfo): string {
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra?: Record<string, string>): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

/** What happens to one request, decided when its head arrives. */
interface Plan {
  fault: FaultKind;
  status: number;
  delayMs: number;
}

/**
 * Starts a backend and resolves once it is listening. Rejects with the listen error (e.g. `EADDRINUSE`) or a
 * `RangeError` for invalid options; nothing is left open in either case.
 */
export async function startBackend(opts: BackendOptions = {}): Promise<Backend> {
  const { host = '127.0.0.1', port = 0, controlApi = true, recentLimit = 1000, ...runtime } = opts;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`port must be 0..65535, got ${port}`);
  if (!Number.isInteger(recentLimit) || recentLimit < 0 || recentLimit > 1_000_000) {
    throw new RangeError(`recentLimit must be an integer in 0..1000000, got ${recentLimit}`);
  }
  const initial = parseRuntimeOptions(runtime);
  let config: BackendConfig = applyRuntimeOptions(defaultConfig(initial.seed ?? randomSeed()), initial);
  let rng: Rng = createSeededRng(config.seed);
  const recorder = new StatsRecorder(recentLimit);
  const timers = new Set<NodeJS.Timeout>();

  /** Decides the fate of a request, consuming RNG draws (always two) and N-counters in arrival order. */
  function plan(headers: IncomingHttpHeaders): Plan {
    const uError = rng();
    const uFault = rng();
    const c = config;
    let fault: FaultKind = 'none';
    if (c.fault !== 'none' && uFault < c.faultRate && (c.faultFirstN === null || c.faultFirstN > 0)) {
      fault = c.fault;
      if (c.faultFirstN !== null) c.faultFirstN--;
    }
    let delayMs = c.latencyMs;
    if (c.delayFirstN > 0) {
      c.delayFirstN--;
      delayMs += c.delayFirstMs;
    }
    let status = 200;
    if (c.failFirstN > 0) {
      c.failFirstN--;
      status = c.errorStatus;
    } else if (uError < c.errorRate) {
      status = c.errorStatus;
    }
    if (c.allowControlHeaders) {
      const extra = headerInt(headers, 'x-backend-delay-ms');
      if (extra !== undefined) delayMs = Math.min(delayMs + extra, MAX_DELAY_MS);
      const forced = headerInt(headers, 'x-backend-status');
      if (forced !== undefined && forced >= 200 && forced <= 599) status = forced;
    }
    return { fault, status, delayMs };
  }

  function respond(req: IncomingMessage, res: ServerResponse, entry: ReceivedRequest, c: BackendConfig, p: Plan): void {
    if (res.destroyed) return;
    const body: Record<string, unknown> = {
      service: c.name,
      version: c.version,
      host: req.headers.host ?? '',
      path: entry.path,
      method: entry.method,
      status: p.status,
      bodyBytes: entry.bodyBytes,
    };
    if (entry.bodySha256 !== undefined) body.bodySha256 = entry.bodySha256;
    body.headers = selectHeaders(req.headers, c.echoHeaders);
    const json = Buffer.from(JSON.stringify(body));
    const padBytes = Math.max(0, c.responseBytes - json.length);
    const total = json.length + padBytes;
    recorder.status(entry, p.status);
    res.writeHead(p.status, {
      'content-type': 'application/json',
      'content-length': total,
      'x-backend-name': c.name,
      'x-backend-version': c.version,
    });
    if (p.fault === 'close-mid-response') {
      const full = padBytes > 0 ? Buffer.concat([json, paddingOf(padBytes)]) : json;
      recorder.end(entry, 'closed-mid-response');
      res.write(full.subarray(0, Math.max(1, total >> 1)), () => req.socket.destroy());
      return;
    }
    if (padBytes > 0) {
      res.write(json);
      res.end(paddingOf(padBytes));
    } else {
      res.end(json);
    }
  }

  function handleData(req: IncomingMessage, res: ServerResponse, url: string): void {
    const c = config;
    const entry = recorder.begin(req.method ?? 'GET', url, req.headers, Date.now());
    const p = plan(req.headers);
    res.on('finish', () => recorder.end(entry, 'responded'));
    if (p.fault === 'reset-before-response') {
      recorder.end(entry, 'reset-before-response');
      req.socket.resetAndDestroy();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      recorder.end(entry, 'client-aborted');
      if (timer !== undefined) {
        clearTimeout(timer);
        timers.delete(timer);
      }
    });
    let hash: Hash | undefined;
    req.on('data', (chunk: Buffer) => {
      entry.bodyBytes += chunk.length;
      if (c.hashBodies) (hash ??= createHash('sha256')).update(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (c.hashBodies) entry.bodySha256 = hash === undefined ? EMPTY_SHA256 : hash.digest('hex');
      if (p.fault === 'stall') {
        recorder.stall(entry);
        return;
      }
      if (p.delayMs <= 0) {
        respond(req, res, entry, c, p);
        return;
      }
      const t = setTimeout(() => {
        timers.delete(t);
        respond(req, res, entry, c, p);
      }, p.delayMs);
      timer = t;
      timers.add(t);
    });
  }

  function handleControl(req: IncomingMessage, res: ServerResponse, url: string): void {
    const parsed = new URL(url, 'http://backend');
    const op = parsed.pathname.slice(CONTROL_PREFIX.length);
    const method = req.method ?? 'GET';
    const allow = (m: string): boolean => {
      if (method === m || (m === 'GET' && method === 'HEAD')) return true;
      req.resume();
      sendJson(res, 405, { error: `${op} allows ${m} only` }, { allow: m });
      return false;
    };
    switch (op) {
      case 'healthz':
        if (allow('GET')) sendJson(res, 200, { status: 'ok', name: config.name, version: config.version });
        return;
      case 'stats': {
        if (!allow('GET')) return;
        const s = recorder.snapshot(config.name, config.version);
        const limit = parsed.searchParams.get('recent');
        if (limit !== null && /^\d+$/.test(limit)) s.recent = Number(limit) === 0 ? [] : s.recent.slice(-Number(limit));
        sendJson(res, 200, s);
        return;
      }
      case 'config':
        if (allow('GET')) sendJson(res, 200, config);
        return;
      case 'reset':
        if (!allow('POST')) return;
        req.resume();
        recorder.reset();
        sendJson(res, 200, { ok: true });
        return;
      case 'configure': {
        if (!allow('POST')) return;
        const chunks: Buffer[] = [];
        let bytes = 0;
        let tooLarge = false;
        req.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_CONTROL_BODY_BYTES) tooLarge = true;
          else chunks.push(chunk);
        });
        req.on('error', () => {});
        req.on('end', () => {
          if (tooLarge) {
            sendJson(res, 413, { error: `configuration larger than ${MAX_CONTROL_BODY_BYTES} bytes` });
            return;
          }
          let value: unknown;
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch (err) {
            sendJson(res, 400, { error: `invalid JSON: ${(err as Error).message}` });
            return;
          }
          try {
            sendJson(res, 200, configure(value as BackendRuntimeOptions));
          } catch (err) {
            sendJson(res, 400, { error: (err as Error).message });
          }
        });
        return;
      }
      default:
        req.resume();
        sendJson(res, 404, {
          error: `unknown control endpoint ${JSON.stringify(parsed.pathname)}`,
          endpoints: ['GET healthz', 'GET stats', 'GET config', 'POST reset', 'POST configure'].map((e) =>
            e.replace(' ', ` ${CONTROL_PREFIX}`),
          ),
        });
    }
  }

  function configure(patch: BackendRuntimeOptions): BackendConfig {
    const checked = parseRuntimeOptions(patch);
    config = applyRuntimeOptions(config, checked);
    if (checked.seed !== undefined) rng = createSeededRng(checked.seed);
    return { ...config };
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (controlApi && url.startsWith(CONTROL_PREFIX)) handleControl(req, res, url);
    else handleData(req, res, url);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors after listening (rare: e.g. EMFILE on accept) must not crash the process that hosts the backend.
  server.on('error', () => {});

  const addr = server.address() as AddressInfo;
  const address = formatAddress(addr);
  let closing: Promise<void> | undefined;

  return {
    url: `http://${address}`,
    port: addr.port,
    address,
    stats: () => recorder.snapshot(config.name, config.version),
    reset: () => recorder.reset(),
    configure,
    config: () => ({ ...config }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
