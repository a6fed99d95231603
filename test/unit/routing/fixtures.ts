/**
 * Small builders for routing tests: resources as plain objects (JSON is YAML), a registry with one or more
 * ServiceEntries, and a one-call decide.
 */
import { expect } from 'vitest';
import type { ConfigSnapshot } from '../../../src/config/snapshot.ts';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';
import { compileRouteTable, type RouteTable } from '../../../src/routing/compile.ts';
import { decide } from '../../../src/routing/decide.ts';
import { createFacts, type FactsInit } from '../../../src/routing/facts.ts';
import type { ProxyMode, RouteDecision, TraceStep } from '../../../src/routing/types.ts';

/** A resource of the networking API. */
export function res(
  kind: string,
  name: string,
  spec: unknown,
  meta: { namespace?: string; created?: string; annotations?: Record<string, string> } = {},
): string {
  return JSON.stringify({
    apiVersion: 'networking.istio.io/v1',
    kind,
    metadata: {
      name,
      namespace: meta.namespace ?? 'default',
      ...(meta.created ? { creationTimestamp: meta.created } : {}),
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec,
  });
}

/** A STATIC ServiceEntry with endpoints `10.0.<n>.1` (version v1) and `10.0.<n>.2` (version v2). */
export function service(host: string, ports: number[] = [80], n = 0, namespace = 'default'): string {
  const named = Object.fromEntries(ports.map((p) => [`http-${p}`, p + 10000]));
  return res(
    'ServiceEntry',
    host.replace(/[^a-z0-9-]/g, '-'),
    {
      hosts: [host],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: ports.map((p) => ({ number: p, name: `http-${p}`, protocol: 'HTTP' })),
      endpoints: [
        { address: `10.0.${n}.1`, ports: named, labels: { app: 'svc', version: 'v1' } },
        { address: `10.0.${n}.2`, ports: named, labels: { app: 'svc', version: 'v2' } },
      ],
    },
    { namespace },
  );
}

/** A DestinationRule with subsets v1 and v2 (and optional policies). */
export function subsets(host: string, extra: Record<string, unknown> = {}, namespace = 'default'): string {
  return res(
    'DestinationRule',
    `${host.replace(/[^a-z0-9-]/g, '-')}-dr`,
    {
      host,
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
      ...extra,
    },
    { namespace },
  );
}

/** A VirtualService. */
export function vs(
  name: string,
  spec: Record<string, unknown>,
  meta: { namespace?: string; created?: string; annotations?: Record<string, string> } = {},
): string {
  return res('VirtualService', name, spec, meta);
}

/** A destination to `host` subset. */
export const to = (host: string, subset?: string, weight?: number, port?: number) => ({
  destination: { host, ...(subset ? { subset } : {}), ...(port ? { port: { number: port } } : {}) },
  ...(weight !== undefined ? { weight } : {}),
});

/** Builds a snapshot and fails the test on webhook errors (which would drop resources silently). */
export function snapshot(...texts: string[]): ConfigSnapshot {
  const s = snapshotFromTexts(texts.map((text, i) => ({ file: `t${i}.yaml`, text })));
  const dropped = s.diagnostics.filter((d) => d.level === 'error' && d.code === 'IST0106');
  expect(dropped.map((d) => d.message)).toEqual([]);
  return s;
}

/** Compiles a table (sidecar in `default` unless told otherwise). */
export function tableOf(s: ConfigSnapshot, mode: Partial<ProxyMode> = {}): RouteTable {
  return compileRouteTable(s, { gateway: null, namespace: 'default', ...mode });
}

/** Decides one request with a fixed random value. */
export function decideOne(t: RouteTable, init: FactsInit, rngValue = 0, trace?: TraceStep[]): RouteDecision {
  return decide(t, createFacts(init), { rng: () => rngValue, trace });
}

/** The subset a decision routed to, `404`/`503`, or the action name. */
export function outcome(d: RouteDecision): string {
  if (d.action === 'route') return d.cluster.subset ?? `${d.cluster.host}:${d.cluster.port}`;
  if (d.action === 'notFound') return '404';
  if (d.action === 'clusterNotFound') return '503';
  return d.action;
}
