/**
 * Flagger-compatible webhooks for `weir rollout` (issue 8): the hook types, the JSON payload, the HTTP call with its
 * timeout and retries, and running every hook of one type. What a result *means* (a gate holds, a `rollback` hook
 * answering 2xx rolls back, a failed `rollout` hook fails the check…) is the controller's decision; this module only
 * calls and reports, and never throws.
 *
 * Behaviour follows Flagger (fluxcd/flagger `pkg/controller/webhook.go`, `scheduler_hooks.go`, `scheduler.go`;
 * `pkg/apis/flagger/v1beta1/canary.go` `CanaryWebhookPayload`; docs "Webhooks"):
 * - one `POST` of `application/json` to `url`, body `{name, namespace, phase, checksum, metadata?}` (Go field order;
 *   `metadata` omitted when empty);
 * - success is a final status of **200, 201 or 202** (Flagger fails `StatusCode > 202`, so `204 No Content` is a
 *   failure even though the docs say "2xx"); redirects are followed;
 * - `timeout` is per attempt, default `10s` (Flagger also uses the default when the text is shorter than 2
 *   characters);
 * - `retries` (default 0) as hashicorp/go-retryablehttp's `DefaultRetryPolicy`: connection errors, timeouts, HTTP 429
 *   and 5xx except 501 are retried; other statuses are final. Backoff is `DefaultBackoff`: 1 s doubling up to 30 s, or
 *   the server's `Retry-After` on 429/503 (capped at the maximum here);
 * - `event` hooks get `metadata: {eventMessage, eventType, timestamp}` (timestamp in ms since the epoch, as a decimal
 *   string) merged over the hook's own metadata (the event keys win);
 * - an absent or empty `type` is a `rollout` hook.
 */
import { createHash } from 'node:crypto';
import { type CanaryWebhook, WEBHOOK_TYPES } from '../config/weir/canary.ts';
import { parseDurationMs } from '../util/duration.ts';

/** A webhook type (Flagger `HookType`). Meanings, in Flagger's words and order of a run:
 * - `confirm-rollout`: called before the canary is scaled up / the run starts; the rollout **waits** (phase
 *   `Waiting`) until every such hook answers success. Manual approval gate.
 * - `pre-rollout`: called before any traffic goes to the canary; a failure holds the advance and counts as a failed
 *   check (rollback once the checks reach `threshold`).
 * - `rollout`: called on every analysis tick before the metric checks; a failure halts the advance and counts as a
 *   failed check. Typically a load generator (flagger-loadtester) or an acceptance test.
 * - `confirm-traffic-increase`: called right before each weight increase; the weight stays until it answers
 *   success (metrics keep being checked).
 * - `confirm-promotion`: called before promotion; the promotion waits (phase `WaitingPromotion`) until it answers
 *   success, while the metric checks and `rollout` hooks keep running.
 * - `post-rollout`: called after the canary was promoted or rolled back; a failure is only logged.
 * - `rollback`: called while the canary is `Progressing` or `Waiting`; **a success means roll back now** (the run is
 *   marked failed). A failure means "no rollback requested".
 * - `event`: called for every event the controller records (informational; failures are logged).
 */
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Flagger's canary phases (`CanaryPhase`, flagger.app/v1beta1 `status.go`), as they appear in payloads. */
export const CANARY_PHASES = [
  'Initializing',
  'Initialized',
  'Waiting',
  'Progressing',
  'WaitingPromotion',
  'Promoting',
  'Finalising',
  'Succeeded',
  'Failed',
  'Terminating',
  'Terminated',
] as const;
export type CanaryPhase = (typeof CANARY_PHASES)[number];

/** Flagger's default per-attempt timeout of a webhook call, in ms (`10s`). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** go-retryablehttp's `RetryWaitMin` (Flagger keeps the default): first backoff, in ms. */
export const DEFAULT_RETRY_WAIT_MIN_MS = 1_000;
/** go-retryablehttp's `RetryWaitMax`: longest backoff, in ms. */
export const DEFAULT_RETRY_WAIT_MAX_MS = 30_000;
/** Bytes of a response body kept for the error message. */
const MAX_BODY_BYTES = 4096;

