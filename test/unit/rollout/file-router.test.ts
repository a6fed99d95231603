/**
 * The file traffic router: locate's checks and messages, every rollout state written into a copy of the composite
 * example (accepted by the validator and routed as intended by the routing engine), layout preservation (only the
 * changed nodes move), no-op applies, hand-edited files, user-owned mirrors and annotations, and the atomic write.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSnapshot } from '../../../src/config/snapshot.ts';
import {
  CANARY_MATCH_ROUTE,
  FileTrafficRouter,
  MANAGED_ANNOTATION,
  type TrafficState,
  type TrafficTarget,
} from '../../../src/rollout/router/file-router.ts';
import { compileRouteTable } from '../../../src/routing/compile.ts';
import { decide } from '../../../src/routing/decide.ts';
import { createFacts } from '../../../src/routing/facts.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', '01-composite-routing');
const HOST = 'checkout-service.composite.svc.cluster.local';
const TARGET: TrafficTarget = {
  namespace: 'composite',
  name: 'checkout-service-vs',
  host: HOST,
  primarySubset: 'v1',
  canarySubset: 'v2',
};
const MATCH = [{ headers: { 'x-canary-user': { exact: 'true' } } }];
const state = (s: Partial<TrafficState>): TrafficState => ({
  canaryWeight: 0,
  match: null,
  mirrorPercent: null,
  sticky: false,
  ...s,
});

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A temp dir with the composite example's DestinationRule and ServiceEntry, and `vs` as virtual-service.yaml. */
async function config(vs?: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-router-'));
  dirs.push(dir);
  for (const f of ['destination-rule.yaml', 'service.yaml', 'virtual-service.yaml']) {
    await writeFile(join(dir, f), await readFile(join(EXAMPLE, f), 'utf8'));
  }
  const file = join(dir, 'virtual-service.yaml');
  if (vs !== undefined) await writeFile(file, vs);
  return { dir, file };
}

/** A VirtualService of the composite namespace with the given `http` block (YAML, indented under `http:`). */
const vsWith = (http: string, meta = '') =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: checkout-service-vs\n  namespace: composite\n${meta}spec:\n  hosts:\n  - ${HOST}\n  http:\n${http}`;

const SIMPLE = vsWith(`  - name: main
    route:
    - destination:
        host: ${HOST}
        subset: v1
`);

/** Everything weir validate reports at error level for `dir`. */
async function errorsOf(dir: string): Promise<string[]> {
  const snap = await loadSnapshot([dir]);
  return snap.diagnostics.filter((d) => d.level === 'error').map((d) => `${d.code} ${d.field}: ${d.message}`);
}

/** The routing engine over `dir`: the subset and route chosen for a request (rng fixed), and the route's mirrors. */
async function engine(dir: string) {
  const snap = await loadSnapshot([dir]);
  const table = compileRouteTable(snap, { gateway: null, namespace: 'composite' });
  return (rng: number, headers: Record<string, string> = {}) => {
    const d = decide(table, createFacts({ authority: HOST, headers }), { rng: () => rng });
    if (d.action !== 'route') throw new Error(`expected a route, got ${d.action}`);
    return {
      subset: d.cluster.subset,
      route: d.route.name,
      mirrors: d.route.mirrors.map((m) => `${m.subset}@${m.percent}`),
      sticky: d.route.stickySplit,
    };
  };
}

/** A hand-formatted file: 4-space indentation, indented sequences, flow maps, comments, a second document. */
const FANCY = `# the checkout service — keep this comment
apiVersion: networking.istio.io/v1   # v1 API
kind: VirtualService
metadata: {name: checkout-service-vs, namespace: composite}
spec:
    hosts: [ "${HOST}" ]
    http:
        -   name: 'other'
            match: [{uri: {prefix: /admin}}]
            route:
                - destination: {host: ${HOST}}

        # the public split
        -   name: "main"      # rolled out
            route:
                - destination:
                      host: ${HOST}
                      subset: v1
                  weight: 95     # stable
                - destination: {host: ${HOST}, subset: v2}
                  weight: 5
            timeout: 0x1F s
