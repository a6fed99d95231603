/**
 * `.ci/run`, the CI entry point, run for real with the commands around it replaced by recording stubs (first on
 * PATH): npm (whose `npm test` writes a vitest JSON result), apt-get, prometheus (so the install is skipped), and
 * the process killers pkill and killall. The script must print the Node.js version, end with the
 * "N passed, N failed" line, and kill nothing it did not start: a developer's own Prometheus, or the system one a
 * package postinst starts, is none of its business (the tests start their own on free ports). The stubs record
 * instead of acting, so running this test never stops a real process.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const bin = mkdtempSync(join(tmpdir(), 'weir-ci-run-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** Writes an executable stub `name` that appends its arguments to `<bin>/<name>.log`, then runs `body`. */
function stub(name: string, body = 'exit 0'): void {
  const p = join(bin, name);
  writeFileSync(p, `#!/bin/sh\necho "$*" >> "${join(bin, `${name}.log`)}"\n${body}\n`);
  chmodSync(p, 0o755);
}

function calls(name: string): string[] {
  const p = join(bin, `${name}.log`);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
}

// `npm test -- … --outputFile=FILE` writes what vitest's JSON reporter would; `npm ci` and `npm --version` succeed.
stub(
  'npm',
  `case "$1" in
  --version) echo 11.0.0 ;;
  test) for a in "$@"; do case "$a" in --outputFile=*) echo '{"numPassedTests":7,"numFailedTests":2,"numPendingTests":1}' > "\${a#--outputFile=}" ;; esac; done; exit 1 ;;
esac
exit 0`,
);
stub('apt-get');
stub('prometheus');
stub('pkill');
stub('killall');

describe('.ci/run', () => {
  const r = spawnSync('bash', [join(ROOT, '.ci', 'run')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: bin },
  });

  it('kills no process it did not start', () => {
    expect(calls('pkill')).toEqual([]);
    expect(calls('killall')).toEqual([]);
  });

  it('prints the Node.js version first and ends with the counts line, keeping npm test’s status', () => {
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`node ${process.version}, npm 11.0.0`);
    expect(lines.at(-1)).toBe('7 passed, 2 failed, 1 skipped');
    expect(r.status).toBe(1);
    expect(calls('npm')).toEqual(['--version', 'ci --no-audit --no-fund', expect.stringMatching(/^test -- /)]);
    expect(calls('apt-get')).toEqual([]);
  });
});
