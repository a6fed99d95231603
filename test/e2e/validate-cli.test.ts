/**
 * `weir validate` as a user runs it: real files, a real process, exit codes, text and JSON output, bad input.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'weir-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function weir(args: string[], input?: string | Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/weir.js', ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const VS_BAD_WEIGHT = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
  namespace: prod
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: "five"
`;

describe('weir validate', () => {
  it('passes the examples as a new user runs them (exit 0, warnings shown)', () => {
    const r = weir(['validate', 'examples/']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('warning IST0130');
    expect(r.stdout).toContain('warning WEIR0010');
    expect(r.stderr).toMatch(/\d+ resources: 0 errors, 2 warnings/);
  });

  it('exits 79 with --fail-on warning', () => {
    expect(weir(['validate', 'examples/', '--fail-on', 'warning']).code).toBe(79);
  });

  it('prints compiler-style lines with file:line:col, level, code, resource and field', () => {
    const r = weir(['validate', file('weight.yaml', VS_BAD_WEIGHT)]);
    expect(r.code).toBe(79);
    expect(r.stdout.trim()).toBe(
      `${join(dir, 'weight.yaml')}:14:15 error IST0106 VirtualService prod/reviews spec.http[0].route[0].weight: expected an integer, got string "five"`,
    );
  });

  it('prints the documented JSON shape', () => {
    const r = weir(['validate', '-o', 'json', '-f', join(dir, 'weight.yaml')]);
    expect(r.code).toBe(79);
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({
      resources: 1,
      diagnostics: [
        {
          level: 'error',
          code: 'IST0106',
          message: 'expected an integer, got string "five"',
          resource: { kind: 'VirtualService', name: 'reviews', namespace: 'prod' },
          field: 'spec.http[0].route[0].weight',
          file: join(dir, 'weight.yaml'),
          line: 14,
          column: 15,
        },
      ],
    });
  });

  it('refuses unknown fields by default (kubectl apply strict decoding), at the key, with the field meant', () => {
    const f = file('unknown.yaml', VS_BAD_WEIGHT.replace('weight: "five"', 'weight: 5\n      wieght: 5'));
    const r = weir(['validate', f]);
    expect(r.code).toBe(79);
    expect(r.stdout.trim()).toBe(
      `${f}:15:7 error WEIR0002 VirtualService prod/reviews spec.http[0].route[0].wieght: strict decoding error: unknown field "spec.http[0].route[0].wieght" (did you mean "weight"?)`,
    );
    // `--validate=strict` and kubectl's `--validate=true` say the same.
    expect(weir(['validate', '--validate=strict', f]).stdout).toBe(r.stdout);
    expect(weir(['validate', '--validate', 'true', f]).stdout).toBe(r.stdout);
  });

  it('--validate=warn: a warning, and the resource is used without the field', () => {
    const f = join(dir, 'unknown.yaml');
    const r = weir(['validate', '--validate=warn', '-o', 'json', f]);
    expect(r.code).toBe(79); // the IST0101 below is an error
    const out = JSON.parse(r.stdout);
    expect(out.diagnostics.find((d: { code: string }) => d.code === 'WEIR0002')).toMatchObject({
      level: 'warning',
      field: 'spec.http[0].route[0].wieght',
      message: 'unknown field "spec.http[0].route[0].wieght" (did you mean "weight"?); the field is ignored',
      line: 15,
      column: 7,
    });
    // The resource was kept and analysed: its destination host is reported as missing from the registry.
    expect(out.diagnostics.find((d: { code: string }) => d.code === 'IST0101')?.message).toBe(
      'Referenced host not found: "reviews"',
    );
  });

  it('--validate=ignore (or false): no word about the field', () => {
    const f = join(dir, 'unknown.yaml');
    for (const flag of ['--validate=ignore', '--validate=false']) {
      const out = JSON.parse(weir(['validate', flag, '-o', 'json', f]).stdout);
      expect(out.diagnostics.map((d: { code: string }) => d.code)).toEqual(['IST0101']);
    }
    const bad = weir(['validate', '--validate=lenient', f]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('strict, warn, ignore');
  });

  it('prints for --validate=warn the lines docs/diagnostics.md shows', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'diagnostics.md'), 'utf8');
    const r = weir(['validate', '--validate=warn', 'docs/examples/diagnostics/WEIR0002-unknown-field.yaml']);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(doc).toContain(l);
  });

  it('warns about an empty folder, an empty file and empty stdin instead of "no issues" (exit 79 with --fail-on warning)', () => {
    const empty = join(dir, 'empty-folder');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    writeFileSync(join(empty, 'notes.txt'), 'not read');
    const a = weir(['validate', empty]);
    expect(a.code).toBe(0);
    expect(a.stdout.trim()).toBe(`- warning WEIR0006 -: no resources: no *.yaml, *.yml or *.json file in ${empty}`);
    expect(a.stderr.trim()).toBe('0 resources: 0 errors, 1 warning, 0 info.');
    expect(a.stderr).not.toContain('No validation issues');
    expect(weir(['validate', '--fail-on', 'warning', empty]).code).toBe(79);

    const blank = file('blank.yaml', '# nothing here yet\n---\n');
    const b = weir(['validate', '--fail-on', 'warning', blank]);
    expect(b.code).toBe(79);
    expect(b.stdout.trim()).toBe(`${blank}:1:1 warning WEIR0006 -: no resources: the file is empty`);
    const c = weir(['validate', '-'], '');
    expect(c.stdout.trim()).toBe('-:1:1 warning WEIR0006 -: no resources: stdin is empty');
    const json = JSON.parse(weir(['validate', '-o', 'json', empty]).stdout);
    expect(json).toEqual({
      resources: 0,
      diagnostics: [
        {
          level: 'warning',
          code: 'WEIR0006',
          message: `no resources: no *.yaml, *.yml or *.json file in ${empty}`,
          resource: null,
          field: '',
          file: null,
          line: null,
          column: null,
        },
      ],
    });
  });

  it('reads stdin with -', () => {
    const r = weir(['validate', '-'], VS_BAD_WEIGHT);
    expect(r.code).toBe(79);
    expect(r.stdout).toMatch(/^-:14:15 error IST0106/);
  });

  it('reports malformed YAML with its position (exit 79)', () => {
    const r = weir([
      'validate',
      file('broken.yaml', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\n'),
    ]);
    expect(r.code).toBe(79);
    expect(r.stdout).toMatch(/broken\.yaml:\d+:\d+ error WEIR0001/);
  });

  it('handles a directory with binary files, empty files and deep nesting without crashing', () => {
    const sub = join(dir, 'mixed');
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub);
    writeFileSync(join(sub, 'image.yaml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0xff]));
    writeFileSync(join(sub, 'empty.yaml'), '');
    writeFileSync(join(sub, 'deep.yaml'), `${'a:\n'.replace(/\n$/, '')}${' ['.repeat(3000)}${']'.repeat(3000)}\n`);
    writeFileSync(join(sub, 'notes.txt'), 'not yaml, ignored in directories');
    const r = weir(['validate', sub]);
    expect(r.code).toBe(79);
    expect(r.stderr).not.toMatch(/internal error|at .*\.ts:\d+/);
    expect(r.stdout).toContain('image.yaml:1:1 error WEIR0003');
    expect(r.stdout).toMatch(/deep\.yaml:\d+:\d+ error WEIR0001/);
    expect(r.stdout).not.toContain('empty.yaml');
  });

  it('refuses a 50 MB file with a clear message', () => {
    const big = file('big.yaml', Buffer.alloc(50 * 1024 * 1024, 'a'));
    const r = weir(['validate', big]);
    expect(r.code).toBe(79);
    expect(r.stdout).toMatch(/big\.yaml:1:1 error WEIR0003 -: file is 50\.0 MiB, larger than the 16\.0 MiB weir reads/);
  });

  it('exits 64 for a path that does not exist and for an unknown flag', () => {
    const a = weir(['validate', join(dir, 'nope.yaml')]);
    expect(a.code).toBe(64);
    expect(a.stderr).toContain('path does not exist');
    expect(weir(['validate', '--bogus']).code).toBe(64);
    expect(weir(['validate']).code).toBe(64);
  });
});

describe('weir validate: istioctl analyze checks of Gateways and Services', () => {
  const GATEWAYS = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public-canary, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: checkout, namespace: shop}
spec:
  hosts: [checkout.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: checkout, namespace: shop}
spec:
  hosts: [checkout.example.com]
  gateways: [public]
  http:
  - route:
    - destination: {host: checkout.example.com}
`;

  it('prints IST0145 (error, exit 79) and IST0132 (warning) with position and field path', () => {
    const p = file('gateways.yaml', GATEWAYS);
    const r = weir(['validate', p]);
    expect(r.code).toBe(79);
    expect(r.stdout.trim().split('\n')).toEqual([
      `${p}:7:5 error IST0145 Gateway shop/public spec.servers[0]: Conflict with gateways shop/public-canary (workload selector istio=ingressgateway, port 80, hosts shop.example.com).`,
      `${p}:16:5 error IST0145 Gateway shop/public-canary spec.servers[0]: Conflict with gateways shop/public (workload selector istio=ingressgateway, port 80, hosts shop.example.com).`,
      `${p}:33:14 warning IST0132 VirtualService shop/checkout spec.gateways[0]: one or more host [checkout.example.com] defined in VirtualService shop/checkout not found in Gateway shop/public.`,
    ]);
    const j = JSON.parse(weir(['validate', '-o', 'json', p]).stdout) as {
      diagnostics: { code: string; level: string; field: string; line: number }[];
    };
    expect(j.diagnostics.map((d) => [d.code, d.level, d.field, d.line])).toEqual([
      ['IST0145', 'error', 'spec.servers[0]', 7],
      ['IST0145', 'error', 'spec.servers[0]', 16],
      ['IST0132', 'warning', 'spec.gateways[0]', 33],
    ]);
  });

  it('an info finding (IST0118) fails only with --fail-on info', () => {
    const p = file(
      'service.yaml',
      'apiVersion: v1\nkind: Service\nmetadata: {name: checkout, namespace: shop}\nspec:\n  selector: {app: checkout}\n  ports: [{name: web, port: 80}]\n',
    );
    const r = weir(['validate', p]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `${p}:6:29 info IST0118 Service shop/checkout spec.ports[0].port: Port name web (port: 80, targetPort: 80) doesn't follow the naming convention of Istio port.`,
    );
    expect(weir(['validate', '--fail-on', 'info', p]).code).toBe(79);
  });
});
