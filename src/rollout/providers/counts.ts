/**
 * Route counts → the statistics' {@link RolloutCounts} (issue 8; design `sequential-canary.md` §1.1, §1.3, §1.8,
 * §2.2, §2.5). Pure: no I/O, no clock (times arrive as arguments). The providers (`admin.ts`, `prometheus.ts`) fetch;
 * this file converts and keeps the baselines.
 *
 * **Counter groups.** Whatever the source, the counts of one destination of one split of one route of one proxy
 * process (or one Prometheus series group) become a *group*: the split's canary routing probability `w`, the
 * destination's role (`canary` / `primary`; other destinations are dropped), whether the traffic was routed or
 * mirrored, and a vector of cumulative counters laid out as {@link CounterVectorLayout}:
 * `[requests, errors, le(e_0), …, le(e_{n−1}), le(+Inf)]`, where `le(e)` counts the requests of at most `e` ms (as a
 * Prometheus `_bucket{le}` does) over the stream's histogram edges `e_k`. Exceedances at an edge τ are
 * `le(+Inf) − le(τ)`: exact (§2.5).
 *
 * **Baselines and resets.** Groups live in *streams* (an admin proxy process, keyed by its `instance` id; or the
 * Prometheus server). Each group keeps `base` (its values when the rollout started; zero for a group first seen
 * later), `last` (its latest values) and `carry` (what earlier incarnations counted since the baseline). The counts
 * since the baseline are `carry + last − base`. A vector with any counter lower than `last` means the counters
 * restarted (a proxy restarted, or its counters were recreated): `carry += last − base`, `base = 0`, `last = new`, so
 * what was counted before is kept and the new process counts from zero. A group or stream that does not answer keeps
 * its `last` (its counts stay in the sums). Everything is plain JSON, persisted by the controller (§1.8 "Controller
 * restart").
 *
 * - Admin: a restarted proxy answers with a new `instance` id, so it is a new stream (the old one keeps its counts);
 *   a stream first seen after the baseline counts from zero if its process started at or after the baseline, else
 *   from its first answer (a process that was already running, e.g. behind a load-balanced URL).
 * - Prometheus: one stream, one group per series label set; the raw samples since the previous read are applied in
 *   time order, and a counter going down on any series of a scrape target resets **every** group of that target
 *   (see {@link observeTimedGroups}).
 */

import {
  type DestinationCounts,
  parseSplitKey,
  ROUTE_METRIC_LABELS,
  ROUTE_METRICS,
  type RouteCountsSnapshot,
  type SplitMember,
} from '../route-counts.ts';
import {
  createRolloutCounts,
  ENVOY_DEFAULT_BUCKETS_MS,
  type LatencyHistogram,
  type RolloutCounts,
  recordEvents,
  roundRoutingProbability,
} from '../stats/index.ts';
import type { CountsReading, MirrorCounts, RolloutSelector } from './types.ts';

/** Which version served a group's requests (destinations that are neither are not counted). */
export type GroupRole = 'canary' | 'primary';

/** Routed (user-visible, in the relative tables) or mirrored (shadow copies, canary-only tests; §1.1). */
export type GroupTraffic = 'routed' | 'mirrored';

/**
 * Positions in a counter vector over `n` finite edges (length `n + 3`): `requests` at 0, `errors` at 1, the
 * cumulative `le(e_k)` at `2 + k`, and `le(+Inf)` (every request with a latency) at `n + 2`.
 */
export const CounterVectorLayout = Object.freeze({ requests: 0, errors: 1, firstBucket: 2 });

/** One group's cumulative counters as read from a source. */
export interface GroupSample {
  /** Identity of the group within its stream, stable across reads (route, split, destination, labels…). */
  readonly id: string;
  readonly traffic: GroupTraffic;
  readonly role: GroupRole;
  /** The canary routing probability of the group's split, in [0, 1] (0 for mirrors). */
  readonly w: number;
  /**
   * Cumulative counters laid out as {@link CounterVectorLayout} over the stream's edges; non-negative integers.
   * `null` = not reported this time (its last value is kept, or 0 right after a reset).
   */
  readonly values: readonly (number | null)[];
}

/** The persisted state of one group (JSON). */
export type CounterGroupState = {
  traffic: GroupTraffic;
  role: GroupRole;
  w: number;
  /** Values at the baseline; `null` = all zero (the group was first seen after the baseline, or was reset). */
  base: number[] | null;
  /** Latest values. */
  last: number[];
  /** Counted since the baseline by earlier incarnations (before resets); `null` = none. */
  carry: number[] | null;
  /** How many resets were seen. */
  resets: number;
  /** Prometheus only: timestamp (s) of the last sample applied; samples at or before it are skipped. */
  lastTs: number | null;
  /**
   * Prometheus only: the scrape target's labels (every label but `__name__`, `le` and {@link ROUTE_METRIC_LABELS}),
   * so that a restart seen on one series resets every group of that target. Null for admin streams.
   */
  target: string | null;
};

