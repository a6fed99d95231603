/**
 * Header handling on the way through the proxy: hop-by-hop header removal (RFC 9110 §7.6.1, as Envoy does),
 * Istio/Envoy header operations (`set` overwrites, `add` appends, `remove` deletes; each level removes first), and
 * the few Envoy `%…%` formatters users put in header values.
 */
import type { HeaderOps } from '../../routing/types.ts';

/** Hop-by-hop headers that never cross the proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

/** True for a header that must not be forwarded (hop-by-hop or listed in `Connection`). */
export function isHopByHop(lowerName: string, connectionTokens: ReadonlySet<string> | null): boolean {
  return HOP_BY_HOP.has(lowerName) || connectionTokens?.has(lowerName) === true;
}

/** The header names listed in a `Connection` header, lower-cased, or null. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const t of text.split(',')) {
    const s = t.trim().toLowerCase();
    if (s) out.add(s);
  }
  return out.size > 0 ? out : null;
}

/** Values the formatter can substitute. */
export interface FormatContext {
  downstreamRemoteAddress: string;
  downstreamLocalAddress: string;
  protocol: string;
  requestHeader(name: string): string | undefined;
  upstreamHost?: string;
}

/**
 * Renders Envoy's header-value formatters: `%%` → `%`, `%DOWNSTREAM_REMOTE_ADDRESS%`,
 * `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`, `%DOWNSTREAM_LOCAL_ADDRESS%`, `%PROTOCOL%`, `%REQ(name)%`,
 * `%START_TIME%`, `%HOSTNAME%`, `%UPSTREAM_HOST%`. Unknown formatters are left as written.
 */
export function renderValue(value: string, ctx: FormatContext): string {
  if (!value.includes('%')) return value;
  return value.replace(
    /%%|%([A-Z_]+)(?:\(([^)]*)\))?%/g,
    (whole, name: string | undefined, arg: string | undefined) => {
      if (whole === '%%') return '%';
      switch (name) {
        case 'DOWNSTREAM_REMOTE_ADDRESS':
          return ctx.downstreamRemoteAddress;
        case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
          return ctx.downstreamRemoteAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
        case 'DOWNSTREAM_LOCAL_ADDRESS':
          return ctx.downstreamLocalAddress;
        case 'PROTOCOL':
          return ctx.protocol;
        case 'REQ':
          return ctx.requestHeader((arg ?? '').toLowerCase()) ?? '';
        case 'START_TIME':
          return new Date().toISOString();
        case 'HOSTNAME':
          return process.env.HOSTNAME ?? 'localhost';
        case 'UPSTREAM_HOST':
          return ctx.upstreamHost ?? '';
        default:
          return whole;
      }
    },
  );
}

/** A mutable header list: lower-case names to one or more values, in insertion order. */
export type HeaderList = Map<string, string[]>;

/** Applies header-operation levels in order (each: remove, then set, then add). */
export function applyHeaderOps(headers: HeaderList, levels: readonly HeaderOps[], ctx: FormatContext | null): void {
  for (const level of levels) {
    for (const name of level.remove) headers.delete(name);
    for (const [name, value] of level.set) headers.set(name, [ctx ? renderValue(value, ctx) : value]);
    for (const [name, value] of level.add) {
      const v = ctx ? renderValue(value, ctx) : value;
      const prior = headers.get(name);
      if (prior) prior.push(v);
      else headers.set(name, [v]);
    }
  }
}

/** Flattens a header list into undici's `[name, value, name, value, …]` form. */
export function flatten(headers: HeaderList): string[] {
  const out: string[] = [];
  for (const [name, values] of headers) for (const v of values) out.push(name, v);
  return out;
}
