/**
 * The admin metric provider of `weir rollout` (issue 8; `sequential-canary.md` §1.3, §1.8): reads
 * `GET /rollout/counts` ({@link ROUTE_COUNTS_PATH}) from one or many `weir serve` admin endpoints and sums them (count
 * tables add across proxy replicas, §1.8). Baselines, resets and the conversion are in `counts.ts`; this file only
 * fetches, with a per-request timeout, and validates the JSON.
 */

import { z } from 'zod';
import { ROUTE_COUNTS_PATH, ROUTE_COUNTS_VERSION, type RouteCountsSnapshot } from '../route-counts.ts';
import { statisticsBucketEdgesMs } from '../stats/index.ts';
import {
  asAdminCountsState,
  countsReading,
  type SnapshotResult,
  startAdminCounts,
  updateAdminCounts,
} from './counts.ts';
import { getText } from './http.ts';
import type { CountsReading, MetricsProvider, ProviderState, RolloutSelector } from './types.ts';

/** Default per-request timeout of {@link AdminProvider}, ms. */
export const ADMIN_TIMEOUT_MS = 2000;

const count = z.number().int().nonnegative();
const destination = z.object({
  host: z.string().min(1),
  subset: z.string().nullable(),
  probability: z.number().min(0).max(1),
  requests: count,
  errors: count,
  histogram: z.array(count),
});
const snapshotSchema = z.object({
  version: z.literal(ROUTE_COUNTS_VERSION),
  instance: z.string().min(1),
  startedAt: z.string(),
  capturedAt: z.string(),
  edgesMs: z
    .array(z.number().positive().finite())
    .refine((e) => e.every((x, i) => i === 0 || x > e[i - 1]!), 'edgesMs must increase strictly'),
  routes: z.array(
    z.object({
      namespace: z.string(),
      virtualService: z.string(),
      route: z.number().int().nonnegative(),
      routeName: z.string().nullable(),
      splits: z.array(z.object({ key: z.string(), destinations: z.array(destination) })),
      mirrors: z.array(destination),
    }),
  ),
});

/**
 * Validates a `GET /rollout/counts` answer as a {@link RouteCountsSnapshot} (version {@link ROUTE_COUNTS_VERSION},
 * non-negative integer counts, strictly increasing finite edges). Throws a TypeError saying what is wrong.
 */
export function parseRouteCountsSnapshot(json: unknown): RouteCountsSnapshot {
  const r = snapshotSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first ? first.path.join('.') : '';
    throw new TypeError(`not a route-counts snapshot: ${where ? `${where}: ` : ''}${first?.message ?? 'invalid'}`);
  }
  return r.data as RouteCountsSnapshot;
}

/** `base` + {@link ROUTE_COUNTS_PATH} (a path prefix in `base` is kept), filtered to one VirtualService. */
export function routeCountsUrl(base: string, selector?: Pick<RolloutSelector, 'namespace' | 'virtualService'>): string {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${ROUTE_COUNTS_PATH}`;
  if (selector) {
    u.searchParams.set('namespace', selector.namespace);
    u.searchParams.set('virtualService', selector.virtualService);
  }
  return u.toString();
}

/**
 * Fetches and validates one admin endpoint's snapshot (only the selector's VirtualService is asked for; older
 * proxies that ignore the filter answer everything, which `counts.ts` filters anyway). Rejects with an Error on a
 * timeout (`timeoutMs`), a connection failure, a non-2xx status, or an answer that is not a snapshot.
 */
export async function fetchRouteCounts(
  base: string,
  timeoutMs: number = ADMIN_TIMEOUT_MS,
  selector?: Pick<RolloutSelector, 'namespace' | 'virtualService'>,
): Promise<RouteCountsSnapshot> {
  const { status, body } = await getText(routeCountsUrl(base, selector), timeoutMs);
  if (status < 200 || status > 299) throw new Error(`HTTP ${status}${body ? `: ${body.slice(0, 200).trim()}` : ''}`);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error('answer is not JSON');
  }
  return parseRouteCountsSnapshot(json);
}

/** Options of {@link AdminProvider}. */
export interface AdminProviderOptions {
  /** Per-request timeout, ms (default {@link ADMIN_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * Route counts from weir admin endpoints, summed across proxies (§1.8). The state (`kind: 'admin'`) keeps one
 * counter stream per proxy instance id; see `counts.ts` for baselines and resets. `edgesMs` of a reading are the
 * proxies' statistics edges (`statisticsBucketEdgesMs()`, the Envoy edges included).
 */
export class AdminProvider implements MetricsProvider {
  readonly kind = 'admin';
  readonly description: string;
  /** The admin base URLs, de-duplicated. */
  readonly urls: readonly string[];
  private readonly timeoutMs: number;
  private readonly now: () => number;

  /**
   * @param urls one admin base URL or several (`http://host:15000`); throws a TypeError when none is given or one is
   *   not an http(s) URL.
   */
  constructor(urls: string | readonly string[], options: AdminProviderOptions = {}) {
    const list = [...new Set(typeof urls === 'string' ? [urls] : urls)];
    if (list.length === 0) throw new TypeError('AdminProvider: at least one admin URL is required');
    for (const u of list) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        throw new TypeError(`AdminProvider: not a URL: ${u}`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new TypeError(`AdminProvider: not an http(s) URL: ${u}`);
      }
    }
    this.urls = list;
    this.timeoutMs = options.timeoutMs ?? ADMIN_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.description = `weir admin ${list.join(', ')}`;
  }

  private async fetchAll(selector: RolloutSelector): Promise<SnapshotResult[]> {
    return Promise.all(
      this.urls.map(async (source): Promise<SnapshotResult> => {
        try {
          return { source, snapshot: await fetchRouteCounts(source, this.timeoutMs, selector) };
        } catch (e) {
          return { source, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
  }

  /** Captures the baseline from every URL that answers; throws an Error naming each URL's problem when none does. */
  async start(selector: RolloutSelector): Promise<ProviderState> {
    const results = await this.fetchAll(selector);
    return startAdminCounts(selector, results, this.now()).state;
  }

  /**
   * Counts since the baseline, summed over every proxy instance seen (one that does not answer keeps its last
   * counts and is named in `sources.problems`). Throws a RangeError for a threshold that is not an edge, and an
   * Error for a state of another provider or selector.
   */
  async read(
    selector: RolloutSelector,
    state: ProviderState,
    thresholdsMs: readonly number[],
  ): Promise<{ reading: CountsReading; state: ProviderState }> {
    const current = asAdminCountsState(state, selector);
    const results = await this.fetchAll(selector);
    const next = updateAdminCounts(current, selector, results, this.now());
    const reading = countsReading(next.state, thresholdsMs, statisticsBucketEdgesMs(), next.sources);
    return { reading, state: next.state };
  }
}
