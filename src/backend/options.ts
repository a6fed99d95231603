/**
 * Options of the test backend and their validation. Shared by `startBackend`, `Backend.configure` and the control
 * API (`POST /__weir_backend/configure`), so all three accept and reject exactly the same things.
 */

/**
 * How a request is failed at the transport level, as an upstream failure the proxy must classify:
 * - `none`: answer normally.
 * - `stall`: read the request, then never answer (the proxy's per-try timeout / `UT` path).
 * - `close-mid-response`: send the status line, headers (with the full `content-length`) and about half of the body,
 *   then close the socket (the proxy sees an upstream reset after headers; Envoy's `UR`/`UC` flags).
 * - `reset-before-response`: reset the connection (TCP RST) as soon as the request head arrives, without reading
 *   the body (Envoy's `reset` / `connect-failure`-style retryOn conditions).
 */
export type FaultKind = 'none' | 'stall' | 'close-mid-response' | 'reset-before-response';

/** The fault kinds, in documentation order. */
export const FAULT_KINDS: readonly FaultKind[] = ['none', 'stall', 'close-mid-response', 'reset-before-response'];

/**
 * Behaviour that can be changed while the backend runs (`configure()`, `POST /__weir_backend/configure`).
 * Every field is optional; omitted fields keep their current value.
 */
export interface BackendRuntimeOptions {
  /** Service name reported in bodies and `x-backend-name`, e.g. `checkout-service`. Default `backend`. */
  name?: string;
  /** Version reported in bodies and `x-backend-version`, e.g. `v1`. Default `v1`. */
  version?: string;
  /** Fixed latency added before every answer, in ms. Default 0. */
  latencyMs?: number;
  /** Fraction (0..1) of requests answered with `errorStatus`, drawn from the seeded RNG. Default 0. */
  errorRate?: number;
  /** HTTP status of injected errors (`errorRate`, `failFirstN`), 200..599. Default 500. */
  errorStatus?: number;
  /**
   * Seed of the RNG that draws `errorRate` and `faultRate` (two draws per request, in arrival order). Default: a
   * random seed, reported by `config().seed`. Setting it through `configure` restarts the sequence.
   */
  seed?: number;
  /**
   * Size of every response body in bytes. The JSON body is padded with trailing spaces (still valid JSON) up to
   * this size; a smaller value than the JSON itself leaves the JSON unpadded. Default 0 (JSON only, a few hundred
   * bytes).
   */
  responseBytes?: number;
  /** Transport fault, see {@link FaultKind}. Setting `fault` without `faultFirstN` applies it to every request. */
  fault?: FaultKind;
  /** Fraction (0..1) of requests that get `fault`, drawn from the seeded RNG. Default 1. */
  faultRate?: number;
  /** Apply `fault` to the next N requests only, then answer normally. Omitted: no limit. */
  faultFirstN?: number;
  /** Answer the next N requests with `errorStatus`, then succeed (for retry tests). Default 0. */
  failFirstN?: number;
  /** Delay the next N requests by `delayFirstMs` (on top of `latencyMs`), then stop delaying. Default 0. */
  delayFirstN?: number;
  /** Extra delay of each of the `delayFirstN` requests, in ms. Default 1000. */
  delayFirstMs?: number;
  /**
   * Honour the request headers `x-backend-delay-ms` (extra delay, ms, capped at 600 000) and `x-backend-status`
   * (status to answer, 200..599). Default false, so proxied client headers cannot steer a shared backend.
   */
  allowControlHeaders?: boolean;
  /**
   * Request headers echoed in the JSON body's `headers` (lower-case names; a trailing `*` matches a prefix).
   * Default {@link DEFAULT_ECHO_HEADERS}.
   */
  echoHeaders?: readonly string[];
  /** Compute a SHA-256 of every request body (streamed). Default true. */
  hashBodies?: boolean;
}

/** Options of {@link startBackend}: where to listen, plus the initial {@link BackendRuntimeOptions}. */
export interface BackendOptions extends BackendRuntimeOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port to bind; 0 picks an ephemeral port (read it back from `Backend.port`). Default 0. */
  port?: number;
  /** Answer the control API under `/__weir_backend/`. Default true. */
  controlApi?: boolean;
  /** How many received requests `stats().recent` keeps (a ring). Default 1000. */
  recentLimit?: number;
}

/** The full, resolved runtime configuration (what `config()` and `GET /__weir_backend/config` report). */
export interface BackendConfig {
  name: string;
  version: string;
  latencyMs: number;
  errorRate: number;
  errorStatus: number;
  seed: number;
  responseBytes: number;
  fault: FaultKind;
  faultRate: number;
  /** Requests left that get `fault`; `null` = no limit. */
  faultFirstN: number | null;
  /** Requests left that are answered with `errorStatus`. */
  failFirstN: number;
  /** Requests left that are delayed by `delayFirstMs`. */
  delayFirstN: number;
  delayFirstMs: number;
  allowControlHeaders: boolean;
  echoHeaders: readonly string[];
  hashBodies: boolean;
}

/** Headers echoed by default: all `x-*` headers plus trace context, cookies and content type. */
export const DEFAULT_ECHO_HEADERS: readonly string[] = Object.freeze([
  'x-*',
  'traceparent',
  'tracestate',
  'b3',
  'baggage',
  'cookie',
  'content-type',
  'user-agent',
]);

/** Upper bound of any delay, in ms (10 minutes): keeps typos from parking requests forever. */
export const MAX_DELAY_MS = 600_000;

/** Upper bound of `responseBytes` (64 MiB). */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

