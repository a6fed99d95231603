/**
 * `weir explain` end to end: spawns `node bin/weir.js explain …` on the article's configurations and checks the
 * JSON contract of docs/explain.md and the exit codes (0 decided, 64 bad usage, 79 config errors).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SEED_DIR } from '../helpers/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const URL = 'http://checkout-service.prod.svc.cluster.local/cart';
const f = (...names: string[]) => names.flatMap((n) => ['-f', join(SEED_DIR, n)]);
const COMPOSITE = f('00-mesh.yaml', '01-destination-rule-subsets.yaml', '02-composite-routing.yaml');

function weir(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'weir.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(...args: string[]) {
  const r = weir('explain', ...args, '-o', 'json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('weir explain on the article configurations', () => {
  it('x-canary-user: true → v2 (route internal-canary-route)', () => {
    const j = json(URL, ...COMPOSITE, '-H', 'x-canary-user: true');
    expect(j).toMatchObject({
      host: 'checkout-service.prod.svc.cluster.local',
      virtualService: { name: 'checkout-service-vs', namespace: 'prod' },
      delegate: null,
      action: 'route',
      status: null,
      responseFlags: null,
      route: { name: 'internal-canary-route', index: 0, matchIndex: 0 },
    });
    expect(j.destinations).toEqual([
      expect.objectContaining({ subset: 'v2', percent: 100, clusterExists: true, endpoints: ['127.0.0.1:18082'] }),
    ]);
    expect(j.retries).toMatchObject({ attempts: 2, isDefault: true });
    expect(j.timeout).toBeNull();
  });

  it('no header → v1 95 % / v2 5 %, both listed, with the reason route 0 did not match', () => {
    const j = json(URL, ...COMPOSITE);
    expect(j.route).toMatchObject({ name: 'public-traffic-split', index: 1, matchIndex: null });
    expect(
      j.destinations.map((d: { subset: string; percent: number; port: number }) => [d.subset, d.percent, d.port]),
    ).toEqual([
      ['v1', 95, 80],
      ['v2', 5, 80],
    ]);
    expect(j.destinations.filter((d: { picked: boolean }) => d.picked)).toHaveLength(1);
    const miss = j.trace.find((t: { step: string; matched?: boolean }) => t.step === 'match' && t.matched === false);
    expect(miss.message).toContain('x-canary-user is absent');
  });

  it('source app=qa-tools (by labels, or resolved from --source-ip 127.0.0.5) → v2', () => {
    const files = f('00-mesh.yaml', '01-destination-rule-subsets.yaml', '03-source-labels.yaml');
    const byLabels = json(URL, ...files, '--source-labels', 'app=qa-tools');
    const byIp = json(URL, ...files, '--source-ip', '127.0.0.5');
    for (const j of [byLabels, byIp]) {
      expect(j.route.name).toBe('internal-service-canary');
      expect(j.destinations[0].subset).toBe('v2');
    }
    expect(byIp.request.source).toMatchObject({ labels: { app: 'qa-tools' }, namespace: 'prod', ip: '127.0.0.5' });
    expect(json(URL, ...files, '--source-ip', '10.9.9.9').destinations[0].subset).toBe('v1');
  });

  it('user-group: beta-testers → v2 with timeout 2s and 1 attempt', () => {
    const files = f('00-mesh.yaml', '01-destination-rule-subsets.yaml', '08-per-group-policy.yaml');
    const j = json(URL, ...files, '-H', 'User-Group: beta-testers');
    expect(j.destinations[0].subset).toBe('v2');
    expect(j.timeout).toBe('2s');
    expect(j.retries).toMatchObject({ attempts: 1, perTryTimeout: '1s', isDefault: false });
    const other = json(URL, ...files);
    expect([other.timeout, other.retries.attempts, other.retries.perTryTimeout]).toEqual(['10s', 3, '3s']);
  });

  it('mirroring: mirror 10 % to v2, and the consistent-hash policy shows per destination', () => {
    const m = json(URL, ...f('00-mesh.yaml', '01-destination-rule-subsets.yaml', '04-mirroring.yaml'));
    expect(m.mirrors).toEqual([
      {
        host: 'checkout-service.prod.svc.cluster.local',
        subset: 'v2',
        port: 80,
        percent: 10,
        cluster: 'outbound|80|v2|checkout-service.prod.svc.cluster.local',
      },
    ]);
    const h = json(URL, ...f('00-mesh.yaml', '05-destination-rule-consistent-hash.yaml', '06-fifty-fifty.yaml'));
    expect(h.destinations.map((d: { percent: number }) => d.percent)).toEqual([50, 50]);
    expect(h.destinations[0].trafficPolicy).toEqual({
      loadBalancer: { consistentHash: { httpHeaderName: 'session-id' } },
    });
  });

  it('Host header keeps case and port; unknown host → 404 NR with exit 0', () => {
    const j = json(URL, ...COMPOSITE, '-H', 'Host: Checkout-Service.prod:80');
    expect(j.request.authority).toBe('Checkout-Service.prod:80');
    expect(j.action).toBe('route');
    const nf = json('http://nope.example.com/', ...COMPOSITE);
    expect(nf).toMatchObject({ action: 'notFound', status: 404, responseFlags: 'NR', route: null });
  });

  it('text output names the VS, the routes tried and the policies', () => {
    const r = weir('explain', URL, ...COMPOSITE);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('VirtualService prod/checkout-service-vs');
    expect(r.stdout).toContain('✘ route[0] internal-canary-route');
    expect(r.stdout).toMatch(/95% checkout-service\.prod\.svc\.cluster\.local subset v1/);
    expect(r.stdout).toContain("Istio's default policy");
  });

  it('exit 64 for a bad URL or a bad -H; 79 with config errors printed to stderr', () => {
    expect(weir('explain', 'not a url', ...COMPOSITE).code).toBe(64);
    expect(weir('explain', URL, ...COMPOSITE, '-H', 'no-colon').code).toBe(64);
    const dir = mkdtempSync(join(tmpdir(), 'weir-explain-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\nspec:\n  hosts: [a.test]\n  http:\n  - route:\n    - destination: {host: a.test}\n      weight: -1\n',
    );
    const r = weir('explain', 'http://a.test/', '-f', bad);
    expect(r.code).toBe(79);
    expect(r.stderr).toMatch(/error/);
  });

  it('explains what Istio serves despite analyzer findings: a missing subset is 503 NC (findings on stderr)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-explain-'));
    const vs = join(dir, 'vs.yaml');
    writeFileSync(
      vs,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: prod}\nspec:\n  hosts: [checkout-service.prod.svc.cluster.local]\n  http:\n  - route:\n    - destination: {host: checkout-service.prod.svc.cluster.local, subset: v9}\n',
    );
    const r = weir(
      'explain',
      URL,
      '-f',
      join(import.meta.dirname, '..', 'fixtures', 'seed', '00-mesh.yaml'),
      '-f',
      join(import.meta.dirname, '..', 'fixtures', 'seed', '01-destination-rule-subsets.yaml'),
      '-f',
      vs,
      '-o',
      'json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'clusterNotFound', status: 503, responseFlags: 'NC' });
    expect(r.stderr).toContain('IST0101');
  });
});

describe('weir explain text: the weighted pick and unreachable routes are labelled', () => {
  const writeVs = (http: string): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'weir-explain-')), 'vs.yaml');
    writeFileSync(
      file,
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: prod}\nspec:\n  hosts: [checkout-service.prod.svc.cluster.local]\n  http:\n${http}`,
    );
    return file;
  };
  const BASE = f('00-mesh.yaml', '01-destination-rule-subsets.yaml');

  it('a weighted split lists every destination with its share; the pick is marked as this run’s random draw', () => {
    const r = weir('explain', URL, ...COMPOSITE);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Destinations \(weighted split: Envoy draws one at random per request, by weight/);
    expect(r.stdout).toMatch(/^ {2}→ \d+% .*← random pick of this run$/m);
    expect(r.stdout).toMatch(/95% checkout-service\.prod\.svc\.cluster\.local subset v1/);
    expect(r.stdout).toMatch(/5% checkout-service\.prod\.svc\.cluster\.local subset v2/);
    expect(r.stdout).toMatch(/weighted split over 2 destinations \(95\/5\): Envoy draws one at random per request/);
    expect(json(URL, ...COMPOSITE).pick).toBe('random');
    // A single destination is no draw.
    const single = weir('explain', URL, ...COMPOSITE, '-H', 'x-canary-user: true');
    expect(single.stdout).not.toContain('random');
    expect(json(URL, ...COMPOSITE, '-H', 'x-canary-user: true').pick).toBe('single');
  });

  it('a route after a catch-all (IST0130) is marked never reached, whichever route the request took', () => {
    const vs = writeVs(
      [
        '  - name: all',
        '    route: [{destination: {host: checkout-service.prod.svc.cluster.local, subset: v1}}]',
        '  - name: late',
        '    match: [{headers: {x-late: {exact: "1"}}}]',
        '    route: [{destination: {host: checkout-service.prod.svc.cluster.local, subset: v2}}]',
        '',
      ].join('\n'),
    );
    const r = weir('explain', URL, ...BASE, '-f', vs, '-H', 'x-late: 1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/⊘ route\[1\] late never reached: .*route without matches defined before.*\(IST0130\)/);
    const j = json(URL, ...BASE, '-f', vs, '-H', 'x-late: 1');
    expect(j.route.name).toBe('all');
    expect(j.trace).toContainEqual(
      expect.objectContaining({ step: 'unreachable', route: { name: 'late', index: 1 }, matched: false }),
    );
  });

  it('a VirtualService whose only route selects another source is skipped: the default route, and why', () => {
    const vs = writeVs(
      [
        '  - name: qa-only',
        '    match: [{sourceLabels: {app: qa-tools}}]',
        '    route: [{destination: {host: checkout-service.prod.svc.cluster.local, subset: v2}}]',
        '',
      ].join('\n'),
    );
    const j = json(URL, ...BASE, '-f', vs, '--source-ip', '10.9.9.9');
    expect(j).toMatchObject({ virtualService: null, action: 'route', status: null, route: { name: 'default' } });
    expect(j.destinations[0].cluster).toBe('outbound|80||checkout-service.prod.svc.cluster.local');
    const text = weir('explain', URL, ...BASE, '-f', vs, '--source-ip', '10.9.9.9').stdout;
    expect(text).toContain('VirtualService prod/vs not applied for this source (unknown workload)');
    expect(text).toContain('VirtualService (none applied for this request: see the trace)');
    expect(text).toMatch(/✘ route\[0\] qa-only match\[0\] left out for .*sourceLabels app=qa-tools/);
  });
});

describe('weir explain --validate', () => {
  // Pattern 1 with a typo: `matches` for `match`.
  const dir = mkdtempSync(join(tmpdir(), 'weir-explain-validate-'));
  const typo = join(dir, 'vs.yaml');
  writeFileSync(
    typo,
    readFileSync(join(SEED_DIR, '02-composite-routing.yaml'), 'utf8').replace('    match:\n', '    matches:\n'),
  );
  const files = [...f('00-mesh.yaml', '01-destination-rule-subsets.yaml'), '-f', typo];
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('strict (default): an unknown field makes the configuration unusable (exit 79, the field path on stderr)', () => {
    const r = weir('explain', URL, ...files);
    expect(r.code).toBe(79);
    expect(r.stderr).toContain(
      'vs.yaml:12:5 error WEIR0002 VirtualService prod/checkout-service-vs spec.http[0].matches: strict decoding error: unknown field "spec.http[0].matches" (did you mean "match"?)',
    );
  });

  it('warn: explains what a lenient cluster would serve — the first route, now without a match, takes every request', () => {
    const r = weir('explain', URL, ...files, '--validate=warn', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning WEIR0002 .*spec\.http\[0\]\.matches/);
    const j = JSON.parse(r.stdout);
    expect(j.route).toMatchObject({ name: 'internal-canary-route', index: 0 });
    expect(j.destinations).toEqual([expect.objectContaining({ subset: 'v2', percent: 100 })]);
  });
});
