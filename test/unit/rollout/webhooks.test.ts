/**
 * Flagger-compatible webhooks against real node:http servers on 127.0.0.1: the payload of each type, Flagger's
 * success statuses (200–202), timeouts, retries with go-retryablehttp's policy, connection errors, and runHooks'
 * stopping rules.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type CanaryWebhook, WEBHOOK_TYPES } from '../../../src/config/weir/canary.ts';
import {
  CANARY_PHASES,
  callWebhook,
  canaryChecksum,
  hookType,
  payloadPhase,
  runHooks,
  type WebhookType,
  webhookPayload,
  webhookTimeoutMs,
} from '../../../src/rollout/webhooks.ts';

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

interface TestServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server whose `handler` answers the n-th request (0-based) it receives. */
async function serve(handler: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const n = received.length;
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        body: text === '' ? null : JSON.parse(text),
      });
      handler(n, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

const reply =
  (status: number, body = '') =>
  (_n: number, _req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  };

const CANARY = { name: 'checkout-service', namespace: 'composite', phase: 'Progressing', checksum: 'abc123' } as const;
const FAST = { retryWaitMinMs: 5, retryWaitMaxMs: 20 };

describe('payload', () => {
  it('POSTs Flagger’s CanaryWebhookPayload as JSON for every type, with the hook’s metadata', async () => {
    const s = await serve(reply(200));
    for (const type of WEBHOOK_TYPES) {
      const hook: CanaryWebhook = { name: `h-${type}`, type, url: s.url, metadata: { cmd: 'hey -z 1m' } };
      const phase = payloadPhase(type, 'Waiting', 'rolled-back');
      const event =
        type === 'event'
          ? { message: 'Advance canary weight 10', type: 'Normal' as const, timeMs: 1_700_000_000_123 }
          : undefined;
      const r = await callWebhook(hook, webhookPayload({ ...CANARY, phase }, event));
      expect(r, type).toMatchObject({ ok: true, status: 200, attempts: 1, type, name: `h-${type}` });
    }
    expect(s.received).toHaveLength(WEBHOOK_TYPES.length);
    for (const got of s.received) {
      expect(got.method).toBe('POST');
      expect(got.path).toBe('/hook');
      expect(got.contentType).toBe('application/json');
    }
    const bodies = s.received.map((r) => r.body as Record<string, unknown>);
    // Go's field order: name, namespace, phase, checksum, metadata.
    expect(Object.keys(bodies[0]!)).toEqual(['name', 'namespace', 'phase', 'checksum', 'metadata']);
    const byType = Object.fromEntries(WEBHOOK_TYPES.map((t, i) => [t, bodies[i]!]));
    expect(byType['pre-rollout']).toEqual({
      name: 'checkout-service',
      namespace: 'composite',
      phase: 'Progressing',
      checksum: 'abc123',
      metadata: { cmd: 'hey -z 1m' },
    });
    expect(byType['rollout']!.phase).toBe('Progressing');
    expect(byType['confirm-traffic-increase']!.phase).toBe('Progressing');
    expect(byType['confirm-promotion']!.phase).toBe('Progressing');
    expect(byType['confirm-rollout']!.phase).toBe('Waiting');
    expect(byType['rollback']!.phase).toBe('Waiting');
    expect(byType['post-rollout']!.phase).toBe('Failed');
    expect(byType['event']).toEqual({
      name: 'checkout-service',
      namespace: 'composite',
      phase: 'Waiting',
      checksum: 'abc123',
      metadata: {
        cmd: 'hey -z 1m',
        eventMessage: 'Advance canary weight 10',
        eventType: 'Normal',
        timestamp: '1700000000123',
      },
    });
  });

  it('omits empty metadata; event keys win over the hook’s', async () => {
    const s = await serve(reply(202));
    await callWebhook({ name: 'a', url: s.url }, webhookPayload(CANARY));
    await callWebhook(
      { name: 'b', type: 'event', url: s.url, metadata: { eventType: 'mine', team: 'shop' } },
      webhookPayload(CANARY, { message: 'm', type: 'Warning', timeMs: 5 }),
    );
    expect(s.received[0]!.body).toEqual({
      name: 'checkout-service',
      namespace: 'composite',
      phase: 'Progressing',
      checksum: 'abc123',
    });
    expect((s.received[1]!.body as { metadata: unknown }).metadata).toEqual({
      eventType: 'Warning',
      team: 'shop',
      eventMessage: 'm',
      timestamp: '5',
    });
  });

  it('phases, types and checksums', () => {
    expect(CANARY_PHASES).toContain('WaitingPromotion');
    expect(payloadPhase('post-rollout', 'Promoting')).toBe('Succeeded');
    expect(payloadPhase('event', 'Promoting')).toBe('Promoting');
    expect(hookType({})).toBe('rollout');
    expect(hookType({ type: '' })).toBe('rollout');
    expect(hookType({ type: 'pre-promotion' })).toBeNull();
    expect(canaryChecksum({ a: 1, b: [2] })).toBe(canaryChecksum({ b: [2], a: 1 }));
    expect(canaryChecksum({ a: 1 })).not.toBe(canaryChecksum({ a: 2 }));
    expect(canaryChecksum({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
    expect(webhookTimeoutMs({})).toBe(10_000);
    expect(webhookTimeoutMs({ timeout: '5' })).toBe(10_000); // Flagger: shorter than 2 characters → 10s
    expect(webhookTimeoutMs({ timeout: '250ms' })).toBe(250);
    expect(webhookTimeoutMs({ timeout: 'soon' })).toBeNull();
  });
});

describe('status, timeout, retries', () => {
  it('200, 201 and 202 are success; 204, 3xx without redirect, 4xx and 5xx are not (Flagger: status > 202 fails)', async () => {
    for (const [status, ok] of [
      [200, true],
      [201, true],
      [202, true],
      [204, false],
      [304, false],
      [403, false],
      [500, false],
    ] as const) {
      const s = await serve(reply(status, status === 403 ? 'not approved yet' : ''));
      const r = await callWebhook({ name: 'gate', type: 'confirm-rollout', url: s.url }, webhookPayload(CANARY));
      expect({ status, ok: r.ok, got: r.status }).toEqual({ status, ok, got: status });
      if (!ok) expect(r.error).toContain(`HTTP ${status}`);
      if (status === 403) expect(r.error).toBe('HTTP 403: not approved yet');
    }
  });

  it('follows redirects (Go’s client does)', async () => {
    const target = await serve(reply(200));
    const s = await serve((_n, _req, res) => {
      res.writeHead(307, { location: target.url });
      res.end();
    });
    const r = await callWebhook({ name: 'r', url: s.url }, webhookPayload(CANARY));
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(target.received[0]!.method).toBe('POST');
  });

  it('times out a hung server after the hook’s timeout', async () => {
    const s = await serve(() => {}); // never answers
    const r = await callWebhook({ name: 'slow', url: s.url, timeout: '150ms' }, webhookPayload(CANARY));
    expect(r).toMatchObject({ ok: false, status: null, attempts: 1, error: 'timed out after 150ms' });
    expect(r.durationMs).toBeGreaterThanOrEqual(140);
    expect(r.durationMs).toBeLessThan(2000);
  });

  it('retries 5xx: failing twice then succeeding with retries 2 is ok after 3 attempts', async () => {
    const s = await serve((n, req, res) => reply(n < 2 ? 503 : 200)(n, req, res));
    const r = await callWebhook({ name: 'flaky', url: s.url, retries: 2 }, webhookPayload(CANARY), FAST);
    expect(r).toMatchObject({ ok: true, status: 200, attempts: 3 });
    expect(s.received).toHaveLength(3);
    expect(s.received.every((x) => JSON.stringify(x.body) === JSON.stringify(s.received[0]!.body))).toBe(true);
  });

  it('gives up after retries + 1 attempts with the last status', async () => {
    const s = await serve(reply(500, 'boom'));
    const r = await callWebhook({ name: 'down', url: s.url, retries: 2 }, webhookPayload(CANARY), FAST);
    expect(r).toMatchObject({ ok: false, status: 500, attempts: 3, error: 'HTTP 500: boom (after 3 attempts)' });
  });

  it('does not retry 4xx or 501 (go-retryablehttp’s policy), retries 429 and timeouts', async () => {
    for (const status of [400, 403, 501]) {
      const s = await serve(reply(status));
      const r = await callWebhook({ name: 'x', url: s.url, retries: 3 }, webhookPayload(CANARY), FAST);
      expect({ status, attempts: r.attempts }).toEqual({ status, attempts: 1 });
    }
    const limited = await serve((n, req, res) => {
      if (n === 0) {
        res.writeHead(429, { 'retry-after': '0' });
        res.end();
      } else reply(200)(n, req, res);
    });
    expect(await callWebhook({ name: 'x', url: limited.url, retries: 1 }, webhookPayload(CANARY), FAST)).toMatchObject({
      ok: true,
      attempts: 2,
    });
    const hangsOnce = await serve((n, req, res) => {
      if (n > 0) reply(200)(n, req, res);
    });
    const r = await callWebhook(
      { name: 'x', url: hangsOnce.url, retries: 1, timeout: '100ms' },
      webhookPayload(CANARY),
      FAST,
    );
    expect(r).toMatchObject({ ok: true, attempts: 2 });
  });

  it('reports a refused connection clearly (and retries it)', async () => {
    const s = await serve(reply(200));
    const url = s.url;
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    const r = await callWebhook({ name: 'gone', url, retries: 1 }, webhookPayload(CANARY), FAST);
    expect(r.ok).toBe(false);
    expect(r.status).toBeNull();
    expect(r.attempts).toBe(2);
    expect(r.error).toMatch(/^connection refused by 127\.0\.0\.1:\d+ \(after 2 attempts\)$/);
  });

  it('rejects a bad URL or timeout without calling, and stops on an outside abort', async () => {
    expect(await callWebhook({ name: 'x', url: 'ftp://x/' }, webhookPayload(CANARY))).toMatchObject({
      ok: false,
      attempts: 0,
      error: 'invalid webhook url "ftp://x/"',
    });
    expect(
      await callWebhook({ name: 'x', url: 'http://127.0.0.1:1/', timeout: 'soon' }, webhookPayload(CANARY)),
    ).toMatchObject({
      ok: false,
      attempts: 0,
      error: 'invalid webhook timeout "soon"',
    });
    const s = await serve(() => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const r = await callWebhook({ name: 'x', url: s.url, retries: 5 }, webhookPayload(CANARY), { signal: ac.signal });
    expect(r).toMatchObject({ ok: false, attempts: 1, error: 'aborted' });
  });
});

describe('runHooks', () => {
  const hooks = (urls: Record<string, string>, type: WebhookType | undefined): CanaryWebhook[] =>
    Object.entries(urls).map(([name, url]) => ({ name, url, ...(type ? { type } : {}) }));

  it('gates stop at the first failure; only hooks of the type are called; an absent type is rollout', async () => {
    const yes = await serve(reply(200));
    const no = await serve(reply(403));
    const all = [
      ...hooks({ a: yes.url, b: no.url, c: yes.url }, 'confirm-promotion'),
      ...hooks({ load: yes.url }, undefined),
    ];
    const gate = await runHooks(all, 'confirm-promotion', webhookPayload(CANARY));
    expect(gate.ok).toBe(false);
    expect(gate.anyOk).toBe(true);
    expect(gate.results.map((r) => [r.name, r.ok])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(gate.skipped).toEqual(['c']);
    const rollout = await runHooks(all, 'rollout', webhookPayload(CANARY));
    expect(rollout).toMatchObject({ ok: true, skipped: [] });
    expect(rollout.results.map((r) => r.name)).toEqual(['load']);
    const none = await runHooks(all, 'pre-rollout', webhookPayload(CANARY));
    expect(none).toEqual({ type: 'pre-rollout', ok: true, anyOk: false, results: [], skipped: [] });
  });

  it('rollback stops at the first success (roll back); event calls every hook', async () => {
    const yes = await serve(reply(200));
    const no = await serve(reply(404));
    const rb = await runHooks(
      hooks({ a: no.url, b: yes.url, c: yes.url }, 'rollback'),
      'rollback',
      webhookPayload(CANARY),
    );
    expect(rb.anyOk).toBe(true);
    expect(rb.results.map((r) => r.name)).toEqual(['a', 'b']);
    expect(rb.skipped).toEqual(['c']);
    const quiet = await runHooks(hooks({ a: no.url }, 'rollback'), 'rollback', webhookPayload(CANARY));
    expect(quiet.anyOk).toBe(false);
    const ev = await runHooks(hooks({ a: no.url, b: yes.url }, 'event'), 'event', (h) =>
      webhookPayload(CANARY, { message: `to ${h.name}`, type: 'Normal', timeMs: 1 }),
    );
    expect(ev.results.map((r) => [r.name, r.ok])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect((yes.received.at(-1)!.body as { metadata: { eventMessage: string } }).metadata.eventMessage).toBe('to b');
  });
});
