/**
 * End to end: `sourceLabels` are config-time selectors, not request matches (istio/api `virtual_service.proto`;
 * istio#51314). A VirtualService whose only route selects the qa-tools workload is not applied for any other
 * client, so they get the host's default route (every endpoint) — not 404 NR. Checked through a real `weir serve`
 * in client-IP mode and in sidecar mode, and against `weir explain` for the same configuration and clients.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, send, sendMany, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from '../helpers/proxy.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const ROOT = join(import.meta.dirname, '..', '..');
const QA_IP = '127.0.0.5';
const OTHER_IP = '127.0.0.9';

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: qa-canary
    match:
    - sourceLabels:
        app: qa-tools
    route:
    - destination:
        host: ${HOST}
        subset: v2
`;

let backends: BackendSet<'v1' | 'v2'>;
let weir: Weir;
let files: Record<string, string>;

beforeAll(async () => {
  backends = await startBackends({ v1: { seed: 1 }, v2: { seed: 2 } });
  const mesh = `${serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ])}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: qa-tools
  namespace: ${NS}
spec:
  address: ${QA_IP}
  labels:
    app: qa-tools
`;
  files = { 'mesh.yaml': mesh, 'dr.yaml': subsetsYaml(NS), 'vs.yaml': VS };
  weir = await startWeir(files, { rng: seededRng(3) });
});
afterAll(async () => {
  await weir.close();
  await backends.closeAll();
  await closeClients();
});

/** `weir explain` on the proxy's own configuration directory, as JSON. */
function explain(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'bin', 'weir.js'), 'explain', `http://${HOST}/cart`, '-f', weir.dir, '-o', 'json', ...args],
    { cwd: ROOT, encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** The access-log entries of the requests sent from `ip`. */
const logFrom = (ip: string) =>
  weir.log.map((l) => JSON.parse(l)).filter((e) => e.downstream_remote_address?.startsWith(`${ip}:`));

describe('client-IP mode: the source workload is the registry workload with the client address', () => {
  it('qa-tools (127.0.0.5) gets the VirtualService: always v2', async () => {
    const qa = await sendMany(20, 4, () => send(weir.url, { host: HOST, localAddress: QA_IP }));
    expect(qa.map((r) => r.json().version)).toEqual(Array(20).fill('v2'));
  });

  // The default route's LEAST_REQUEST balancer (two random choices) sends each request to a given pod with
  // probability ≥ 1/4 whatever the loads, so one pod for all 60 requests has probability ≤ 2·(3/4)^60 ≈ 6e-8.
  it('any other client gets the default route over every endpoint (v1 and v2), not 404 NR', async () => {
    const other = await sendMany(60, 4, () => send(weir.url, { host: HOST, localAddress: OTHER_IP }));
    expect(other.map((r) => r.status)).toEqual(Array(60).fill(200));
    expect(new Set(other.map((r) => r.json().version))).toEqual(new Set(['v1', 'v2']));
  });

  it('weir explain agrees with the proxy for both clients', async () => {
    const qa = explain('--source-ip', QA_IP);
    const other = explain('--source-ip', OTHER_IP);
    expect(qa).toMatchObject({ virtualService: { name: 'checkout-service-vs' }, route: { name: 'qa-canary' } });
    expect(other).toMatchObject({ virtualService: null, action: 'route', route: { name: 'default' } });
    expect(other.trace.map((t: { message: string }) => t.message).join('\n')).toContain(
      'VirtualService prod/checkout-service-vs not applied',
    );
    // The clusters the proxy used are the ones explain names.
    const used = (ip: string) => new Set(logFrom(ip).map((e) => e.upstream_cluster));
    expect(used(QA_IP)).toEqual(new Set([qa.destinations[0].cluster]));
    expect(used(OTHER_IP)).toEqual(new Set([other.destinations[0].cluster]));
    expect(other.destinations[0].cluster).toBe(`outbound|80||${HOST}`);
  });
});

describe('sidecar mode: the proxy itself is the source (--labels)', () => {
  it.each([
    ['app=qa-tools', { app: 'qa-tools' }, ['v2']],
    ['app=web', { app: 'web' }, ['v1', 'v2']],
  ])('%s', async (_n, labels, versions) => {
    const dir = Object.fromEntries(Object.keys(files).map((f) => [f, readFileSync(join(weir.dir, f), 'utf8')]));
    const sidecar = await startWeir(dir, { labels, workload: 'client', namespace: NS, rng: seededRng(4) });
    try {
      const replies = await sendMany(60, 4, () => send(sidecar.url, { host: HOST, localAddress: OTHER_IP }));
      expect(replies.map((r) => r.status)).toEqual(Array(60).fill(200));
      expect([...new Set(replies.map((r) => r.json().version))].sort()).toEqual(versions);
    } finally {
      await sidecar.close();
    }
  });
});
