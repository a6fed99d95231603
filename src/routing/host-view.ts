/**
 * The virtual host a request gets, after the config-time selectors (istio-semantics §1.4). istiod builds each
 * proxy's routes per listener port with only the match blocks whose `port`, `sourceLabels` and `sourceNamespace`
 * accept that proxy (`TranslateRoute`, `sourceMatchHTTP`), then stops a VirtualService at its first catch-all
 * (`BuildHTTPRoutesForVirtualService`). A VirtualService with no block left is not applied at all
 * (`buildSidecarVirtualHostsForVirtualService` returns nothing): on a sidecar the next VirtualService for the host
 * serves it, else, for a registry service, Istio's default route (`BuildSidecarVirtualHostWrapper` builds one for
 * every service no VirtualService took); a host that is not a registry service then has no virtual host.
 *
 * weir compiles one table for all clients. A host none of whose blocks has a selector (the common case) gets one
 * virtual host at compile time; the others become a {@link SelectiveHostImpl} that builds the virtual host per
 * distinct selector outcome — which source selectors the client satisfies, and the port when a block names one — on
 * first use, and caches it. Pure: no I/O.
 */
import type { Service } from '../config/registry.ts';
import type { VirtualService } from '../config/resources.ts';
import { selectorReason, sourceAccepts } from './request-match.ts';
import type {
  CompiledMatch,
  CompiledRoute,
  MatchSelector,
  SelectiveHost,
  SourceIdentity,
  TraceStep,
  VirtualHost,
} from './types.ts';

/** One VirtualService that may serve a host, with its compiled routes (every block, before selectors and truncation). */
export interface HostCandidate {
  vs: VirtualService;
  routes: readonly CompiledRoute[];
}

/** Everything needed to build a host's virtual host for any source and port. */
export interface HostSpec {
  /** The FQDN (or VS host) served. */
  host: string;
  /** VirtualServices in precedence order (oldest first). */
  candidates: readonly HostCandidate[];
  /**
   * Gateway semantics: the routes of every candidate are concatenated, catch-alls moved last. Sidecar (false): the
   * first candidate with a route left wins the host.
   */
  concatenate: boolean;
  service: Service | null;
  port80Only: boolean;
  /** Served when no candidate has a route left: Istio's default route for a registry service, else null (404 NR). */
  fallback: VirtualHost | null;
}

/** Keeps a block (true) for the source and port at hand; null keeps every block. */
type Keep = ((m: CompiledMatch) => boolean) | null;

/** Most distinct source selectors of one host encoded in a numeric cache key; above that the key is a string. */
const MAX_MASK_BITS = 30;
/** Views cached per selective host before the cache is cleared (bounds memory under many distinct outcomes). */
const MAX_VIEWS = 1024;

/** True when a spec has a block with a config-time selector (then its virtual host depends on the client). */
export function hasSelectors(spec: HostSpec): boolean {
  return spec.candidates.some((c) => c.routes.some((r) => r.matches.some((m) => m.selector !== null)));
}

/**
 * Builds the virtual host of a spec for the blocks `keep` accepts (null: all). Returns the fallback when no
 * candidate has a route left.
 */
export function buildVirtualHost(spec: HostSpec, keep: Keep): VirtualHost | null {
  const used: HostCandidate[] = [];
  const notApplied: VirtualService[] = [];
  for (const c of spec.candidates) {
    // Without a client (keep null), a block with a selector may not exist, so only selector-free catch-alls cut.
    const routes = truncateAfterCatchAll(keep === null ? c.routes : keepBlocks(c.routes, keep), keep === null);
    if (routes.length === 0) {
      notApplied.push(c.vs);
      continue;
    }
    used.push({ vs: c.vs, routes });
    if (!spec.concatenate) break;
  }
  // Selective hosts explain themselves per source (traceSelectors); fixed ones carry what was left out.
  const extra = keep === null && notApplied.length > 0 ? { notApplied } : {};
  if (used.length === 0) return spec.fallback ? { ...spec.fallback, ...extra } : null;
  let routes = used.flatMap((u) => u.routes);
  if (spec.concatenate && used.length > 1) {
    // Istio sorts per Envoy route (one per match block): split off a trailing catch-all block first.
    routes = routes.flatMap(splitTrailingCatchAll);
    const catchAll = routes.filter(isCatchAll);
    routes = [...routes.filter((r) => !isCatchAll(r)), ...catchAll];
  }
  const usedVs = used.map((u) => u.vs);
  return {
    host: spec.host,
    virtualService: usedVs[0]!,
    delegates: [...new Set(routes.map((r) => r.virtualService).filter((v) => !usedVs.includes(v)))],
    service: spec.service,
    routes,
    port80Only: spec.port80Only,
    ...extra,
  };
}

/** The routes with only the blocks `keep` accepts; a route with none left is dropped; unchanged routes are reused. */
function keepBlocks(routes: readonly CompiledRoute[], keep: (m: CompiledMatch) => boolean): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const r of routes) {
    const kept = r.matches.filter(keep);
    if (kept.length === r.matches.length) out.push(r);
    else if (kept.length > 0) out.push({ ...r, matches: kept });
  }
  return out;
}

/**
 * Istio's `BuildHTTPRoutesForVirtualService` stops at the first catch-all block: later blocks of that route and
 * later routes of the VirtualService are never emitted. With `selectorFreeOnly`, a catch-all block that has a
 * config-time selector does not cut (the routes are not yet filtered for a client).
 */