/** The JSON body POSTed to a webhook (Flagger `CanaryWebhookPayload`, same field names and order). */
export interface WebhookPayload {
  /** The Canary's name. */
  name: string;
  /** The Canary's namespace. */
  namespace: string;
  /** The phase Flagger would report for this hook; see {@link payloadPhase}. */
  phase: CanaryPhase;
  /**
   * Identifies the configuration being rolled out (Flagger: a hash of the tracked configs and the last applied spec),
   * so a hook can tell runs apart; see {@link canaryChecksum}.
   */
  checksum: string;
  /** Key-value pairs: the hook's `metadata`, and for `event` hooks the event's fields. Omitted when empty. */
  metadata?: Record<string, string>;
}

/** The canary a payload describes. */
export interface PayloadCanary {
  name: string;
  namespace: string;
  phase: CanaryPhase;
  checksum: string;
}

/** A recorded controller event, for `event` hooks. */
export interface WebhookEvent {
  /** The human-readable message (Flagger: the Kubernetes event's message). */
  message: string;
  /** Kubernetes event type: `Normal` or `Warning`. */
  type: 'Normal' | 'Warning';
  /** When it happened, in ms since the epoch; default now. */
  timeMs?: number;
}

/**
 * The payload for a hook call. With `event`, `metadata` carries `eventMessage`, `eventType` and `timestamp` (ms since
 * the epoch as a decimal string), as Flagger's `CallEventWebhook`; the hook's own metadata is merged in by
 * {@link callWebhook} without overriding these.
 */
export function webhookPayload(canary: PayloadCanary, event?: WebhookEvent): WebhookPayload {
  const payload: WebhookPayload = {
    name: canary.name,
    namespace: canary.namespace,
    phase: canary.phase,
    checksum: canary.checksum,
  };
  if (event) {
    payload.metadata = {
      eventMessage: event.message,
      eventType: event.type,
      timestamp: String(Math.trunc(event.timeMs ?? Date.now())),
    };
  }
  return payload;
}

/**
 * The phase Flagger puts in the payload of each hook type: `Progressing` for `pre-rollout`, `rollout`,
 * `confirm-traffic-increase` and `confirm-promotion`; the canary's current phase for `confirm-rollout`, `rollback`
 * and `event`; `Succeeded` after a promotion or `Failed` after a rollback for `post-rollout` (`outcome`).
 */
export function payloadPhase(
  type: WebhookType,
  current: CanaryPhase,
  outcome: 'promoted' | 'rolled-back' = 'promoted',
): CanaryPhase {
  switch (type) {
    case 'pre-rollout':
    case 'rollout':
    case 'confirm-traffic-increase':
    case 'confirm-promotion':
      return 'Progressing';
    case 'post-rollout':
      return outcome === 'promoted' ? 'Succeeded' : 'Failed';
    default:
      return current;
  }
}

/**
 * A short, stable checksum of the given values (canonical JSON with sorted keys, SHA-256, first 16 hex digits), for
 * the payload's `checksum`: e.g. the Canary spec and the canary subset's identity. Flagger hashes its tracked configs
 * and last applied spec; only stability and uniqueness matter to hooks.
 */
