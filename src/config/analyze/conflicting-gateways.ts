/**
 * IST0145: two Gateways for the same gateway workloads declare the same host on the same port. istio/istio
 * `pkg/config/analysis/analyzers/gateway/conflictinggateway.go` (`ConflictingGatewayAnalyzer`):
 *
 * - Gateways are grouped by selector string (`k=v,…` sorted by key) and server port number.
 * - Two selectors are "the same workloads" when the strings are equal, or when one string contains the other and
 *   some pod carries labels both select (weir's pods: Pods and workload pod templates).
 * - A server conflicts with another Gateway in such a group when one of its hosts, with the same `bind`, is a host
 *   of that Gateway on that port (hosts compared as written, `*` only equals `*`).
 * - One diagnostic per conflicting server, at `spec.servers[i]`, naming the other Gateways sorted.
 *
 * Deliberate differences: Istio keeps only the last server per Gateway and port, and its check adds the server's
 * hosts to the other Gateway's host set when they do not conflict (so results depend on Go's map order); weir
 * compares against every server of the other Gateway on that port and changes nothing. Istio's IST0101 for a
 * selector no Gateway group matches cannot happen (a Gateway always matches its own group) and is not reproduced.
 */
import type { Gateway } from '../resources.ts';
import type { Analyzer } from './context.ts';
import { parseSelectorString, podsOf, selectorString, selects } from './selectors.ts';

interface HostBind {
  host: string;
  bind: string;
}

/** `ConflictingGatewayAnalyzer`: IST0145. */
export const conflictingGatewayAnalyzer: Analyzer = {
  name: 'gateway.ConflictingGatewayAnalyzer',
  codes: ['IST0145'],
  run(ctx) {
    const gateways = ctx.of('Gateway');
    const pods = podsOf(ctx.registry);
    // selector string → port → gateway full name → (host, bind) of its servers on that port
    const groups = new Map<string, Map<string, Map<string, HostBind[]>>>();
    for (const gw of gateways) {
      const sel = selectorString(gw.spec.selector);
      const byPort = groups.get(sel) ?? new Map<string, Map<string, HostBind[]>>();
      groups.set(sel, byPort);
      for (const server of gw.spec.servers ?? []) {
        const port = String(server.port?.number ?? 0);
        const byGw = byPort.get(port) ?? new Map<string, HostBind[]>();
        byPort.set(port, byGw);
        const list = byGw.get(fullName(gw)) ?? [];
        for (const host of server.hosts ?? []) list.push({ host, bind: server.bind ?? '' });
        byGw.set(fullName(gw), list);
      }
    }
    for (const gw of gateways) {
      const sel = selectorString(gw.spec.selector);
      const sameWorkloads = [...groups.keys()].filter((other) => {
        if (other === sel) return true;
        if (!other.includes(sel) && !sel.includes(other)) return false;
        const otherSel = parseSelectorString(other);
        return pods.some((p) => selects(gw.spec.selector, p.labels) && selects(otherSel, p.labels));
      });
      (gw.spec.servers ?? []).forEach((server, i) => {
        const port = String(server.port?.number ?? 0);
        const bind = server.bind ?? '';
        const hosts = server.hosts ?? [];
        const conflicting: string[] = [];
        for (const key of sameWorkloads) {
          for (const [name, known] of groups.get(key)?.get(port) ?? []) {
            if (name === fullName(gw)) continue;
            if (hosts.some((h) => known.some((k) => k.host === h && k.bind === bind))) conflicting.push(name);
          }
        }
        if (conflicting.length === 0) return;
        conflicting.sort();
        ctx.report(
          gw,
          ['spec', 'servers', i],
          'IST0145',
          `Conflict with gateways ${conflicting.join(',')} (workload selector ${sel}, port ${port}, hosts ${hosts.join(',')}).`,
        );
      });
    }
  },
};

function fullName(gw: Gateway): string {
  return `${gw.namespace}/${gw.name}`;
}