/** The persisted state of one stream (JSON): its finite histogram edges (ms) and its groups. */
export type CounterStreamState = {
  edgesMs: number[];
  groups: Record<string, CounterGroupState>;
};

/** How a group first seen in an observation starts: from zero (all its counts are new) or as a baseline. */
export type NewGroupPolicy = 'zero' | 'baseline';

function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}

function checkSample(sample: GroupSample, length: number): void {
  if (sample.values.length !== length) {
    throw new RangeError(`group ${sample.id}: ${sample.values.length} counters for a vector of length ${length}`);
  }
  for (const v of sample.values) {
    if (v !== null && !(Number.isInteger(v) && v >= 0)) {
      throw new RangeError(`group ${sample.id}: counters must be non-negative integers, got ${v}`);
    }
  }
}

/**
 * Applies one group's sample to a stream, in place (the reset rule of the file comment). Returns a note when the
 * sample revealed a reset, else null. Throws a RangeError when the vector's length does not fit the stream's edges
 * or a value is not a non-negative integer (the caller validates its source).
 */
export function observeGroup(
  stream: CounterStreamState,
  sample: GroupSample,
  newGroup: NewGroupPolicy,
  target: string | null = null,
): string | null {
  const length = stream.edgesMs.length + 3;
  checkSample(sample, length);
  const g = stream.groups[sample.id];
  if (g === undefined) {
    const values = sample.values.map((v) => v ?? 0);
    stream.groups[sample.id] = {
      traffic: sample.traffic,
      role: sample.role,
      w: sample.w,
      base: newGroup === 'baseline' && values.some((v) => v !== 0) ? [...values] : null,
      last: values,
      carry: null,
      resets: 0,
      lastTs: null,
      target,
    };
    return null;
  }
  if (decreases(g, sample.values)) {
    resetGroup(g, sample.values);
    return `counters of ${sample.id} went down (restart): ${g.last[0]} requests now; what was counted before is kept`;
  }
  sample.values.forEach((v, i) => {
    if (v !== null) g.last[i] = v;
  });
  return null;
}

/** Whether any reported counter is lower than the group's last value (the counters restarted). */
function decreases(g: CounterGroupState, values: readonly (number | null)[]): boolean {
  return values.some((v, i) => v !== null && v < g.last[i]!);
}

/**
 * The reset rule, in place: `carry += last − base`, `base = 0`, `last = values` (unreported counters: 0, the new
 * process has not counted them yet).
 */
export function resetGroup(g: CounterGroupState, values: readonly (number | null)[]): void {
  const length = g.last.length;
  const carry = g.carry ?? zeros(length);
  for (let i = 0; i < length; i++) carry[i] = carry[i]! + g.last[i]! - (g.base?.[i] ?? 0);
  g.carry = carry;
  g.base = null;
  g.last = values.map((v) => v ?? 0);
  g.resets++;
}

/** The counts of one group since the baseline: `carry + last − base` (never negative). */
export function groupDelta(g: CounterGroupState): number[] {
  return g.last.map((v, i) => Math.max(0, (g.carry?.[i] ?? 0) + v - (g.base?.[i] ?? 0)));
}

function sameSubset(a: string | null, b: string): boolean {
  return (a ?? '') === b;
}

/** The role of a destination for the selector, or null when it is neither the primary nor the canary. */
function roleOf(selector: RolloutSelector, host: string, subset: string | null): GroupRole | null {
  if (host !== selector.host) return null;
  if (sameSubset(subset, selector.canarySubset)) return 'canary';
  if (sameSubset(subset, selector.primarySubset)) return 'primary';
  return null;
}

/**
 * The canary routing probability `w` of a split (§1.2): the probability of the selector's canary destination
 * (host = `selector.host`, subset = `canarySubset`), summed if it is listed twice, 0 when absent; rounded to 1e-4.
 */
export function canaryProbability(members: readonly SplitMember[], selector: RolloutSelector): number {
  let w = 0;
  for (const m of members) if (roleOf(selector, m.host, m.subset) === 'canary') w += m.probability;
  return roundRoutingProbability(Math.min(1, w));
}

/** Throws a RangeError unless the selector names two different subsets and non-empty names. */
export function checkSelector(selector: RolloutSelector): void {
  for (const k of ['namespace', 'virtualService', 'host', 'primarySubset', 'canarySubset'] as const) {
    if (typeof selector[k] !== 'string' || selector[k] === '') throw new RangeError(`selector.${k} must be set`);
  }
  if (selector.primarySubset === selector.canarySubset) {
    throw new RangeError('selector: primarySubset and canarySubset must differ');
  }
}

