/**
 * Envoy's retry decision (istio-semantics §4.2; envoyproxy/envoy `source/common/router/retry_state_impl.cc`):
 * which attempt outcomes a `retryOn` policy retries, and the fully jittered exponential backoff. Pure: the caller
 * supplies the outcome and the random draw.
 */
import type { RetryPolicy } from '../../routing/types.ts';

/** How an upstream attempt ended, as far as the retry decision cares. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; headers: Readonly<Record<string, string | string[] | undefined>> }
  /** The TCP connection could not be established (refused, connect timeout): nothing was sent. */
  | { kind: 'connect-failure' }
  /** The upstream reset or closed before response headers; `requestSent` says whether request bytes went out. */
  | { kind: 'reset'; requestSent: boolean }
  /** The per-try timeout fired before response headers. */
  | { kind: 'per-try-timeout' }
  /** A local circuit breaker overflowed: never retried. */
  | { kind: 'overflow' };

const GRPC_CODES: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * True when `policy` retries this outcome (ignoring the attempt budget). Envoy's rules: `5xx` retries 5xx
 * responses and every reset/timeout/connect failure; `gateway-error` 502/503/504 plus resets and timeouts; `reset`
 * resets and timeouts; `connect-failure` connect failures; `retriable-4xx` 409; `retriable-status-codes` the listed
 * codes; `envoy-ratelimited` responses with `x-envoy-ratelimited` (which are otherwise never retried); gRPC codes
 * from `grpc-status` in the response headers; `reset-before-request` resets before any request byte was sent.
 */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const on = policy.retryOn;
  switch (outcome.kind) {
    case 'overflow':
      return false;
    case 'connect-failure':
      return (
        on.includes('5xx') ||
        on.includes('gateway-error') ||
        on.includes('reset') ||
        on.includes('connect-failure') ||
        on.includes('reset-before-request')
      );
    case 'reset':
      return (
        on.includes('5xx') ||
        on.includes('gateway-error') ||
        on.includes('reset') ||
        (!outcome.requestSent && on.includes('reset-before-request'))
      );
    case 'per-try-timeout':
      return on.includes('5xx') || on.includes('gateway-error') || on.includes('reset');
    case 'response': {
      const s = outcome.status;
      const rateLimited = header(outcome.headers, 'x-envoy-ratelimited') !== undefined;
      if (rateLimited) return on.includes('envoy-ratelimited');
      if (s >= 500 && s <= 599 && on.includes('5xx')) return true;
      if ((s === 502 || s === 503 || s === 504) && on.includes('gateway-error')) return true;
      if (s === 409 && on.includes('retriable-4xx')) return true;
      if (on.includes('retriable-status-codes') && policy.retriableStatusCodes.includes(s)) return true;
      const grpc = header(outcome.headers, 'grpc-status');
      if (grpc !== undefined) {
        const code = Number(grpc);
        for (const [token, c] of Object.entries(GRPC_CODES)) if (c === code && on.includes(token)) return true;
      }
      return false;
    }
  }
}

/**
 * Backoff before retry number `retry` (1-based): uniform in `[0, (2^retry − 1) · base)`, capped at `10 · base`
 * (Envoy's `JitteredExponentialBackOffStrategy`, default base 25 ms). `rng` is uniform in [0, 1). Returns ms.
 */
export function backoffMs(retry: number, baseMs: number, rng: () => number): number {
  const max = 10 * baseMs;
  const ceiling = Math.min((2 ** retry - 1) * baseMs, max);
  return Math.floor(rng() * ceiling);
}
