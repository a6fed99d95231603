/**
 * `weir demo` end to end: spawns `node bin/weir.js demo` as a user would (no TTY, so plain output) and checks the
 * exit code and the summary. The demo falls back to ephemeral ports when 18081/18082 or 15001/15000 are taken,
 * so it can run beside other tests.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const PATTERNS = [
  'composite',
  'source-labels',
  'mirroring',
  'affinity',
  'per-group',
  'common-mistake',
  'resilience',
  'rollout',
];

function demo(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'weir.js'), 'demo', ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 220_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The lines after the `━━ Summary` heading. */
function summaryOf(stdout: string): string {
  const i = stdout.indexOf('━━ Summary');
  return i < 0 ? '' : stdout.slice(i);
}

describe('weir demo', () => {
  it('runs every pattern and every check passes (--duration 1)', { timeout: 240_000 }, async () => {
    const r = await demo('--duration', '1');
    const summary = summaryOf(r.stdout);
    expect(summary, r.stdout + r.stderr).not.toBe('');
    for (const p of PATTERNS) expect(summary).toMatch(new RegExp(`✓ ${p}\\s+.*checks passed`));
    expect(summary).toContain('✓ 8/8 patterns passed');
    expect(summary).not.toContain('✗');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Plain output off a TTY: no cursor movement.
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('runs one pattern with --pattern composite', { timeout: 30_000 }, async () => {
    const r = await demo('--pattern', 'composite', '--duration', '1');
    const summary = summaryOf(r.stdout);
    expect(summary).toMatch(/✓ composite\s+Composite routing\s+2\/2 checks passed/);
    expect(summary).toContain('✓ 1/1 patterns passed');
    for (const p of PATTERNS.filter((x) => x !== 'composite')) expect(summary).not.toContain(p);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('runs the resilience pattern with --pattern resilience', { timeout: 40_000 }, async () => {
    const r = await demo('--pattern', 'resilience');
    const summary = summaryOf(r.stdout);
    expect(summary, r.stdout + r.stderr).toMatch(/✓ resilience\s+Resilience\s+11\/11 checks passed/);
    expect(summary).toContain('✓ 1/1 patterns passed');
    // What the proxy reported, step by step: UT, URX, DI and FI flags, UO overflow, an EJECTED pod.
    for (const seen of [
      '504 UT×',
      '503 URX×1',
      '200 DI×',
      '500 FI×',
      'showed it EJECTED',
      '↻ reloaded the original examples',
    ])
      expect(r.stdout).toContain(seen);
    expect(r.stdout).toMatch(/✓\s+16\s+\d+\s+\d+\s+\d+\s+\d/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('rejects a bad flag with exit 64', { timeout: 30_000 }, async () => {
    const r = await demo('--rps', '0');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--rps');
  });
});
