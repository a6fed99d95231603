/**
 * IST0177: ServiceEntries visible in a common namespace define the same host and port with different protocols.
 * istio/istio `pkg/config/analysis/analyzers/serviceentry/conflictingserviceentries.go`
 * (`ConflictingServiceEntryProtocolAnalyzer`):
 *
 * - each (exportTo scope, host as written, port number) collects the ServiceEntries that define it; a scope is `*`
 *   (no `exportTo`, or one that lists `*`), or each namespace listed (`.` is the ServiceEntry's own);
 * - a namespace scope also sees the `*` entries of the same host and port;
 * - protocols are compared upper-cased, an unset protocol counting as the empty string;
 * - each ServiceEntry is reported once, at `metadata.name`, for the first conflicting (scope, host, port).
 *
 * Istio's "first" follows Go map order (it varies between runs when a ServiceEntry is in several conflicts); weir's
 * is load order, then host, then port.
 */
import type { Resource } from '../resources.ts';
import type { Analyzer } from './context.ts';

type ServiceEntry = Resource<'ServiceEntry'>;

interface Entry {
  protocol: string;
  se: ServiceEntry;
}

/** `exportToScopes`: `*` for everywhere, else the namespaces listed (`.` → the ServiceEntry's namespace). */
function exportScopes(se: ServiceEntry): Set<string> {
  const e = se.spec.exportTo ?? [];
  if (e.length === 0 || e.includes('*')) return new Set(['*']);
  return new Set(e.map((x) => (x === '.' ? se.namespace : x)));
}

/** `serviceentry.ConflictingServiceEntryProtocolAnalyzer`: IST0177. */
export const conflictingServiceEntryProtocolAnalyzer: Analyzer = {
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  codes: ['IST0177'],
  *run(ctx) {
    const index = new Map<string, { scope: string; host: string; port: number; entries: Entry[] }>();
    for (const se of ctx.of('ServiceEntry')) {
      yield;
      for (const scope of exportScopes(se)) {
        for (const host of se.spec.hosts ?? []) {
          for (const p of se.spec.ports ?? []) {
            const port = p.number ?? 0;
            const key = JSON.stringify([scope, host, port]);
            const slot = index.get(key) ?? { scope, host, port, entries: [] };
            slot.entries.push({ protocol: p.protocol ?? '', se });
            index.set(key, slot);
          }
        }
      }
    }
    const reported = new Set<ServiceEntry>();
    for (const { scope, host, port, entries: own } of index.values()) {
      const entries = scope === '*' ? own : [...own, ...(index.get(JSON.stringify(['*', host, port]))?.entries ?? [])];
      const protocols = new Set(entries.map((e) => e.protocol.toUpperCase()));
      if (protocols.size < 2) continue;
      const names = [...new Set(entries.map((e) => `${e.se.namespace}/${e.se.name}`))].sort().join(', ');
      const protocolList = [...protocols].sort().join(', ');
      for (const { se } of entries) {
        if (reported.has(se)) continue;
        reported.add(se);
        ctx.report(
          se,
          ['metadata', 'name'],
          'IST0177',
          `Multiple ServiceEntries (${names}) define the same host ${JSON.stringify(host)} and port ${port} with conflicting protocols (${protocolList}).`,
        );
      }
    }
  },
};