export function truncateAfterCatchAll(routes: readonly CompiledRoute[], selectorFreeOnly = false): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const r of routes) {
    const i = r.matches.findIndex((m) => m.catchAll === true && (!selectorFreeOnly || m.selector === null));
    if (i < 0) {
      out.push(r);
      continue;
    }
    out.push(i === r.matches.length - 1 ? r : { ...r, matches: r.matches.slice(0, i + 1) });
    break;
  }
  return out;
}

function isCatchAll(r: CompiledRoute): boolean {
  return r.matches.length === 1 && r.matches[0]!.catchAll === true;
}

/** A route whose last block is a catch-all, with other blocks before it, as two routes (Envoy has one per block). */
function splitTrailingCatchAll(r: CompiledRoute): CompiledRoute[] {
  const last = r.matches[r.matches.length - 1];
  if (r.matches.length < 2 || !last?.catchAll) return [r];
  return [
    { ...r, matches: r.matches.slice(0, -1) },
    { ...r, matches: [last] },
  ];
}

/**
 * A host with config-time selectors. The virtual host depends only on which of the host's distinct source
 * selectors the client satisfies (a bit mask) and, when a block names `match.port`, on the port: that pair is the
 * cache key, so a request costs one check per distinct selector and a map lookup.
 */
export class SelectiveHostImpl implements SelectiveHost {
  readonly selective = true as const;
  readonly host: string;
  readonly virtualService: VirtualService | null;
  readonly service: Service | null;
  private readonly spec: HostSpec;
  /** The distinct source parts (`sourceLabels`, `sourceNamespace`) of the host's selectors. */
  private readonly sources: readonly MatchSelector[];
  private readonly usesPort: boolean;
  private readonly views = new Map<number | string, VirtualHost | null>();

  constructor(spec: HostSpec) {
    this.spec = spec;
    this.host = spec.host;
    this.virtualService = spec.candidates[0]?.vs ?? null;
    this.service = spec.service;
    const sources = new Map<string, MatchSelector>();
    let usesPort = false;
    for (const c of spec.candidates)
      for (const r of c.routes)
        for (const m of r.matches) {
          const sel = m.selector;
          if (sel === null) continue;
          if (sel.port !== null) usesPort = true;
          if (sel.sourceLabels === null && sel.sourceNamespace === null) continue;
          const source = { port: null, sourceLabels: sel.sourceLabels, sourceNamespace: sel.sourceNamespace };
          const key = JSON.stringify([sel.sourceLabels, sel.sourceNamespace]);
          if (!sources.has(key)) sources.set(key, source);
        }
    this.sources = [...sources.values()];
    this.usesPort = usesPort;
  }

  resolve(source: SourceIdentity, port: number): VirtualHost | null {
    const key = this.key(source, port);
    const hit = this.views.get(key);
    if (hit !== undefined) return hit;
    const view = buildVirtualHost(
      this.spec,
      (m) => m.selector === null || selectorReason(m.selector, source, port) === null,
    );
    if (this.views.size >= MAX_VIEWS) this.views.clear();
    this.views.set(key, view);
    return view;
  }

  traceSelectors(source: SourceIdentity, port: number, trace: TraceStep[]): void {
    const who = describeSource(source);
    let applied = false;
    for (const c of this.spec.candidates) {
      const left: TraceStep[] = [];
      let kept = 0;
      for (const r of c.routes)
        for (const m of r.matches) {
          const why = m.selector === null ? null : selectorReason(m.selector, source, port);
          if (why === null) {
            kept++;
            continue;
          }
          left.push({
            step: 'selector',
            route: {
              name: r.name,
              index: r.index,
              ...(r.delegateIndex !== null ? { delegateIndex: r.delegateIndex } : {}),
            },
            matchIndex: m.index,
            matched: false,
            message: `match[${m.index}] left out for ${who}: ${why} (a config-time selector, not a request match)`,
          });
        }
      const name = `${c.vs.namespace}/${c.vs.name}`;
      if (kept === 0) {
        trace.push({
          step: 'virtualService',
          message: `VirtualService ${name} not applied for ${who}: none of its match blocks applies to this proxy, source and port (Istio leaves it out of this proxy's routes)`,
        });
        trace.push(...left);
        continue;
      }
      trace.push(...left);
      applied = true;
      if (!this.spec.concatenate) break;
    }
    if (!applied)
      trace.push({
        step: 'virtualService',
        message: this.spec.fallback
          ? `no VirtualService applies for ${who}: the host's default route serves`
          : `no VirtualService applies for ${who} and ${this.host} is not a registry service: no virtual host`,
      });
  }

  alternatives(): readonly VirtualHost[] {
    const out: VirtualHost[] = [];
    for (const c of this.spec.candidates) {
      const v = buildVirtualHost({ ...this.spec, candidates: [c], fallback: null }, null);
      if (v) out.push(v);
    }
    if (this.spec.fallback) out.push(this.spec.fallback);
    return out;
  }

  private key(source: SourceIdentity, port: number): number | string {
    const n = this.sources.length;
    const numeric = n <= MAX_MASK_BITS && Number.isInteger(port) && port >= 0 && port <= 0xffff;
    if (numeric) {
      let mask = 0;
      for (let i = 0; i < n; i++) if (sourceAccepts(this.sources[i]!, source)) mask |= 1 << i;
      return this.usesPort ? mask * 0x10000 + port : mask;
    }
    let bits = '';
    for (const s of this.sources) bits += sourceAccepts(s, source) ? '1' : '0';
    return this.usesPort ? `${bits}:${port}` : bits;
  }
}

function describeSource(s: SourceIdentity): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (s.workload === null && labels === '' && s.namespace === null) return 'this source (unknown workload)';
  return `source ${s.workload ?? `{${labels}}`}${s.namespace ? ` in ${s.namespace}` : ''}`;
}