---
# another document
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
data: {a: "1", b: yes}
`;

describe('FileTrafficRouter.locate', () => {
  it('finds the VirtualService and reads the example’s state (reporting the catch-all route, noting the disagreement)', async () => {
    const { dir, file } = await config();
    const r = await FileTrafficRouter.locate([dir], TARGET);
    expect(r.file).toBe(file);
    const d = await r.describe();
    expect(d.state).toEqual({ canaryWeight: 5, match: null, mirrorPercent: null, sticky: false });
    // The beta testers' route (x-canary-user → v2 only) is not the rollout's: only the v1/v2 split is managed.
    expect(d.routes.map((x) => [x.index, x.name, x.role, x.canaryWeight])).toEqual([
      [0, 'internal-canary-route', 'other', null],
      [1, 'public-traffic-split', 'rolled-out', 5],
    ]);
    expect(r.managedRoutes).toEqual([{ name: 'public-traffic-split' }]);
    expect(d.issues).toEqual([]);
  });

  it('defaults the namespace as the loader does, and resolves short destination hosts', async () => {
    const vs = SIMPLE.replace('  namespace: composite\n', '').replace(
      `host: ${HOST}\n        subset`,
      'host: checkout-service\n        subset',
    );
    const { dir } = await config(vs);
    await expect(FileTrafficRouter.locate([dir], TARGET)).rejects.toThrow(
      /VirtualService composite\/checkout-service-vs not found in .*; VirtualServices found: default\/checkout-service-vs/,
    );
    const r = await FileTrafficRouter.locate([dir], TARGET, { defaultNamespace: 'composite' });
    expect(await r.read()).toEqual(state({}));
    await r.apply(state({ canaryWeight: 10 }));
    const text = await readFile(r.file, 'utf8');
    expect(text).toContain(
      '    - destination:\n        host: checkout-service\n        subset: v2\n      weight: 10\n',
    );
  });

  it('explains what is missing', async () => {
    const cases: [string, string | null, RegExp][] = [
      ['no VirtualService', null, /not found in .*virtual-service\.yaml/],
      [
        'no rolled-out route',
        SIMPLE.replace('subset: v1', 'subset: v3'),
        /no HTTP route sends checkout-service\.composite\.svc\.cluster\.local to subset v1 or v2; routes: http\[0\] \("main"\) → checkout-service\.composite\.svc\.cluster\.local \(v3\)/,
      ],
      [
        'another destination in a rolled-out route',
        SIMPLE +
          `      weight: 90\n    - destination:\n        host: other.composite.svc.cluster.local\n      weight: 10\n`,
        /http\[0\] \("main"\) also routes to other\.composite\.svc\.cluster\.local \(no subset\): weir shifts weight only between v1 and v2/,
      ],
      [
        'two primaries',
        SIMPLE +
          `      weight: 50\n    - destination:\n        host: ${HOST}\n        subset: v1\n        port: {number: 8080}\n      weight: 50\n`,
        /http\[0\] \("main"\) has 2 destinations to subset v1; keep one/,
      ],
      [
        'invalid VirtualService',
        SIMPLE.replace('    route:', '    timeout: soon\n    route:'),
        /is invalid: spec\.http\[0\]\.timeout/,
      ],
    ];
    for (const [what, vs, message] of cases) {
      const { dir } = await config(vs ?? 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
      await expect(FileTrafficRouter.locate([dir], TARGET), what).rejects.toThrow(message);
    }
    const { dir } = await config(SIMPLE);
    await writeFile(join(dir, 'copy.yaml'), SIMPLE);
    await expect(FileTrafficRouter.locate([dir], TARGET)).rejects.toThrow(
      /is defined more than once \(.*copy\.yaml:1 and .*virtual-service\.yaml:1\)/,
    );
  });

  it('requires both subsets in a DestinationRule visible from the VirtualService', async () => {
    const { dir } = await config(SIMPLE);
    await expect(FileTrafficRouter.locate([dir], { ...TARGET, canarySubset: 'v3' })).rejects.toThrow(
      /subset v3 not defined \(the DestinationRule composite\/checkout-service-dr for checkout-service\.composite\.svc\.cluster\.local defines v1, v2\); weir serve would answer 503 NC/,
    );
    // A primary subset that does not exist is named as such (issue 12), not as "no route sends … to v3 or v2".
    await expect(FileTrafficRouter.locate([dir], { ...TARGET, primarySubset: 'v3' })).rejects.toThrow(
      /^cannot roll out VirtualService composite\/checkout-service-vs: subset v3 not defined \(the DestinationRule/,
    );
    await rm(join(dir, 'destination-rule.yaml'));
    await expect(FileTrafficRouter.locate([dir], TARGET)).rejects.toThrow(
      /subset v1 and v2 not defined \(no DestinationRule for/,
    );
  });

  it('refuses a route with its own mirror when the Canary mirrors', async () => {
    const { dir } = await config(SIMPLE + `    mirror:\n      host: ${HOST}\n      subset: v2\n`);
    await expect(FileTrafficRouter.locate([dir], TARGET, { mirror: true })).rejects.toThrow(
      /http\[0\] \("main"\) already has its own mirror; the Canary mirrors to v2 \(analysis\.mirror\): remove the route's mirror/,
    );
    const r = await FileTrafficRouter.locate([dir], TARGET); // without mirroring it is fine, and left alone
    expect((await r.read()).mirrorPercent).toBe(100);
    await r.apply(state({ canaryWeight: 20 }));
    expect(await readFile(r.file, 'utf8')).toContain(`    mirror:\n      host: ${HOST}\n      subset: v2\n`);
    await expect(r.apply(state({ canaryWeight: 20, mirrorPercent: 5 }))).rejects.toThrow(/already has its own mirror/);
  });
});

describe('FileTrafficRouter.apply: every state, validated and routed', () => {
  it('walks the composite example through a rollout', async () => {
    const { dir } = await config();
    const r = await FileTrafficRouter.locate([dir], TARGET, { mirror: true });
    const steps: { s: TrafficState; check: (route: Awaited<ReturnType<typeof engine>>) => void }[] = [
      {
        s: state({}),
        check: (route) => {
          expect(route(0.999).subset).toBe('v1');
          // A rollout never takes away routes it does not own: the beta testers keep v2.
          expect(route(0.999, { 'x-canary-user': 'true' })).toMatchObject({
            subset: 'v2',
            route: 'internal-canary-route',
          });
        },
      },
      {
        s: state({ match: MATCH, sticky: true }),
        check: (route) => {
          // weir's match route goes before the first managed route; the user's own header route still comes first.
          expect(route(0.5, { 'x-canary-user': 'true' })).toMatchObject({
            subset: 'v2',
            route: 'internal-canary-route',
          });
          expect(route(0.999)).toMatchObject({ subset: 'v1', route: 'public-traffic-split' });
        },
      },
      {
        s: state({ mirrorPercent: 12.5, sticky: true }),
        check: (route) => {
          expect(route(0.999)).toMatchObject({ subset: 'v1', mirrors: ['v2@12.5'] });
          expect(route(0.5, { 'x-canary-user': 'true' })).toMatchObject({ subset: 'v2', mirrors: [] });
        },
      },
      {
        s: state({ canaryWeight: 5, sticky: true }),
        check: (route) => {
          expect(route(0.9499)).toMatchObject({ subset: 'v1', mirrors: [], sticky: true });
          expect(route(0.9501).subset).toBe('v2');
        },
      },
      {
        s: state({ canaryWeight: 50, sticky: true }),
        check: (route) => {
          expect(route(0.4999).subset).toBe('v1');
          expect(route(0.5001).subset).toBe('v2');
        },
      },
      {
        s: state({ canaryWeight: 100 }),
        check: (route) => {
          expect(route(0)).toMatchObject({ subset: 'v2', sticky: false });
          expect(route(0, { 'x-canary-user': 'true' }).subset).toBe('v2');
        },
      },
      { s: state({}), check: (route) => expect(route(0.999).subset).toBe('v1') },
    ];
    const betaRoute = (text: string) => / {2}- name: "internal-canary-route"\n(?: {4}.*\n)+/.exec(text)?.[0];
    const beta = betaRoute(await readFile(r.file, 'utf8'));
    expect(beta).toContain('subset: v2');
    for (const { s, check } of steps) {
      const applied = await r.apply(s);
      expect(applied.changed, JSON.stringify(s)).toBe(true);
      // Back at 100 % primary weir names the routes it left on the canary.
      const primaryOnly = s.canaryWeight === 0 && s.match === null && s.mirrorPercent === null;
      expect(applied.unmanagedToCanary).toEqual(primaryOnly ? ['http[0] ("internal-canary-route") → v2'] : undefined);
      expect(await r.read()).toEqual(s);
      expect((await r.describe()).issues).toEqual([]);
      expect(await errorsOf(dir), JSON.stringify(s)).toEqual([]);
      check(await engine(dir));
      expect((await r.apply(s)).changed).toBe(false);
      // The beta testers' route is byte for byte what the user wrote, in every state.
      expect(betaRoute(await readFile(r.file, 'utf8'))).toBe(beta);
    }
    // Everything weir added is gone again; no temporary files are left.
    const text = await readFile(r.file, 'utf8');
    expect(text).not.toContain('weir.dev');
    expect(text).not.toContain('mirror');
    expect(text).not.toContain(CANARY_MATCH_ROUTE);
    expect(await readdir(dir)).toEqual(['destination-rule.yaml', 'service.yaml', 'virtual-service.yaml']);
  });

  it('writes the match route and the mirror as a user would, copying the route’s policies', async () => {
    const { dir } = await config(
      vsWith(`  - name: main
    route:
    - destination:
        host: ${HOST}
        subset: v1
        port:
          number: 80
      headers:
        request:
          set: {x-route: main}
    timeout: 2s
    retries:
      attempts: 2