function addInto(target: (number | null)[], values: readonly (number | null)[]): void {
  values.forEach((v, i) => {
    if (v !== null) target[i] = (target[i] ?? 0) + v;
  });
}

/** A destination's counters as a vector ({@link CounterVectorLayout}): the histogram made cumulative. */
function destinationVector(d: DestinationCounts, edges: number): number[] {
  if (d.histogram.length !== edges + 1) {
    throw new RangeError(
      `histogram of ${d.host}|${d.subset ?? ''} has ${d.histogram.length} buckets, expected ${edges + 1}`,
    );
  }
  const out = [d.requests, d.errors];
  let acc = 0;
  for (const c of d.histogram) out.push((acc += c));
  for (const v of out) {
    if (!(Number.isInteger(v) && v >= 0))
      throw new RangeError(`counts of ${d.host}|${d.subset ?? ''} must be non-negative integers`);
  }
  return out;
}

/**
 * The groups of a {@link RouteCountsSnapshot} for a selector (§1.1, §1.3): only routes of the selector's
 * VirtualService; per route, split and role, the canary or primary destination's counters (summed if listed twice),
 * keyed by `route|split|role`; mirrors to the canary subset per route (`route|mirror`). Throws a RangeError on a
 * snapshot whose histograms do not fit its `edgesMs` or whose counts are not non-negative integers.
 */
export function snapshotGroups(snapshot: RouteCountsSnapshot, selector: RolloutSelector): GroupSample[] {
  const edges = snapshot.edgesMs.length;
  const out = new Map<string, { traffic: GroupTraffic; role: GroupRole; w: number; values: (number | null)[] }>();
  const add = (id: string, traffic: GroupTraffic, role: GroupRole, w: number, values: number[]): void => {
    const g = out.get(id);
    if (g) addInto(g.values, values);
    else out.set(id, { traffic, role, w, values: [...values] });
  };
  for (const route of snapshot.routes) {
    if (route.namespace !== selector.namespace || route.virtualService !== selector.virtualService) continue;
    for (const split of route.splits) {
      const w = canaryProbability(split.destinations, selector);
      for (const d of split.destinations) {
        const role = roleOf(selector, d.host, d.subset);
        if (role === null) continue;
        add(`${route.route}|${split.key}|${role}`, 'routed', role, w, destinationVector(d, edges));
      }
    }
    for (const m of route.mirrors) {
      if (roleOf(selector, m.host, m.subset) !== 'canary') continue;
      add(`${route.route}|mirror`, 'mirrored', 'canary', 0, destinationVector(m, edges));
    }
  }
  return [...out].map(([id, g]) => ({ id, ...g }));
}

// ─── Prometheus series ──────────────────────────────────────────────────────────────────────────────────────────

/** One series of a Prometheus API answer: a matrix row (`values`) or a vector row (`value`); values are strings. */
export interface PrometheusSeries {
  readonly metric: Readonly<Record<string, string>>;
  readonly values?: readonly (readonly [number, string])[];
  readonly value?: readonly [number, string];
}

/**
 * Parses a Prometheus sample value (the API sends strings, `NaN`, `+Inf` and `-Inf` included) as a counter:
 * `{value}` for a non-negative integer; a non-integer is rounded (`note` says so); NaN, ±Inf and negatives give
 * `value: null` with a `note` (the caller keeps the last value).
 */
export function parseCounterValue(text: string): { value: number | null; note: string | null } {
  const t = text.trim();
  if (/^[+-]?inf(inity)?$/i.test(t)) return { value: null, note: t.startsWith('-') ? '-Inf' : '+Inf' };
  const v = t === '' ? Number.NaN : Number(t);
  if (Number.isNaN(v)) return { value: null, note: 'NaN' };
  if (!Number.isFinite(v)) return { value: null, note: v > 0 ? '+Inf' : '-Inf' };
  if (v < 0) return { value: null, note: 'negative' };
  if (!Number.isInteger(v)) return { value: Math.round(v), note: 'non-integer (rounded)' };
  return { value: v, note: null };
}

/** A Prometheus `le` label as a number (`+Inf` → Infinity); NaN when malformed. */
export function parseLe(le: string): number {
  const t = le.trim();
  if (/^\+?inf(inity)?$/i.test(t)) return Number.POSITIVE_INFINITY;
  return t === '' ? Number.NaN : Number(t);
}