export function canaryChecksum(...values: unknown[]): string {
  return createHash('sha256').update(canonicalJson(values)).digest('hex').slice(0, 16);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The type of a hook: its `type`, `rollout` when absent or empty (Flagger), null for an unknown type. */
export function hookType(hook: CanaryWebhook): WebhookType | null {
  const t = hook.type ?? '';
  if (t === '') return 'rollout';
  return (WEBHOOK_TYPES as readonly string[]).includes(t) ? (t as WebhookType) : null;
}

/**
 * A hook's per-attempt timeout in ms: its `timeout`, or {@link DEFAULT_WEBHOOK_TIMEOUT_MS} when absent, shorter than 2
 * characters (Flagger) or not above 0 (Go would then wait forever; a controller must not). Null when unparsable.
 */
export function webhookTimeoutMs(hook: CanaryWebhook): number | null {
  const t = hook.timeout ?? '';
  if (t.length < 2) return DEFAULT_WEBHOOK_TIMEOUT_MS;
  const ms = parseDurationMs(t);
  if (ms === null) return null;
  return ms > 0 ? ms : DEFAULT_WEBHOOK_TIMEOUT_MS;
}

/** Options of {@link callWebhook} and {@link runHooks}. */
export interface WebhookCallOptions {
  /** Aborts the call (and its retries) from outside, e.g. on shutdown; an aborted call is not ok and not retried. */
  signal?: AbortSignal;
  /** First backoff in ms, doubled per retry; default {@link DEFAULT_RETRY_WAIT_MIN_MS}. */
  retryWaitMinMs?: number;
  /** Longest backoff in ms (also caps `Retry-After`); default {@link DEFAULT_RETRY_WAIT_MAX_MS}. */
  retryWaitMaxMs?: number;
  /** Overrides every hook's timeout (ms); for tests. */
  timeoutMs?: number;
}

/** The outcome of one hook call (after its retries). */
export interface WebhookResult {
  /** The hook's name, type and URL as configured. */
  name: string;
  type: WebhookType | null;
  url: string;
  /** True when the final response was 200, 201 or 202. */
  ok: boolean;
  /** The final HTTP status, or null when no response arrived (connection error, timeout, bad URL, abort). */
  status: number | null;
  /** Why it is not ok: the status and the start of the body, or the transport error. Absent when ok. */
  error?: string;
  /** Wall time of all attempts and backoffs, in ms. */
  durationMs: number;
  /** HTTP attempts made (1 + retries used); 0 when the hook could not be called at all (bad URL or timeout). */
  attempts: number;
  /** The hook's `muteAlert` (Flagger: its failures raise no alert). */
  muteAlert: boolean;
}

interface AttemptOutcome {
  status: number | null;
  error?: string;
  retryable: boolean;
  retryAfterMs: number | null;
}

/**
 * POSTs `payload` to `hook.url` with the hook's timeout per attempt and up to `hook.retries` retries, as Flagger does.
 * The hook's `metadata` is merged under `payload.metadata` (payload keys win). Never throws: every failure is in the
 * result (`ok: false`, `error`).
 */
export async function callWebhook(
  hook: CanaryWebhook,
  payload: WebhookPayload,
  opts: WebhookCallOptions = {},
): Promise<WebhookResult> {
  const started = performance.now();
  const base = {
    name: hook.name ?? '',
    type: hookType(hook),
    url: hook.url ?? '',
    muteAlert: hook.muteAlert === true,
  };
  const done = (r: { ok: boolean; status: number | null; error?: string; attempts: number }): WebhookResult => ({
    ...base,
    ...r,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  });

  let url: URL;
  try {
    url = new URL(hook.url ?? '');
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    return done({
      ok: false,
      status: null,
      error: `invalid webhook url ${JSON.stringify(hook.url ?? '')}`,
      attempts: 0,
    });
  }
  const timeoutMs = opts.timeoutMs ?? webhookTimeoutMs(hook);
  if (timeoutMs === null) {
    return done({
      ok: false,
      status: null,
      error: `invalid webhook timeout ${JSON.stringify(hook.timeout)}`,
      attempts: 0,
    });
  }
  const metadata = { ...(hook.metadata ?? {}), ...(payload.metadata ?? {}) };
  const body: WebhookPayload = {
    name: payload.name,
    namespace: payload.namespace,
    phase: payload.phase,
    checksum: payload.checksum,
  };
  if (Object.keys(metadata).length > 0) body.metadata = metadata;
  const json = JSON.stringify(body);

  const retries = Math.max(0, Math.trunc(hook.retries ?? 0));
  const waitMin = opts.retryWaitMinMs ?? DEFAULT_RETRY_WAIT_MIN_MS;
  const waitMax = opts.retryWaitMaxMs ?? DEFAULT_RETRY_WAIT_MAX_MS;
  let attempts = 0;
  let last: AttemptOutcome = { status: null, retryable: false, retryAfterMs: null };
  for (let retry = 0; ; retry++) {
    attempts++;
    last = await attempt(url, json, timeoutMs, opts.signal);
    if (last.status !== null && last.status >= 200 && last.status <= 202) {
      return done({ ok: true, status: last.status, attempts });
    }
    if (!last.retryable || retry >= retries || opts.signal?.aborted) break;
    // go-retryablehttp DefaultBackoff: Retry-After on 429/503, else min·2^n capped at max.
    const wait = Math.min(waitMax, last.retryAfterMs ?? waitMin * 2 ** retry);
    if (!(await sleep(wait, opts.signal))) break;
  }
  const tries = attempts === 1 ? '' : ` (after ${attempts} attempts)`;
  return done({ ok: false, status: last.status, error: `${last.error ?? 'failed'}${tries}`, attempts });
}

async function attempt(url: URL, json: string, timeoutMs: number, outer?: AbortSignal): Promise<AttemptOutcome> {
  if (outer?.aborted) return { status: null, error: 'aborted', retryable: false, retryAfterMs: null };
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = outer ? AbortSignal.any([timeout, outer]) : timeout;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'weir-rollout' },
      body: json,
      redirect: 'follow',
      signal,
    });
    const text = await readSome(res);
    const status = res.status;
    if (status >= 200 && status <= 202) return { status, retryable: false, retryAfterMs: null };
    const retryable = status === 429 || (status >= 500 && status !== 501);
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(res.headers.get('retry-after')) : null;
    const excerpt = text.trim().replace(/\s+/g, ' ');
    return {
      status,
      error: `HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`,
      retryable,
      retryAfterMs,
    };
  } catch (err) {
    if (outer?.aborted) return { status: null, error: 'aborted', retryable: false, retryAfterMs: null };
    if (timeout.aborted) {
      return { status: null, error: `timed out after ${formatMs(timeoutMs)}`, retryable: true, retryAfterMs: null };
    }
    return { status: null, error: describeFetchError(err, url), retryable: isRetryableError(err), retryAfterMs: null };
  }
}