`),
    );
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 10, match: MATCH, mirrorPercent: 2.5, sticky: true }));
    expect(await readFile(r.file, 'utf8')).toBe(
      vsWith(
        `  - name: weir-canary-match
    match:
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination:
        host: ${HOST}
        subset: v2
        port:
          number: 80
      headers:
        request:
          set: {x-route: main}
    timeout: 2s
    retries:
      attempts: 2
  - name: main
    route:
    - destination:
        host: ${HOST}
        subset: v1
        port:
          number: 80
      headers:
        request:
          set: {x-route: main}
      weight: 90
    - destination:
        host: ${HOST}
        subset: v2
        port:
          number: 80
      headers:
        request:
          set: {x-route: main}
      weight: 10
    timeout: 2s
    retries:
      attempts: 2
    mirror:
      host: ${HOST}
      subset: v2
    mirrorPercentage:
      value: 2.5
`,
        `  annotations:\n    weir.dev/sticky-split: "true"\n    ${MANAGED_ANNOTATION}: mirror,sticky-split\n`,
      ),
    );
    expect(await errorsOf(dir)).toEqual([]);
    const route = await engine(dir);
    expect(route(0.95, { 'x-canary-user': 'true' })).toMatchObject({
      subset: 'v2',
      route: CANARY_MATCH_ROUTE,
      mirrors: [],
    });
    expect(route(0.95)).toMatchObject({ subset: 'v2', route: 'main', mirrors: ['v2@2.5'], sticky: true });
    expect(route(0.85)).toMatchObject({ subset: 'v1', route: 'main' });
  });
});

describe('the routes a rollout owns (issue 12, Argo Rollouts’ routes)', () => {
  /** An API route pinned to v1 before the catch-all route, both to v1, and a beta route to v2. */
  const THREE = vsWith(`  - name: beta
    match:
    - headers:
        x-beta: {exact: "1"}
    route:
    - destination:
        host: ${HOST}
        subset: v2
  - name: api
    match:
    - uri: {prefix: /api}
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - route:
    - destination:
        host: ${HOST}
        subset: v1
