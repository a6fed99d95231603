/**
 * The statistics of `weir rollout` (design `sequential-canary.md` §1–§3): count tables, anytime-valid e-processes,
 * quantile confidence sequences and the pure decision rule. Re-exports only.
 */

export * from './count-table.ts';
export * from './decision.ts';
export * from './e-process.ts';
export * from './log-math.ts';
export * from './planning.ts';
export * from './quantile.ts';