/** One group of Prometheus series with its samples per timestamp (s), ascending. */
export interface TimedGroupSamples {
  readonly id: string;
  /** The scrape target's labels (see {@link CounterGroupState.target}). */
  readonly target: string;
  readonly traffic: GroupTraffic;
  readonly role: GroupRole;
  readonly w: number;
  readonly points: readonly { readonly ts: number; readonly values: readonly (number | null)[] }[];
}

const BUCKET_SUFFIX = '_bucket';

/**
 * Groups `weir_route_*` series ({@link ROUTE_METRICS}: `_requests_total`, `_errors_total`, the duration's `_bucket`)
 * of the selector's VirtualService and host into counter groups over `edgesMs` (default the Envoy edges, §2.5): one
 * group per label set without `__name__` and `le` (so per scrape target and route, split, destination, traffic);
 * the vector at each timestamp holds the series that have a sample there. Buckets whose `le` is not an edge are
 * ignored. Returns the groups and notes (skipped series, NaN/±Inf/negative values ignored, non-integers rounded),
 * each note once with a count. Never throws on data.
 */
export function prometheusGroups(
  series: readonly PrometheusSeries[],
  selector: RolloutSelector,
  edgesMs: readonly number[] = ENVOY_DEFAULT_BUCKETS_MS,
): { groups: TimedGroupSamples[]; notes: string[] } {
  const length = edgesMs.length + 3;
  const noteCounts = new Map<string, number>();
  const note = (n: string): void => {
    noteCounts.set(n, (noteCounts.get(n) ?? 0) + 1);
  };
  const groups = new Map<
    string,
    { target: string; traffic: GroupTraffic; role: GroupRole; w: number; points: Map<number, (number | null)[]> }
  >();
  const routeLabels: ReadonlySet<string> = new Set<string>([...ROUTE_METRIC_LABELS, '__name__', 'le']);
  const labelKey = (m: Readonly<Record<string, string>>, keep: (k: string) => boolean): string =>
    JSON.stringify(
      Object.entries(m)
        .filter(([k]) => keep(k))
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
    );
  for (const s of series) {
    const m = s.metric;
    const name = m.__name__ ?? '';
    let position: number;
    if (name === ROUTE_METRICS.requests) position = CounterVectorLayout.requests;
    else if (name === ROUTE_METRICS.errors) position = CounterVectorLayout.errors;
    else if (name === ROUTE_METRICS.duration + BUCKET_SUFFIX) {
      const le = parseLe(m.le ?? '');
      const k = le === Number.POSITIVE_INFINITY ? edgesMs.length : edgesMs.indexOf(le);
      if (k < 0) {
        note(`${name}{le="${m.le ?? ''}"}: not a histogram edge, ignored`);
        continue;
      }
      position = CounterVectorLayout.firstBucket + k;
    } else continue;
    if (m.namespace !== selector.namespace || m.virtual_service !== selector.virtualService) continue;
    const subset = m.destination_subset ?? '';
    const role = roleOf(selector, m.destination_service ?? '', subset === '' ? null : subset);
    if (role === null) continue;
    const traffic: GroupTraffic = m.traffic === 'mirrored' ? 'mirrored' : 'routed';
    if (m.traffic !== 'routed' && m.traffic !== 'mirrored') {
      note(`series with traffic="${m.traffic ?? ''}" skipped`);
      continue;
    }
    if (traffic === 'mirrored' && role !== 'canary') continue;
    let w = 0;
    if (traffic === 'routed') {
      try {
        const members = parseSplitKey(m.split ?? '');
        if (members.length === 0) throw new RangeError('empty split');
        w = canaryProbability(members, selector);
      } catch {
        note(`series with malformed split="${m.split ?? ''}" skipped`);
        continue;
      }
    }
    const id = labelKey(m, (k) => k !== '__name__' && k !== 'le');
    let g = groups.get(id);
    if (!g) {
      const target = labelKey(m, (k) => !routeLabels.has(k));
      groups.set(id, (g = { target, traffic, role, w, points: new Map() }));
    }
    const samples = s.values ?? (s.value ? [s.value] : []);
    for (const [ts, text] of samples) {
      const { value, note: problem } = parseCounterValue(text);
      if (problem !== null) note(`${name}: ${problem} value${value === null ? ' ignored (last value kept)' : ''}`);
      if (value === null) continue;
      let vec = g.points.get(ts);
      if (!vec) g.points.set(ts, (vec = new Array<number | null>(length).fill(null)));
      vec[position] = value;
    }
  }
  const out: TimedGroupSamples[] = [];
  for (const [id, g] of groups) {
    const points = [...g.points].sort(([a], [b]) => a - b).map(([ts, values]) => ({ ts, values }));
    if (points.length > 0) out.push({ id, target: g.target, traffic: g.traffic, role: g.role, w: g.w, points });
  }
  const notes = [...noteCounts].map(([n, c]) => (c > 1 ? `${n} (×${c})` : n));
  return { groups: out, notes };
}