`);

  it('by default manages the routes that reach the primary, unnamed ones by position; routes: names them', async () => {
    const { dir, file } = await config(THREE);
    const all = await FileTrafficRouter.locate([dir], TARGET);
    expect(all.managedRoutes).toEqual([{ name: 'api' }, { index: 2 }]);
    await all.apply(state({ canaryWeight: 30, match: MATCH }));
    const route = await engine(dir);
    expect(route(0.9, { 'x-beta': '1' })).toMatchObject({ subset: 'v2', route: 'beta' });
    expect(route(0.9)).toMatchObject({ subset: 'v2' });
    // The unnamed catch-all route is still found after weir's match route moved it down one place.
    const again = await FileTrafficRouter.locate([dir], TARGET, { managed: all.managedRoutes });
    expect((await again.describe()).routes.map((r) => [r.name, r.role, r.canaryWeight])).toEqual([
      ['beta', 'other', null],
      [CANARY_MATCH_ROUTE, 'canary-match', null],
      ['api', 'rolled-out', 30],
      [null, 'rolled-out', 30],
    ]);

    await writeFile(file, THREE);
    const named = await FileTrafficRouter.locate([dir], TARGET, { routes: ['api'] });
    expect(named.managedRoutes).toEqual([{ name: 'api' }]);
    await named.apply(state({ canaryWeight: 100 }));
    const routed = await engine(dir);
    expect(routed(0.5, {}).subset).toBe('v1'); // the unnamed route is not in routes: left alone
    expect(routed(0.5, {}).route).toBeNull();
    expect(await errorsOf(dir)).toEqual([]);
    const text = await readFile(file, 'utf8');
    expect(text.slice(text.indexOf('  - name: api'))).toContain(
      `  - name: api\n    match:\n    - uri: {prefix: /api}\n    route:\n    - destination:\n        host: ${HOST}\n        subset: v2\n  - route:\n    - destination:\n        host: ${HOST}\n        subset: v1\n`,
    );

    await expect(FileTrafficRouter.locate([dir], TARGET, { routes: ['api', 'checkout'] })).rejects.toThrow(
      /the Canary's routes name "checkout", which .*virtual-service\.yaml does not have \(its HTTP routes: "beta", "api", http\[2\] \(unnamed\)\)/,
    );
    await expect(FileTrafficRouter.locate([dir], TARGET, { routes: ['beta'] })).resolves.toBeDefined();
  });

  it('after a promotion (no route reaches the primary) manages the routes that reach the canary', async () => {
    const { dir } = await config(THREE.replaceAll('subset: v1', 'subset: v2'));
    const r = await FileTrafficRouter.locate([dir], TARGET);
    expect(r.managedRoutes).toEqual([{ name: 'beta' }, { name: 'api' }, { index: 2 }]);
  });

  it('a rollback names the unmanaged routes still on the canary, and with the opt-in sends them to the primary', async () => {
    const { dir, file } = await config(
      THREE.replace(
        `  - name: api`,
        `  - name: half
    match:
    - uri: {prefix: /half}
    route:
    - destination:
        host: ${HOST}
        subset: v2
      weight: 40
    - destination:
        host: other.composite.svc.cluster.local
      weight: 60
    mirror:
      host: ${HOST}
      subset: v2
  - name: api`,
      ),
    );
    const r = await FileTrafficRouter.locate([dir], TARGET, { routes: ['api'] });
    const kept = await r.apply(state({}));
    expect(kept.unmanagedToCanary).toEqual([
      'http[0] ("beta") → v2',
      'http[1] ("half") → v2 (weight 40)',
      'http[1] ("half") → mirror to v2',
    ]);
    const released = await r.apply(state({ unmanagedToPrimary: true }));
    expect(released).toEqual({ changed: true, unmanagedToCanary: ['http[1] ("half") → mirror to v2'] });
    const route = await engine(dir);
    expect(route(0.5, { 'x-beta': '1' })).toMatchObject({ subset: 'v1', route: 'beta' });
    expect(await errorsOf(dir)).toEqual([
      'IST0101 spec.http[1].route[1].destination.host: Referenced host not found: "other.composite.svc.cluster.local"',
    ]);
    const text = await readFile(file, 'utf8');
    expect(text).toContain(
      `  - name: beta\n    match:\n    - headers:\n        x-beta: {exact: "1"}\n    route:\n    - destination:\n        host: ${HOST}\n        subset: v1\n`,
    );
    expect(text).toContain(
      `        subset: v1\n      weight: 40\n    - destination:\n        host: other.composite.svc.cluster.local\n`,
    );

    // Merged into the route's own primary destination when it has one.
    await writeFile(
      file,
      vsWith(`  - name: mixed
    match:
    - uri: {prefix: /mixed}
    route:
    - destination: {host: ${HOST}, subset: v2}
      weight: 30
    - destination: {host: ${HOST}, subset: v1}
      weight: 70
  - name: main
    route:
    - destination: {host: ${HOST}, subset: v1}
