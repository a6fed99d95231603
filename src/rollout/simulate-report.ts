/**
 * Development script, not a command and not exported: runs the §4.2 grid of `sequential-canary.md` with the simulator
 * and prints the comparison table used in `docs/rollout.md`. Usage:
 *   node --import tsx src/rollout/simulate-report.ts [runs=1000] [scenario keys, comma-separated] [rps list]
 */

import { cellSeed, formatComparisonTable, SCENARIOS, simulateCell } from './simulate.ts';

const runs = Number(process.argv[2] ?? 1000);
const keys = (process.argv[3] ?? 'H05,H08,G16,B2,B4,BL').split(',') as (keyof typeof SCENARIOS)[];
const rates = (process.argv[4] ?? '1,5,20,100').split(',').map(Number);
const started = performance.now();
const cells = [];
for (const k of keys) {
  for (const rps of rates)
    cells.push(simulateCell({ scenario: SCENARIOS[k], rps, runs, seed: cellSeed(20240601, k, rps) }));
}
process.stdout.write(`${formatComparisonTable(cells)}\n`);
process.stderr.write(`${runs} runs per cell per rule, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
