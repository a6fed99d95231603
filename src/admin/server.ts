/**
 * The admin HTTP server (Envoy's admin port, 15000 by default): `/ready`, `/config_dump` (effective route tables
 * and clusters as JSON), `/clusters` (endpoints, active requests, health), and `/stats/prometheus` + `/metrics`
 * through a pluggable metrics source. Read-only; binds loopback by default.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyServer } from '../dataplane/proxy.ts';
import { formatDurationMs } from '../util/duration.ts';

/** Something that renders Prometheus text exposition. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

/** Options of the admin server. */
export interface AdminOptions {
  host: string;
  port: number;
  proxy: ProxyServer;
  metrics?: MetricsSource | null;
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
    const path = (req.url ?? '/').split('?')[0];
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
        case '/ready':
          text(200, 'LIVE\n');
          return;
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
        default:
          text(404, 'not found: try /ready, /config_dump, /clusters, /stats/prometheus\n');
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