`),
    );
    const m = await FileTrafficRouter.locate([dir], TARGET, { routes: ['main'] });
    expect((await m.apply(state({ unmanagedToPrimary: true }))).unmanagedToCanary).toEqual([]);
    expect(await readFile(file, 'utf8')).toContain(
      `  - name: mixed\n    match:\n    - uri: {prefix: /mixed}\n    route:\n    - destination: {host: ${HOST}, subset: v1}\n      weight: 100\n  - name: main\n`,
    );
  });

  it('refuses a run whose managed route was removed by hand', async () => {
    const { dir, file } = await config(THREE);
    const r = await FileTrafficRouter.locate([dir], TARGET, { routes: ['api'] });
    await writeFile(file, THREE.replace('name: api', 'name: api-v2'));
    await expect(r.apply(state({ canaryWeight: 10 }))).rejects.toThrow(
      /the route "api" managed by this rollout is no longer in the VirtualService/,
    );
  });
});

describe('layout', () => {
  it('changes only the weight scalars for a weight step, and nothing else in the file', async () => {
    const vs = FANCY.replace('            timeout: 0x1F s\n', '');
    const { dir } = await config(vs);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 10 }));
    const after = await readFile(r.file, 'utf8');
    expect(after).toBe(
      vs.replace('weight: 95     # stable', 'weight: 90     # stable').replace('weight: 5\n', 'weight: 10\n'),
    );
    await r.apply(state({ canaryWeight: 5 }));
    expect(await readFile(r.file, 'utf8')).toBe(vs);
  });

  it('splices inserted and removed nodes without touching the rest', async () => {
    const vs = FANCY.replace('            timeout: 0x1F s\n', '');
    const { dir } = await config(vs);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 0, match: MATCH, mirrorPercent: 10, sticky: true }));
    const text = await readFile(r.file, 'utf8');
    // Untouched: comments, flow maps as written, the other route and the other document.
    expect(text).toContain(
      '# the checkout service — keep this comment\napiVersion: networking.istio.io/v1   # v1 API\n',
    );
    expect(text).toContain(`    hosts: [ "${HOST}" ]\n`);
    expect(text).toContain("        -   name: 'other'\n            match: [{uri: {prefix: /admin}}]\n");
    expect(
      text.endsWith(
        '---\n# another document\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\ndata: {a: "1", b: yes}\n',
      ),
    ).toBe(true);
    // The match route sits right after the other route, in the file's indentation (4, sequences indented), and the
    // comment and blank line stay with "main".
    expect(text).toContain(
      `                - destination: {host: ${HOST}}\n        - name: weir-canary-match\n          match:\n              - headers:\n`,
    );
    expect(text).toContain(
      `                subset: v2\n\n        # the public split\n        -   name: "main"      # rolled out\n`,
    );
    // The canary destination is gone; the mirror follows the route's last field.
    expect(text).toContain(
      `                  weight: 100     # stable\n            mirror:\n                host: ${HOST}\n                subset: v2\n            mirrorPercentage:\n                value: 10\n---\n`,
    );
    expect(text).not.toContain('subset: v2}');
    // The flow metadata got its annotations in flow style.
    expect(text).toContain(
      `metadata: {name: checkout-service-vs, namespace: composite, annotations: {weir.dev/sticky-split: "true", ${MANAGED_ANNOTATION}: "mirror,sticky-split"}}\n`,
    );
    expect(await errorsOf(dir)).toEqual([]);
    expect(await r.read()).toEqual(state({ match: MATCH, mirrorPercent: 10, sticky: true }));
    await r.apply(state({ canaryWeight: 5 }));
    const back = await readFile(r.file, 'utf8');
    // The canary destination is a copy of the primary one again (its comment not copied).
    expect(back).toContain(
      `                  weight: 95     # stable\n                - destination:\n                      host: ${HOST}\n                      subset: v2\n                  weight: 5\n---\n`,
    );
    expect(back.replace(`metadata: {name: checkout-service-vs, namespace: composite}`, '')).not.toContain('weir');
    expect(await r.read()).toEqual(state({ canaryWeight: 5 }));
  });

  it('splits a lone destination without a weight by splicing: the rest of the file stays byte for byte', async () => {
    // Found by the issue-12 e2e run: the primary's new `weight:` and the canary item inserted after it end at the same
    // offset; the whole document used to be re-rendered (comment alignment lost).
    const vs = SIMPLE.replace('  - name: main\n', '  - name: main      # all traffic to v1 until the rollout starts\n');
    const { dir, file } = await config(vs);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 20 }));
    expect(await readFile(file, 'utf8')).toBe(
      `${vs}      weight: 80\n    - destination:\n        host: ${HOST}\n        subset: v2\n      weight: 20\n`,
    );
    await r.apply(state({}));
    expect(await readFile(file, 'utf8')).toBe(`${vs}      weight: 100\n`);
  });

  it('keeps CRLF line endings, a BOM, the file mode, and writes through a symlink', async () => {
    const { dir } = await config();
    const real = join(dir, 'real');
    await mkdir(real);
    const text = `\uFEFF${SIMPLE.replace(/\n/g, '\r\n')}`;
    await writeFile(join(real, 'vs.yaml'), text);
    await chmod(join(real, 'vs.yaml'), 0o640);
    await rm(join(dir, 'virtual-service.yaml'));
    await symlink(join(real, 'vs.yaml'), join(dir, 'virtual-service.yaml'));
    const r = await FileTrafficRouter.locate(
      [join(dir, 'virtual-service.yaml'), join(dir, 'destination-rule.yaml'), join(dir, 'service.yaml')],
      TARGET,
    );
    await r.apply(state({ canaryWeight: 30 }));
    const after = await readFile(join(real, 'vs.yaml'), 'utf8');
    expect(after.startsWith('\uFEFF')).toBe(true);
    expect(after.replace(/\r\n/g, '')).not.toContain('\n');
    expect(after).toContain('      weight: 70\r\n    - destination:\r\n');
    expect((await stat(join(real, 'vs.yaml'))).mode & 0o777).toBe(0o640);
    expect((await stat(join(dir, 'virtual-service.yaml'), { bigint: false })).isFile()).toBe(true);
    expect(await r.read()).toEqual(state({ canaryWeight: 30 }));
  });

  it('handles a JSON file and a List', async () => {
    const json = JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'networking.istio.io/v1',
            kind: 'VirtualService',
            metadata: { name: 'checkout-service-vs', namespace: 'composite' },
            spec: { hosts: [HOST], http: [{ route: [{ destination: { host: HOST, subset: 'v1' } }] }] },
          },
        ],
      },
      null,
      2,
    );
    const { dir } = await config();
    await rm(join(dir, 'virtual-service.yaml'));
    await writeFile(join(dir, 'vs.json'), json);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 25, sticky: true }));
    expect(JSON.parse(await readFile(r.file, 'utf8')).items[0]).toMatchObject({
      metadata: { annotations: { 'weir.dev/sticky-split': 'true' } },
      spec: {
        http: [
          {
            route: [
              { destination: { host: HOST, subset: 'v1' }, weight: 75 },
              { destination: { host: HOST, subset: 'v2' }, weight: 25 },
            ],
          },
        ],
      },
    });
    expect(await errorsOf(dir)).toEqual([]);
    expect(await r.read()).toEqual(state({ canaryWeight: 25, sticky: true }));
  });
});

