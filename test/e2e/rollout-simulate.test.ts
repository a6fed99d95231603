/**
 * `weir rollout simulate` as a user runs it: the example Canary, a real process, the table's shape, the preflight
 * warning at low traffic, and exit 64 for bad usage.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CANARY = 'examples/canary/canary.yaml';

function weir(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/weir.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The markdown table rows of the output, split into cells. */
function rows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('| '))
    .map((l) =>
      l
        .slice(2, -2)
        .split(' | ')
        .map((c) => c.trim()),
    );
}

describe('weir rollout simulate', () => {
  it('prints both rules on the same traffic; a 2× canary is judged on missed regressions', () => {
    const r = weir(['rollout', 'simulate', '-f', CANARY, '--rps', '20', '--errors', '0.005,0.01', '--runs', '20']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Canary composite/checkout-service: steps 5 → 10 → 25 → 50 → 100 %');
    expect(r.stdout).toContain('20 runs, seed 20240601');
    const t = rows(r.stdout);
    expect(t[0]).toEqual([
      'rule',
      'rollback',
      'promote',
      'inconclusive',
      'missed regression',
      'median to decision',
      'p90 to decision',
      'canary requests (median)',
    ]);
    expect(t.map((row) => row[0])).toEqual(['rule', 'weir (sequential)', 'Flagger (fixed threshold)']);
    for (const row of t.slice(1)) {
      expect(row).toHaveLength(8);
      for (const cell of row.slice(1, 5)) expect(cell).toMatch(/^\d+\.\d %$/);
      const [rb, pr, inc] = row.slice(1, 4).map((c) => Number.parseFloat(c));
      expect(rb! + pr! + inc!).toBeCloseTo(100, 0);
      expect(row[4]).toBe(row[2]); // missed regression = promote share
      expect(row[7]).toMatch(/^\d+$/);
    }
  });

  it('is reproducible for a seed, and labels a healthy canary by false rollbacks', () => {
    const args = ['rollout', 'simulate', '-f', CANARY, '--rps', '50', '--errors', '0.005,0.005', '--runs', '10'];
    const a = weir([...args, '--seed', '7']);
    const b = weir([...args, '--seed', '7']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(rows(a.stdout)[0]![4]).toBe('false rollback');
    expect(a.stdout).not.toContain('warning:');
  });

  it('warns when the traffic is too low to decide within maxDuration', () => {
    const r = weir([
      'rollout',
      'simulate',
      '-f',
      CANARY,
      '--rps',
      '1',
      '--errors',
      '0.005,0.005',
      '--runs',
      '5',
      '--max-duration',
      '10m',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: at 1 rps only \d+\.\d % of runs decide within 10m; expect INCONCLUSIVE/);
  });

  it.each([
    ['no --errors', ['--rps', '5']],
    ['one error rate', ['--rps', '5', '--errors', '0.1']],
    ['an error rate above 1', ['--rps', '5', '--errors', '0.1,2']],
    ['zero rps', ['--rps', '0', '--errors', '0.1,0.1']],
    ['a bad --runs', ['--rps', '5', '--errors', '0.1,0.1', '--runs', 'many']],
    ['a bad --max-duration', ['--rps', '5', '--errors', '0.1,0.1', '--max-duration', 'later']],
  ])('exits 64 for %s', (_name, args) => {
    const r = weir(['rollout', 'simulate', '-f', CANARY, ...args]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
  });

  it('exits 64 when the file holds no Canary or a missing file is named', () => {
    const noCanary = weir([
      'rollout',
      'simulate',
      '-f',
      'examples/01-composite-routing/virtual-service.yaml',
      '--rps',
      '5',
      '--errors',
      '0.1,0.1',
    ]);
    expect(noCanary.code).toBe(64);
    expect(noCanary.stderr).toContain('expected exactly one Canary');
    expect(weir(['rollout', 'simulate', '-f', 'no/such/canary.yaml', '--rps', '5', '--errors', '0.1,0.1']).code).toBe(
      64,
    );
  });
});
