/**
 * Builds {@link RequestFacts} from plain values (for `weir explain`, tests and the library API). The data plane
 * builds its own facts from the socket without copying headers.
 */
import type { RequestFacts, SourceIdentity } from './types.ts';

/** Plain description of a request. Header names may have any case; repeated names are joined with `,`. */
export interface FactsInit {
  authority: string;
  method?: string;
  path?: string;
  scheme?: string;
  port?: number;
  headers?: readonly (readonly [string, string])[] | Readonly<Record<string, string>>;
  source?: Partial<SourceIdentity>;
}

/** Creates request facts; defaults: `GET`, path `/`, scheme `http`, port 80, unknown source. */
export function createFacts(init: FactsInit): RequestFacts {
  const map = new Map<string, string>();
  const entries = Array.isArray(init.headers) ? init.headers : Object.entries(init.headers ?? {});
  for (const [k, v] of entries as [string, string][]) {
    const name = k.toLowerCase();
    const prior = map.get(name);
    map.set(name, prior === undefined ? v : `${prior},${v}`);
  }
  return {
    authority: init.authority,
    method: init.method ?? 'GET',
    path: init.path ?? '/',
    scheme: init.scheme ?? 'http',
    port: init.port ?? 80,
    header: (name) => map.get(name),
    source: {
      labels: init.source?.labels ?? {},
      namespace: init.source?.namespace ?? null,
      workload: init.source?.workload ?? null,
      ip: init.source?.ip ?? null,
    },
  };
}