/** Reads up to {@link MAX_BODY_BYTES} of the body (for the error message) and discards the rest. */
async function readSome(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES));
}

function parseRetryAfter(v: string | null): number | null {
  if (v === null) return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
}

/** The innermost `cause` of a fetch error (undici wraps the socket error in `TypeError: fetch failed`). */
function rootCause(err: unknown): { code?: string; message: string } {
  let e = err as { cause?: unknown; code?: string; message?: string } | undefined;
  for (let i = 0; i < 5 && e?.cause; i++) e = e.cause as typeof e;
  return { code: e?.code, message: e?.message ?? String(err) };
}

function describeFetchError(err: unknown, url: URL): string {
  const c = rootCause(err);
  const where = url.host;
  switch (c.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${url.hostname}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection to ${where} reset: ${c.message}`;
    default:
      return `request to ${where} failed: ${c.code ? `${c.code} ` : ''}${c.message}`;
  }
}

/**
 * go-retryablehttp retries every transport error except unrecoverable ones: too many redirects, an invalid
 * scheme or header, and TLS certificate errors.
 */
function isRetryableError(err: unknown): boolean {
  const c = rootCause(err);
  const text = `${c.code ?? ''} ${c.message}`;
  if (/redirect/i.test(text)) return false;
  if (/CERT|certificate|self[- ]signed|UNABLE_TO_VERIFY|ERR_TLS_CERT/i.test(text)) return false;
  if (/ERR_INVALID|UND_ERR_INVALID_ARG|invalid header/i.test(text)) return false;
  return true;
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Waits `ms`; resolves false when `signal` aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The outcome of running every hook of one type. */
export interface HooksResult {
  type: WebhookType;
  /**
   * True when every hook that was called succeeded (vacuously true when there are none): the gate types pass, a
   * `rollout` check passes. For `rollback` use {@link HooksResult.anyOk}.
   */
  ok: boolean;
  /** True when at least one called hook succeeded: for `rollback` hooks, "roll back now". False when there are none. */
  anyOk: boolean;
  /** One result per hook called, in the Canary's order. */
  results: WebhookResult[];
  /** Names of the hooks of this type not called because an earlier one decided (see {@link runHooks}). */
  skipped: string[];
}

/**
 * Calls, one after the other in the Canary's order, every hook of `type` (an absent type counts as `rollout`), as
 * Flagger's scheduler does: the gates and checks (`confirm-*`, `pre-rollout`, `rollout`, `post-rollout`) stop at the
 * first failure; `rollback` stops at the first success (which requests the rollback); `event` calls them all.
 * `payload` is the same for every hook, or built per hook. Never throws.
 */
export async function runHooks(
  hooks: readonly CanaryWebhook[] | undefined,
  type: WebhookType,
  payload: WebhookPayload | ((hook: CanaryWebhook) => WebhookPayload),
  opts: WebhookCallOptions = {},
): Promise<HooksResult> {
  const selected = (hooks ?? []).filter((h) => hookType(h) === type);
  const results: WebhookResult[] = [];
  const skipped: string[] = [];
  for (let i = 0; i < selected.length; i++) {
    const hook = selected[i]!;
    const r = await callWebhook(hook, typeof payload === 'function' ? payload(hook) : payload, opts);
    results.push(r);
    const stop = type === 'rollback' ? r.ok : type === 'event' ? false : !r.ok;
    if (stop) {
      skipped.push(...selected.slice(i + 1).map((h) => h.name ?? ''));
      break;
    }
  }
  return {
    type,
    ok: results.every((r) => r.ok),
    anyOk: results.some((r) => r.ok),
    results,
    skipped,
  };
}
