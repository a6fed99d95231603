/**
 * The admin HTTP server (Envoy's admin port, 15000 by default): `/ready`, `/config_dump` (effective route tables
 * and clusters as JSON), `/clusters` (endpoints, active requests, health), `/stats/prometheus` + `/metrics`
 * through a pluggable metrics source, and `/rollout/counts` (the per-route counts `weir rollout` reads). Read-only;
 * binds loopback by default.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyServer } from '../dataplane/proxy.ts';
import { ROUTE_COUNTS_PATH, type RouteCountsSnapshot } from '../rollout/route-counts.ts';
import { formatDurationMs } from '../util/duration.ts';

/** Something that renders Prometheus text exposition. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

/**
 * Something that serves the per-route counts of `weir rollout` (`RouteCountsRecorder` of
 * `telemetry/route-counts.ts`); a filter field keeps the routes whose namespace / VirtualService name equals it.
 */
export interface RouteCountsSource {
  snapshot(filter?: { namespace?: string | undefined; virtualService?: string | undefined }): RouteCountsSnapshot;
}

/** Options of the admin server. */
export interface AdminOptions {
  host: string;
  port: number;
  proxy: ProxyServer;
  metrics?: MetricsSource | null;
  /**
   * Served as JSON on `GET /rollout/counts[?namespace=NS&virtualService=NAME]` (an empty parameter does not
   * filter); 404 there when absent.
   */
  routeCounts?: RouteCountsSource | null;
  /** Extra JSON for /config_dump (e.g. the last reload's diagnostics). */
  status?: () => Record<string, unknown>;
}

/** Builds the `/config_dump` document: virtual hosts with their routes, and clusters. */
export function configDump(proxy: ProxyServer, status: Record<string, unknown> = {}): Record<string, unknown> {
  const table = proxy.routeTable();
  const vhosts = table.virtualHosts().map((vh) => ({
    host: vh.host,
    virtualService: vh.virtualService?.name
      ? { name: vh.virtualService.name, namespace: vh.virtualService.namespace }
      : null,
    routes: vh.routes.map((r) => ({
      name: r.name,
      index: r.index,
      virtualService: r.virtualService.name ? `${r.virtualService.namespace}/${r.virtualService.name}` : null,
      matches: r.source.match ?? [],
      action: r.action.type,
      destinations:
        r.action.type === 'route'
          ? r.action.destinations.map((d) => ({ host: d.host, subset: d.subset, port: d.port, weight: d.weight }))
          : undefined,
      timeout: r.timeoutMs === null ? null : formatDurationMs(r.timeoutMs),
      retries: r.retries,
      mirrors: r.mirrors,
      fault: r.fault,
    })),
  }));
  const clusters = proxy.clusterRuntimes().map((c) => ({
    name: c.name,
    lb: c.cluster.policy.lb.type,
    trafficPolicy: c.cluster.policy.trafficPolicy,
    endpoints: c.endpoints.map((e) => ({ address: e.key, labels: e.labels })),
  }));
  return { configVersion: proxy.configVersion, mode: table.mode, virtualHosts: vhosts, clusters, ...status };
}

/** Starts the admin server. */
export async function startAdmin(
  opts: AdminOptions,
): Promise<{ server: Server; address: AddressInfo; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const json = (status: number, body: unknown): void => {
      const text = `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      switch (path) {
        case '/ready': {
          // Envoy's admin /ready: 200 `LIVE`, else 503 with the server state (`DRAINING` once a drain has begun).
          const state = opts.proxy.serverState();
          text(state === 'LIVE' ? 200 : 503, `${state}\n`);
          return;
        }
        case '/config_dump':
          json(200, configDump(opts.proxy, opts.status?.() ?? {}));
          return;
        case '/clusters':
          json(
            200,
            opts.proxy.clusterRuntimes().map((c) => ({
              name: c.name,
              activeRequests: c.active,
              endpoints: c.endpoints.map((e, i) => ({
                address: e.key,
                activeRequests: e.active,
                health: c.isEjected(i) ? 'EJECTED' : 'HEALTHY',
                ejectedForMs: c.isEjected(i) ? Math.max(0, Math.round(e.ejectedUntilMs - performance.now())) : 0,
                ejections: e.ejections,
                consecutive5xx: e.consecutive5xx,
                locality: e.locality,
                priority: c.priority(i),
                labels: e.labels,
              })),
              pendingRequests: c.pendingCount(),
              activeRetries: c.activeRetries,
            })),
          );
          return;
        case '/stats/prometheus':
        case '/metrics':
          if (!opts.metrics) {
            text(200, '');
            return;
          }
          opts.metrics.render().then(
            (body) => text(200, body, opts.metrics!.contentType),
            (err: unknown) => text(500, `metrics error: ${(err as Error).message}\n`),
          );
          return;
        case ROUTE_COUNTS_PATH: {
          if (!opts.routeCounts) {
            text(404, 'route counts are not enabled on this proxy\n');
            return;
          }
          const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
          json(
            200,
            opts.routeCounts.snapshot({
              namespace: params.get('namespace') || undefined,
              virtualService: params.get('virtualService') || undefined,
            }),
          );
          return;
        }
        default:
          text(404, `not found: try /ready, /config_dump, /clusters, /stats/prometheus, ${ROUTE_COUNTS_PATH}\n`);
      }
    } catch (err) {
      text(500, `admin error: ${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
