import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AttemptOutcome, backoffMs, isRetriable } from '../../../src/dataplane/attempts/retry-policy.ts';
import type { RetryPolicy } from '../../../src/routing/types.ts';

const policy = (retryOn: string[], codes: number[] = []): RetryPolicy => ({
  attempts: 3,
  retryOn,
  retriableStatusCodes: codes,
  perTryTimeoutMs: null,
  backoffBaseMs: 25,
  retryIgnorePreviousHosts: true,
  retryRemoteLocalities: false,
  isDefault: false,
});
const response = (status: number, headers: Record<string, string> = {}): AttemptOutcome => ({
  kind: 'response',
  status,
  headers,
});
const CONNECT: AttemptOutcome = { kind: 'connect-failure' };
const RESET_AFTER: AttemptOutcome = { kind: 'reset', requestSent: true };
const RESET_BEFORE: AttemptOutcome = { kind: 'reset', requestSent: false };
const PER_TRY: AttemptOutcome = { kind: 'per-try-timeout' };
const OVERFLOW: AttemptOutcome = { kind: 'overflow' };

describe('isRetriable (Envoy retry conditions, istio-semantics §4.2)', () => {
  it.each<[string, string[], AttemptOutcome, boolean]>([
    ['5xx retries a 503', ['5xx'], response(503), true],
    ['5xx retries a 500', ['5xx'], response(500), true],
    ['5xx does not retry a 404', ['5xx'], response(404), false],
    ['5xx retries a connect failure', ['5xx'], CONNECT, true],
    ['5xx retries a reset', ['5xx'], RESET_AFTER, true],
    ['5xx retries a per-try timeout', ['5xx'], PER_TRY, true],
    ['gateway-error retries 502/503/504', ['gateway-error'], response(504), true],
    ['gateway-error does not retry a 500', ['gateway-error'], response(500), false],
    ['gateway-error retries a per-try timeout', ['gateway-error'], PER_TRY, true],
    ['reset retries a reset', ['reset'], RESET_AFTER, true],
    ['reset does not retry a 503', ['reset'], response(503), false],
    ['connect-failure retries a connect failure', ['connect-failure'], CONNECT, true],
    ['connect-failure does not retry a reset after the request', ['connect-failure'], RESET_AFTER, false],
    ['connect-failure does not retry a per-try timeout', ['connect-failure'], PER_TRY, false],
    ['reset-before-request retries a reset before any byte was sent', ['reset-before-request'], RESET_BEFORE, true],
    ['reset-before-request does not retry a reset after the request', ['reset-before-request'], RESET_AFTER, false],
    ['retriable-4xx retries only 409', ['retriable-4xx'], response(409), true],
    ['retriable-4xx does not retry 429', ['retriable-4xx'], response(429), false],
    ['unavailable retries grpc-status 14 in headers', ['unavailable'], response(200, { 'grpc-status': '14' }), true],
    ['cancelled does not retry grpc-status 14', ['cancelled'], response(200, { 'grpc-status': '14' }), false],
    [
      'envoy-ratelimited retries x-envoy-ratelimited',
      ['envoy-ratelimited'],
      response(429, { 'x-envoy-ratelimited': 'true' }),
      true,
    ],
    [
      'x-envoy-ratelimited is never retried otherwise',
      ['5xx'],
      response(503, { 'x-envoy-ratelimited': 'true' }),
      false,
    ],
    ['an overflow is never retried', ['5xx', 'reset', 'connect-failure'], OVERFLOW, false],
  ])('%s', (_name, on, outcome, expected) => {
    expect(isRetriable(policy(on), outcome)).toBe(expected);
  });
  it('retriable-status-codes retries the listed codes only', () => {
    const p = policy(['retriable-status-codes'], [503, 429]);
    expect(isRetriable(p, response(429))).toBe(true);
    expect(isRetriable(p, response(500))).toBe(false);
  });
});

describe('backoffMs (fully jittered exponential, 25 ms base, 250 ms cap)', () => {
  it('draws within [0, (2^n − 1)·base) capped at 10 × base', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (n, u) => {
        const ms = backoffMs(n, 25, () => u);
        const ceiling = Math.min((2 ** n - 1) * 25, 250);
        return ms >= 0 && ms < ceiling;
      }),
      { seed: 42, numRuns: 500 },
    );
  });
  it('uses the extremes of the random draw', () => {
    expect(backoffMs(1, 25, () => 0)).toBe(0);
    expect(backoffMs(1, 25, () => 0.9999)).toBe(24);
    expect(backoffMs(2, 25, () => 0.9999)).toBe(74);
    expect(backoffMs(3, 25, () => 0.9999)).toBe(174);
    expect(backoffMs(10, 25, () => 0.9999)).toBe(249);
    expect(backoffMs(2, 100, () => 0.9999)).toBe(299);
  });
});