const RUNTIME_KEYS: ReadonlySet<string> = new Set([
  'name',
  'version',
  'latencyMs',
  'errorRate',
  'errorStatus',
  'seed',
  'responseBytes',
  'fault',
  'faultRate',
  'faultFirstN',
  'failFirstN',
  'delayFirstN',
  'delayFirstMs',
  'allowControlHeaders',
  'echoHeaders',
  'hashBodies',
]);

const LISTEN_KEYS: ReadonlySet<string> = new Set(['host', 'port', 'controlApi', 'recentLimit']);

function checkInt(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${key} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkNumber(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`${key} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkString(key: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 253) {
    throw new RangeError(`${key} must be a non-empty string of at most 253 characters, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkBoolean(key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new RangeError(`${key} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks a partial runtime configuration (from code or from the control API's JSON) and returns a clean copy.
 * Unknown keys, `host`/`port` (fixed once listening) and out-of-range values throw a `RangeError` whose message
 * names the field. `undefined` values are treated as omitted.
 */
export function parseRuntimeOptions(input: unknown): BackendRuntimeOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RangeError('configuration must be a JSON object');
  }
  const out: BackendRuntimeOptions = {};
  for (const [key, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (!RUNTIME_KEYS.has(key)) {
      throw new RangeError(
        LISTEN_KEYS.has(key) ? `${key} cannot be changed at runtime` : `unknown backend option ${JSON.stringify(key)}`,
      );
    }
    switch (key) {
      case 'name':
        out.name = checkString(key, v);
        break;
      case 'version':
        out.version = checkString(key, v);
        break;
      case 'latencyMs':
        out.latencyMs = checkNumber(key, v, 0, MAX_DELAY_MS);
        break;
      case 'errorRate':
        out.errorRate = checkNumber(key, v, 0, 1);
        break;
      case 'errorStatus':
        out.errorStatus = checkInt(key, v, 200, 599);
        break;
      case 'seed':
        out.seed = checkInt(key, v, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'responseBytes':
        out.responseBytes = checkInt(key, v, 0, MAX_RESPONSE_BYTES);
        break;
      case 'fault':
        if (typeof v !== 'string' || !(FAULT_KINDS as readonly string[]).includes(v)) {
          throw new RangeError(`fault must be one of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(v)}`);
        }
        out.fault = v as FaultKind;
        break;
      case 'faultRate':
        out.faultRate = checkNumber(key, v, 0, 1);
        break;
      case 'faultFirstN':
        out.faultFirstN = checkInt(key, v, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'failFirstN':
        out.failFirstN = checkInt(key, v, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'delayFirstN':
        out.delayFirstN = checkInt(key, v, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'delayFirstMs':
        out.delayFirstMs = checkNumber(key, v, 0, MAX_DELAY_MS);
        break;
      case 'allowControlHeaders':
        out.allowControlHeaders = checkBoolean(key, v);
        break;
      case 'hashBodies':
        out.hashBodies = checkBoolean(key, v);
        break;
      case 'echoHeaders':
        if (!Array.isArray(v) || !v.every((h) => typeof h === 'string' && h.length > 0)) {
          throw new RangeError('echoHeaders must be an array of non-empty header names');
        }
        out.echoHeaders = Object.freeze(v.map((h: string) => h.toLowerCase()));
        break;
    }
  }
  return out;
}

/**
 * Applies a checked partial configuration to `current` and returns the new configuration. Counters (`failFirstN`,
 * `delayFirstN`, `faultFirstN`) are set, not added; setting `fault` without `faultFirstN` lifts the limit.
 */
export function applyRuntimeOptions(current: BackendConfig, patch: BackendRuntimeOptions): BackendConfig {
  const next: BackendConfig = { ...current };
  if (patch.name !== undefined) next.name = patch.name;
  if (patch.version !== undefined) next.version = patch.version;
  if (patch.latencyMs !== undefined) next.latencyMs = patch.latencyMs;
  if (patch.errorRate !== undefined) next.errorRate = patch.errorRate;
  if (patch.errorStatus !== undefined) next.errorStatus = patch.errorStatus;
  if (patch.seed !== undefined) next.seed = patch.seed;
  if (patch.responseBytes !== undefined) next.responseBytes = patch.responseBytes;
  if (patch.fault !== undefined) {
    next.fault = patch.fault;
    next.faultFirstN = null;
  }
  if (patch.faultRate !== undefined) next.faultRate = patch.faultRate;
  if (patch.faultFirstN !== undefined) next.faultFirstN = patch.faultFirstN;
  if (patch.failFirstN !== undefined) next.failFirstN = patch.failFirstN;
  if (patch.delayFirstN !== undefined) next.delayFirstN = patch.delayFirstN;
  if (patch.delayFirstMs !== undefined) next.delayFirstMs = patch.delayFirstMs;
  if (patch.allowControlHeaders !== undefined) next.allowControlHeaders = patch.allowControlHeaders;
  if (patch.echoHeaders !== undefined) next.echoHeaders = patch.echoHeaders;
  if (patch.hashBodies !== undefined) next.hashBodies = patch.hashBodies;
  return next;
}

/** The configuration of a backend started with no options (`seed` is filled in by the caller). */
export function defaultConfig(seed: number): BackendConfig {
  return {
    name: 'backend',
    version: 'v1',
    latencyMs: 0,
    errorRate: 0,
    errorStatus: 500,
    seed,
    responseBytes: 0,
    fault: 'none',
    faultRate: 1,
    faultFirstN: null,
    failFirstN: 0,
    delayFirstN: 0,
    delayFirstMs: 1000,
    allowControlHeaders: false,
    echoHeaders: DEFAULT_ECHO_HEADERS,
    hashBodies: true,
  };
}