describe('hand edits and what belongs to the user', () => {
  it('reads a file weir would not write and says why; apply refuses it clearly', async () => {
    const { dir, file } = await config(SIMPLE);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await writeFile(
      file,
      SIMPLE +
        `      weight: 50\n    - destination:\n        host: ${HOST}\n        subset: v2\n      weight: 25\n    - destination:\n        host: other.composite.svc.cluster.local\n      weight: 25\n`,
    );
    const d = await r.describe();
    expect(d.state).toEqual(state({ canaryWeight: 25 }));
    expect(d.issues).toEqual(['http[0] ("main") also routes to other.composite.svc.cluster.local']);
    await expect(r.apply(state({ canaryWeight: 30 }))).rejects.toThrow(
      /cannot apply the rollout state to .*virtual-service\.yaml:\n {2}- http\[0\] \("main"\) also routes to other/,
    );
    await expect(r.apply(state({ canaryWeight: 2.5 }))).rejects.toThrow(RangeError);
    await expect(r.apply(state({ match: [] }))).rejects.toThrow(/non-empty/);
  });

  it('keeps a sticky annotation the user set, and removes only its own', async () => {
    const { dir, file } = await config(
      SIMPLE.replace(
        '  namespace: composite\n',
        '  namespace: composite\n  annotations:\n    weir.dev/sticky-split: "true"\n',
      ),
    );
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 10, sticky: true }));
    await r.apply(state({ canaryWeight: 10, sticky: false }));
    expect(await readFile(file, 'utf8')).toContain('  annotations:\n    weir.dev/sticky-split: "true"\nspec:');
    expect((await r.read()).sticky).toBe(true);

    const other = await config(SIMPLE);
    const r2 = await FileTrafficRouter.locate([other.dir], TARGET);
    await r2.apply(state({ sticky: true }));
    expect(await readFile(other.file, 'utf8')).toContain(
      `  annotations:\n    weir.dev/sticky-split: "true"\n    ${MANAGED_ANNOTATION}: sticky-split\nspec:`,
    );
    expect((await r2.describe()).routes[0]!.role).toBe('rolled-out');
    await r2.apply(state({ sticky: false }));
    expect(await readFile(other.file, 'utf8')).toBe(SIMPLE);
  });

  it('notices a human moving the match route or splitting routes differently', async () => {
    const { dir, file } = await config(SIMPLE);
    const r = await FileTrafficRouter.locate([dir], TARGET);
    await r.apply(state({ canaryWeight: 20, match: MATCH }));
    const text = await readFile(file, 'utf8');
    const [head, rest] = text.split('  - name: weir-canary-match\n');
    const [matchRoute, main] = rest!.split('  - name: main\n');
    await writeFile(
      file,
      `${head}  - name: main\n${main!.replace('weight: 20', 'weight: 30').replace('weight: 80', 'weight: 70')}  - name: weir-canary-match\n${matchRoute}`,
    );
    const d = await r.describe();
    expect(d.state).toEqual(state({ canaryWeight: 30, match: MATCH }));
    expect(d.issues).toEqual([
      expect.stringContaining('comes after the rolled-out http[0] ("main"), so it matches nothing there'),
    ]);
    // apply writes the state but leaves the route where the human put it.
    expect(await r.apply(state({ canaryWeight: 20, match: MATCH }))).toEqual({ changed: true });
    expect((await r.read()).canaryWeight).toBe(20);
  });
});

