/**
 * The count tables the proxy keeps for each event type (design `sequential-canary.md` §1.3, §1.8, §6): one row per
 * routing probability `w` in force when the request was dispatched, holding the number of events served by the canary
 * and by the primary. Tables are plain data (JSON-serialisable, so a controller can persist them) and add across
 * proxy replicas. No I/O and no clock here.
 */

/** Which version served a request. */
export type Version = 'canary' | 'primary';

/** One row of a count table: events among requests routed to the canary with probability `w`. */
export interface CountRow {
  /** Canary routing probability in force at dispatch, in [0, 1], rounded to {@link ROUTING_PROBABILITY_RESOLUTION}. */
  readonly w: number;
  /** Events (errors, exceedances or requests, depending on the table) served by the canary. */
  canary: number;
  /** Events served by the primary. */
  primary: number;
}

/**
 * `{w → (canary events, primary events)}` for one event type, rows sorted by ascending `w`.
 * Counts are `number`s (exact integers up to 2^53, §6), never `Int32Array`.
 */
export interface CountTable {
  rows: CountRow[];
}

/** Arbitrary weights are rounded to this resolution so that a table keeps a handful of rows (§1.3). */
export const ROUTING_PROBABILITY_RESOLUTION = 1e-4;
const ROUNDING_STEPS = 10_000;

/**
 * Rounds a canary routing probability to {@link ROUTING_PROBABILITY_RESOLUTION} (§1.3: "arbitrary weights can be
 * rounded to 1e-4"). Throws a RangeError (a programmer error) outside [0, 1] or for NaN.
 */
export function roundRoutingProbability(w: number): number {
  if (!(w >= 0 && w <= 1)) throw new RangeError(`routing probability must be in [0, 1], got ${w}`);
  return Math.round(w * ROUNDING_STEPS) / ROUNDING_STEPS;
}

/** Creates a count table, optionally from `[w, canary, primary]` triples (rows with the same rounded `w` are summed). */
export function createCountTable(rows: Iterable<readonly [number, number, number]> = []): CountTable {
  const table: CountTable = { rows: [] };
  for (const [w, c, p] of rows) recordEvents(table, w, c, p);
  return table;
}

function checkCount(n: number, what: string): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
}

/**
 * Adds `canary` and `primary` events to the row for `w` (created if absent), in place; O(rows) with rows ≤ a few.
 * This is the per-request update of §6: one call per event type the request produced.
 */
export function recordEvents(table: CountTable, w: number, canary: number, primary: number): CountTable {
  checkCount(canary, 'canary events');
  checkCount(primary, 'primary events');
  const key = roundRoutingProbability(w);
  const rows = table.rows;
  let i = 0;
  while (i < rows.length && rows[i]!.w < key) i++;
  const row = rows[i];
  if (row !== undefined && row.w === key) {
    row.canary += canary;
    row.primary += primary;
  } else {
    rows.splice(i, 0, { w: key, canary, primary });
  }
  return table;
}

/** Records one event served by `version` at routing probability `w` (in place). */
export function recordEvent(table: CountTable, w: number, version: Version): CountTable {
  return recordEvents(table, w, version === 'canary' ? 1 : 0, version === 'primary' ? 1 : 0);
}

/**
 * Sums count tables row by row (§1.8, "Several proxy replicas": the likelihood ratio is a product over disjoint
 * events, so the controller sums the replicas' snapshots and evaluates once). Returns a new table.
 */
export function mergeCountTables(...tables: readonly CountTable[]): CountTable {
  const out: CountTable = { rows: [] };
  for (const t of tables) for (const r of t.rows) recordEvents(out, r.w, r.canary, r.primary);
  return out;
}

/** A deep copy of a table (rows are mutable). */
export function cloneCountTable(table: CountTable): CountTable {
  return { rows: table.rows.map((r) => ({ ...r })) };
}

/** Totals over all rows, including `w ∈ {0, 1}`: `(Σ canary, Σ primary)`. */
export function totalCounts(table: CountTable): { canary: number; primary: number } {
  let canary = 0;
  let primary = 0;
  for (const r of table.rows) {
    canary += r.canary;
    primary += r.primary;
  }
  return { canary, primary };
}