/**
 * Applies Prometheus groups to a stream, in place. With `baseline`, each series' latest sample becomes its baseline.
 * With `update`, the points after each group's `lastTs` are applied in time order, a scrape (one timestamp of one
 * target) at a time: when any counter of a target went down at a timestamp, the target restarted, and **every**
 * group of that target is reset there (those without a sample restart from 0: a restarted proxy recreates its
 * series only when traffic reaches them, possibly above the old value). So a restart between two reads is seen
 * even when the counters have grown back by the read, provided Prometheus scraped in between. Returns notes.
 */
export function observeTimedGroups(
  stream: CounterStreamState,
  groups: readonly TimedGroupSamples[],
  mode: 'baseline' | 'update',
): string[] {
  const notes: string[] = [];
  const sampleOf = (g: TimedGroupSamples, values: readonly (number | null)[]): GroupSample => ({
    id: g.id,
    traffic: g.traffic,
    role: g.role,
    w: g.w,
    values,
  });
  if (mode === 'baseline') {
    for (const g of groups) {
      // Each series' latest sample (a series may have stopped before the others).
      const values = [...g.points[0]!.values];
      for (const p of g.points) {
        p.values.forEach((v, i) => {
          if (v !== null) values[i] = v;
        });
      }
      observeGroup(stream, sampleOf(g, values), 'baseline', g.target);
      stream.groups[g.id]!.lastTs = g.points[g.points.length - 1]!.ts;
    }
    return notes;
  }
  // ts → target → the groups' points at ts.
  const scrapes = new Map<number, Map<string, { g: TimedGroupSamples; values: readonly (number | null)[] }[]>>();
  for (const g of groups) {
    const lastTs = stream.groups[g.id]?.lastTs ?? null;
    for (const p of g.points) {
      if (lastTs !== null && p.ts <= lastTs) continue;
      let byTarget = scrapes.get(p.ts);
      if (!byTarget) scrapes.set(p.ts, (byTarget = new Map()));
      let list = byTarget.get(g.target);
      if (!list) byTarget.set(g.target, (list = []));
      list.push({ g, values: p.values });
    }
  }
  for (const ts of [...scrapes.keys()].sort((x, y) => x - y)) {
    for (const [target, points] of scrapes.get(ts)!) {
      const length = stream.edgesMs.length + 3;
      for (const { g, values } of points) checkSample(sampleOf(g, values), length);
      const restarted = points.some(({ g, values }) => {
        const known = stream.groups[g.id];
        return known !== undefined && decreases(known, values);
      });
      if (restarted) {
        const at = new Map(points.map(({ g, values }) => [g.id, values]));
        for (const [id, known] of Object.entries(stream.groups)) {
          if (known.target !== target) continue;
          const values = at.get(id);
          resetGroup(known, values ?? new Array<number | null>(length).fill(null));
          if (values) known.lastTs = ts;
        }
        notes.push(`target ${target} restarted (counters went down at ${ts}); what it counted before is kept`);
      }
      for (const { g, values } of points) {
        if (restarted && stream.groups[g.id]?.lastTs === ts) continue;
        observeGroup(stream, sampleOf(g, values), 'zero', g.target);
        stream.groups[g.id]!.lastTs = ts;
      }
    }
  }
  return notes;
}

// ─── Readings ───────────────────────────────────────────────────────────────────────────────────────────────────

/** The counts part of a {@link CountsReading}: everything but `sources`. */
export type CountsPart = Omit<CountsReading, 'sources'>;

/**
 * Reads the streams (§1.3, §1.8, §2.2, §2.5): every group's counts since the baseline summed into
 * {@link RolloutCounts} rows keyed by `w` (requests, errors, exceedances at each threshold τ = `le(+Inf) − le(τ)`);
 * canary mirrors into {@link MirrorCounts}; the primary's routed histogram from the groups' latest cumulative values
 * (since the proxies started). Zero rows are left out. `edgesMs` is the edges common to every stream that has
 * groups (`defaultEdgesMs` when none has). Thresholds are de-duplicated and sorted (as `createRolloutCounts` does);
 * throws a RangeError for a threshold that is not one of `edgesMs` (snap it up with `snapUpToEdge`).
 */