describe('any sequence of states', () => {
  const layouts: [string, string | undefined][] = [
    ['the composite example', undefined],
    ['a hand-formatted file', FANCY.replace('            timeout: 0x1F s\n', '')],
    ['a one-destination route without weight', SIMPLE],
  ];
  const arbState = fc.record({
    canaryWeight: fc.constantFrom(0, 1, 5, 33, 50, 99, 100),
    match: fc.constantFrom(null, MATCH, [
      { uri: { prefix: '/beta' } },
      { headers: { cookie: { regex: '.*beta=1.*' } } },
    ]),
    mirrorPercent: fc.constantFrom(null, 0.5, 10, 100),
    sticky: fc.boolean(),
  });

  for (const [what, vs] of layouts) {
    it(`${what}: is valid, reads back and routes as written after every step`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbState, { minLength: 1, maxLength: 5 }), async (states) => {
          const { dir, file } = await config(vs);
          const original = await readFile(file, 'utf8');
          const r = await FileTrafficRouter.locate([dir], TARGET, { mirror: true });
          for (const s of states) {
            await r.apply(s);
            expect(await r.read()).toEqual(s);
            expect((await r.apply(s)).changed).toBe(false);
            expect(await errorsOf(dir)).toEqual([]);
            const route = await engine(dir);
            const w = s.canaryWeight / 100;
            if (w > 0) expect(route(1 - w + 1e-6).subset).toBe('v2');
            if (w < 1) expect(route(Math.max(0, 1 - w - 1e-6)).subset).toBe('v1');
            expect(route(0.5).mirrors).toEqual(s.mirrorPercent === null ? [] : [`v2@${s.mirrorPercent}`]);
            expect(route(0.5).sticky).toBe(s.sticky);
            if (s.match === MATCH) expect(route(0.5, { 'x-canary-user': 'true' }).subset).toBe('v2');
          }
          // The parts weir never touches stay byte for byte (no whole-document re-render happened).
          const text = await readFile(file, 'utf8');
          for (const line of original.split('\n').filter((l) => /^\s*#|^(apiVersion|kind):|hosts|'other'/.test(l))) {
            expect(text).toContain(line);
          }
          await rm(dir, { recursive: true, force: true });
        }),
        { seed: 20240611, numRuns: 8 },
      );
    });
  }
});
