/**
 * The baseline for `bench/routing/run.ts`: a naive interpreter of the same configuration that walks the raw
 * VirtualService objects on every request — host resolution, header-name lower-casing and an RE2 compile for every
 * regex, each time — with no precompilation. It implements the subset of §1 the benchmarks use (uri, headers,
 * first match, weights); its answers are checked against the engine's before timing.
 */
import { RE2JS } from 're2js';
import type { HTTPMatchRequest, StringMatch, VirtualServiceSpec } from '../../src/config/istio/schemas.ts';

/** A raw VirtualService: namespace plus spec as parsed from YAML. */
export interface RawVirtualService {
  namespace: string;
  spec: VirtualServiceSpec;
}

/** A request as the naive interpreter sees it: header names as sent. */
export interface NaiveRequest {
  authority: string;
  path: string;
  headers: Record<string, string>;
}

function resolve(host: string, ns: string): string {
  const h = host.toLowerCase();
  return h.includes('.') || h === '*' ? h : `${h}.${ns}.svc.cluster.local`;
}

function stringMatch(m: StringMatch | undefined | null, value: string | undefined): boolean {
  if (!m || (m.exact === undefined && m.prefix === undefined && m.regex === undefined)) return value !== undefined;
  if (value === undefined) return false;
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  return RE2JS.compile(m.regex!).matches(value);
}

function header(req: NaiveRequest, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const k of Object.keys(req.headers)) if (k.toLowerCase() === want) return req.headers[k];
  return undefined;
}

function matches(m: HTTPMatchRequest, req: NaiveRequest): boolean {
  const q = req.path.indexOf('?');
  const path = q >= 0 ? req.path.slice(0, q) : req.path;
  if (m.uri && !stringMatch(m.uri, path)) return false;
  for (const [k, sm] of Object.entries(m.headers ?? {})) if (!stringMatch(sm, header(req, k))) return false;
  return true;
}

/** Decides a request: returns `host|subset` of the chosen destination, or `404`. */
export function naiveDecide(vss: readonly RawVirtualService[], req: NaiveRequest, rng: () => number): string {
  const colon = req.authority.lastIndexOf(':');
  const host = (colon > 0 ? req.authority.slice(0, colon) : req.authority).toLowerCase();
  for (const vs of vss) {
    if (!(vs.spec.hosts ?? []).some((h) => resolve(h, vs.namespace) === host)) continue;
    for (const rule of vs.spec.http ?? []) {
      if (!rule) continue;
      const ms = rule.match ?? [];
      if (ms.length > 0 && !ms.some((m) => m !== null && matches(m, req))) continue;
      const dests = (rule.route ?? []).filter((d) => (rule.route!.length === 1 ? true : (d.weight ?? 0) > 0));
      const total = rule.route!.length === 1 ? 1 : dests.reduce((a, d) => a + (d.weight ?? 0), 0);
      let r = rng() * total;
      let chosen = dests[dests.length - 1]!;
      for (const d of dests) {
        r -= rule.route!.length === 1 ? 1 : (d.weight ?? 0);
        if (r < 0) {
          chosen = d;
          break;
        }
      }
      return `${resolve(chosen.destination?.host ?? '', vs.namespace)}|${chosen.destination?.subset ?? ''}`;
    }
    return '404';
  }
  return '404';
}