export function readStreams(
  streams: Readonly<Record<string, CounterStreamState>>,
  thresholdsMs: readonly number[],
  defaultEdgesMs: readonly number[],
): CountsPart {
  const live = Object.values(streams).filter((s) => Object.keys(s.groups).length > 0);
  let edgesMs: readonly number[] = defaultEdgesMs;
  if (live.length > 0) {
    edgesMs = live[0]!.edgesMs;
    for (const s of live.slice(1)) {
      const set = new Set(s.edgesMs);
      edgesMs = edgesMs.filter((e) => set.has(e));
    }
  }
  const counts = createRolloutCounts(thresholdsMs);
  const thresholds = counts.latency.map((t) => t.thresholdMs);
  for (const t of thresholds) {
    if (!edgesMs.includes(t)) {
      throw new RangeError(
        `latency threshold ${t} ms is not a histogram edge of this provider (snap it up with snapUpToEdge)`,
      );
    }
  }
  const mirror = { requests: 0, errors: 0, exceedances: thresholds.map((thresholdMs) => ({ thresholdMs, count: 0 })) };
  const primaryCum = zeros(edgesMs.length + 1);
  const record = (table: RolloutCounts['requests'], g: CounterGroupState, n: number): void => {
    if (n > 0) recordEvents(table, g.w, g.role === 'canary' ? n : 0, g.role === 'primary' ? n : 0);
  };
  for (const s of live) {
    const n = s.edgesMs.length;
    const inf = CounterVectorLayout.firstBucket + n;
    const at = (e: number): number => CounterVectorLayout.firstBucket + s.edgesMs.indexOf(e);
    const tauPos = thresholds.map(at);
    const edgePos = edgesMs.map(at);
    for (const g of Object.values(s.groups)) {
      const d = groupDelta(g);
      const above = tauPos.map((p) => Math.max(0, d[inf]! - d[p]!));
      if (g.traffic === 'mirrored') {
        mirror.requests += d[0]!;
        mirror.errors += d[1]!;
        above.forEach((x, j) => {
          mirror.exceedances[j]!.count += x;
        });
        continue;
      }
      record(counts.requests, g, d[0]!);
      record(counts.errors, g, d[1]!);
      above.forEach((x, j) => record(counts.latency[j]!.exceedances, g, x));
      if (g.role === 'primary') {
        edgePos.forEach((p, k) => {
          primaryCum[k]! += g.last[p]!;
        });
        primaryCum[edgesMs.length]! += g.last[inf]!;
      }
    }
  }
  const primaryHistogram: LatencyHistogram = {
    edges: [...edgesMs, Number.POSITIVE_INFINITY],
    counts: primaryCum.map((c, k) => Math.max(0, c - (k === 0 ? 0 : primaryCum[k - 1]!))),
  };
  const mirrorCounts: MirrorCounts = mirror;
  return { counts, mirror: mirrorCounts, primaryHistogram, edgesMs: [...edgesMs] };
}

// ─── Provider states ────────────────────────────────────────────────────────────────────────────────────────────

/** Format version of the provider states below. */
export const PROVIDER_STATE_VERSION = 1;

/** What a read says about its sources (the reading's `sources`). */
export interface SourcesSummary {
  readonly ok: number;
  readonly failed: number;
  /** One line per failing source (`source: why`). */
  readonly problems: readonly string[];
  /** Non-fatal observations: resets, new proxy instances, values ignored or rounded. */
  readonly notes: readonly string[];
}

/** One admin URL's bookkeeping (JSON). */
export type AdminSourceState = {
  /** The proxy instance id it answered with last; null until it answers. */
  instance: string | null;
  /**
   * Epoch ms: a proxy instance first seen at this URL that started at or after it counts from zero; one that started
   * before it (a process that already ran at the baseline) counts from its first answer. The baseline snapshot's
   * `capturedAt` (the proxy's clock), or the controller's clock at `start` when the URL did not answer then.
   */
  referenceMs: number;
  /** ISO time of its last answer, and the last failure (null after an answer). */
  lastOkAt: string | null;
  lastError: string | null;
};

/** {@link AdminProvider}'s state: per-URL bookkeeping, and one counter stream per proxy instance id (JSON). */
export type AdminCountsState = {
  kind: 'admin';
  version: typeof PROVIDER_STATE_VERSION;
  selector: RolloutSelector;
  /** ISO time (controller clock) of `start`. */
  startedAt: string;
  sources: Record<string, AdminSourceState>;
  /** Keyed by the snapshot's `instance`: a restarted proxy is a new stream; the old one keeps its counts. */
  streams: Record<string, CounterStreamState>;
};

/** One admin source's answer: its snapshot, or why it did not answer. */
export type SnapshotResult =
  | { readonly source: string; readonly snapshot: RouteCountsSnapshot }
  | { readonly source: string; readonly error: string };

function sameSelector(a: RolloutSelector, b: RolloutSelector): boolean {
  return (
    a.namespace === b.namespace &&
    a.virtualService === b.virtualService &&
    a.host === b.host &&
    a.primarySubset === b.primarySubset &&
    a.canarySubset === b.canarySubset
  );
}

function plainSelector(s: RolloutSelector): RolloutSelector {
  return {
    namespace: s.namespace,
    virtualService: s.virtualService,
    host: s.host,
    primarySubset: s.primarySubset,
    canarySubset: s.canarySubset,
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sameEdges(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function applySnapshots(
  state: AdminCountsState,
  results: readonly SnapshotResult[],
  nowMs: number,
  phase: 'start' | 'update',
): SourcesSummary {
  const problems: string[] = [];
  const notes: string[] = [];
  let ok = 0;
  const now = new Date(nowMs).toISOString();
  for (const r of results) {
    const src = (state.sources[r.source] ??= { instance: null, referenceMs: nowMs, lastOkAt: null, lastError: null });
    const fail = (why: string): void => {
      src.lastError = why;
      problems.push(`${r.source}: ${why}`);
    };
    if ('error' in r) {
      fail(r.error);
      continue;
    }
    const snap = r.snapshot;
    let groups: GroupSample[];
    try {
      groups = snapshotGroups(snap, state.selector);
    } catch (e) {
      fail(`bad snapshot: ${errorText(e)}`);
      continue;
    }
    let stream = state.streams[snap.instance];
    let policy: NewGroupPolicy = phase === 'start' ? 'baseline' : 'zero';
    if (stream) {
      if (!sameEdges(stream.edgesMs, snap.edgesMs)) {
        fail(`instance ${snap.instance} changed its histogram edges`);
        continue;
      }
    } else {
      if (phase === 'update') {
        const started = Date.parse(snap.startedAt);
        policy = Number.isFinite(started) && started >= src.referenceMs ? 'zero' : 'baseline';
        notes.push(
          `${r.source}: proxy instance ${snap.instance}${src.instance === null ? '' : ` replaces ${src.instance} (its counts are kept)`}, ` +
            (policy === 'zero'
              ? 'started after the baseline: counted from zero'
              : 'already running at the baseline: counted from now'),
        );
      }
      stream = state.streams[snap.instance] = { edgesMs: [...snap.edgesMs], groups: {} };
    }
    for (const g of groups) {
      const n = observeGroup(stream, g, policy);
      if (n) notes.push(`${r.source} (${snap.instance}): ${n}`);
    }
    if (phase === 'start') {
      const captured = Date.parse(snap.capturedAt);
      src.referenceMs = Number.isFinite(captured) ? captured : nowMs;
    }
    src.instance = snap.instance;
    src.lastOkAt = now;
    src.lastError = null;
    ok++;
  }
  return { ok, failed: results.length - ok, problems, notes };
}

/**
 * Captures the baseline of an admin provider (§1.8): every answering source's current counts become its groups'
 * `base`. Throws an Error naming each source's problem when none answered (or none had a usable snapshot), and a
 * RangeError for a malformed selector.
 */
export function startAdminCounts(
  selector: RolloutSelector,
  results: readonly SnapshotResult[],
  nowMs: number,
): { state: AdminCountsState; sources: SourcesSummary } {
  checkSelector(selector);
  const state: AdminCountsState = {
    kind: 'admin',
    version: PROVIDER_STATE_VERSION,
    selector: plainSelector(selector),
    startedAt: new Date(nowMs).toISOString(),
    sources: {},
    streams: {},
  };
  const sources = applySnapshots(state, results, nowMs, 'start');
  if (sources.ok === 0) {
    throw new Error(`no weir admin endpoint answered: ${sources.problems.join('; ') || 'no sources given'}`);
  }
  return { state, sources };
}

/** Checks that `state` is an {@link AdminCountsState} of this version for `selector`; throws an Error otherwise. */
export function asAdminCountsState(state: { readonly kind: string }, selector: RolloutSelector): AdminCountsState {
  const s = state as AdminCountsState;
  if (s.kind !== 'admin' || s.version !== PROVIDER_STATE_VERSION || typeof s.streams !== 'object') {
    throw new Error(`not an admin provider state (kind ${String(s.kind)}, version ${String(s.version)})`);
  }
  if (!sameSelector(s.selector, selector)) throw new Error('the provider state was started for another selector');
  return s;
}

/**
 * Applies a read's answers to a copy of `state` (the input is not modified): known instances update their groups
 * (reset rule of the file comment); a new instance at a URL is a new stream, counted from zero when it started at
 * or after the URL's `referenceMs`, else from its first answer; a source that failed keeps its last counts. Throws
 * only for a state of another kind or selector.
 */
export function updateAdminCounts(
  state: AdminCountsState,
  selector: RolloutSelector,
  results: readonly SnapshotResult[],
  nowMs: number,
): { state: AdminCountsState; sources: SourcesSummary } {
  const next = structuredClone(asAdminCountsState(state, selector));
  const sources = applySnapshots(next, results, nowMs, 'update');
  return { state: next, sources };
}

/** {@link PrometheusProvider}'s state: one counter stream over the Envoy edges, groups per series (JSON). */
export type PrometheusCountsState = {
  kind: 'prometheus';
  version: typeof PROVIDER_STATE_VERSION;
  selector: RolloutSelector;
  /** ISO time (controller clock) of `start`. */
  startedAt: string;
  /** Epoch ms (controller clock) of the last answered query: the next query's window reaches back to it. */
  lastQueryMs: number;
  lastOkAt: string | null;
  lastError: string | null;
  streams: Record<string, CounterStreamState>;
};

/** The one stream of a {@link PrometheusCountsState}. */
export const PROMETHEUS_STREAM = 'prometheus';

/** One Prometheus answer: its series, or why there were none. */
export type PrometheusResult =
  | { readonly series: readonly PrometheusSeries[]; readonly warnings?: readonly string[] }
  | { readonly error: string };

/**
 * Captures the baseline of a Prometheus provider: each series group's latest sample becomes its `base`. No series
 * at all is a valid, empty baseline (groups that appear later count from zero). Throws a RangeError for a
 * malformed selector.
 */
export function startPrometheusCounts(
  selector: RolloutSelector,
  series: readonly PrometheusSeries[],
  nowMs: number,
): { state: PrometheusCountsState; notes: string[] } {
  checkSelector(selector);
  const stream: CounterStreamState = { edgesMs: [...ENVOY_DEFAULT_BUCKETS_MS], groups: {} };
  const { groups, notes } = prometheusGroups(series, selector, stream.edgesMs);
  notes.push(...observeTimedGroups(stream, groups, 'baseline'));
  const now = new Date(nowMs).toISOString();
  return {
    state: {
      kind: 'prometheus',
      version: PROVIDER_STATE_VERSION,
      selector: plainSelector(selector),
      startedAt: now,
      lastQueryMs: nowMs,
      lastOkAt: now,
      lastError: null,
      streams: { [PROMETHEUS_STREAM]: stream },
    },
    notes,
  };
}

/** Checks that `state` is a {@link PrometheusCountsState} of this version for `selector`; throws an Error otherwise. */
export function asPrometheusCountsState(
  state: { readonly kind: string },
  selector: RolloutSelector,
): PrometheusCountsState {
  const s = state as PrometheusCountsState;
  if (s.kind !== 'prometheus' || s.version !== PROVIDER_STATE_VERSION || !s.streams?.[PROMETHEUS_STREAM]) {
    throw new Error(`not a prometheus provider state (kind ${String(s.kind)}, version ${String(s.version)})`);
  }
  if (!sameSelector(s.selector, selector)) throw new Error('the provider state was started for another selector');
  return s;
}

/**
 * Applies one Prometheus answer to a copy of `state`: new samples per group in time order (reset rule of the file
 * comment; groups first seen count from zero); an error keeps every last count and is reported as the failing
 * source. Throws only for a state of another kind or selector.
 */
export function updatePrometheusCounts(
  state: PrometheusCountsState,
  selector: RolloutSelector,
  result: PrometheusResult,
  nowMs: number,
  sourceName = 'prometheus',
): { state: PrometheusCountsState; sources: SourcesSummary } {
  const next = structuredClone(asPrometheusCountsState(state, selector));
  if ('error' in result) {
    next.lastError = result.error;
    return { state: next, sources: { ok: 0, failed: 1, problems: [`${sourceName}: ${result.error}`], notes: [] } };
  }
  const stream = next.streams[PROMETHEUS_STREAM]!;
  const { groups, notes } = prometheusGroups(result.series, selector, stream.edgesMs);
  notes.push(...observeTimedGroups(stream, groups, 'update'));
  for (const w of result.warnings ?? []) notes.push(`${sourceName} warning: ${w}`);
  next.lastQueryMs = nowMs;
  next.lastOkAt = new Date(nowMs).toISOString();
  next.lastError = null;
  return { state: next, sources: { ok: 1, failed: 0, problems: [], notes } };
}

/**
 * The reading of a provider state at `thresholdsMs` (§1.3, §2.2, §2.5; see {@link readStreams}), with `sources`.
 * Throws a RangeError for a threshold that is not an edge.
 */
export function countsReading(
  state: { readonly streams: Readonly<Record<string, CounterStreamState>> },
  thresholdsMs: readonly number[],
  defaultEdgesMs: readonly number[],
  sources: SourcesSummary,
): CountsReading {
  return { ...readStreams(state.streams, thresholdsMs, defaultEdgesMs), sources };
}
