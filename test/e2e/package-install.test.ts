/**
 * The published package as a user gets it: `npm pack` (its prepack builds the bundle), `npm install -g` into a
 * temporary prefix, the prefix made read-only, then the installed `weir` run by a user that cannot write there
 * (`nobody` through setpriv when the tests run as root, as in CI; otherwise the current user, whom the read-only
 * modes stop). Every command must run without writing a byte into the installation, which is also checked directly:
 * the prefix's file listing (sizes, modes, mtimes) is the same after the runs as before.
 * In a git checkout, bin/weir.js rebuilds the bundle when a source is newer (the last test).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const asRoot = process.getuid?.() === 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` to its end (killed after `timeoutMs`). */
function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }) {
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The environment without the `npm_*` variables npm sets when the tests run under `npm test` (prefix, package,
 * lifecycle…), which would steer the inner npm; where npm's cache, registry and proxies are stays as configured.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|registry|userconfig|globalconfig|cafile|proxy|https?_proxy|noproxy|strict_ssl)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.test(k)));
}

/** Every path under `dir` (relative) with its type, mode, size and mtime: what a write anywhere would change. */
function listing(dir: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = join(rel, name);
    const st = lstatSync(join(dir, p));
    out.set(
      p,
      `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`,
    );
    if (st.isDirectory()) for (const [k, v] of listing(dir, p)) out.set(k, v);
  }
  return out;
}

let tmp = '';
let prefix = '';
let pkgDir = '';
let tarball = '';
/** The directory of the `node` the installed `weir` runs with (its shebang is `/usr/bin/env node`). */
let nodeDir = '';
let before = new Map<string, string>();
let user = { uid: '', gid: '' };

/** The command line that runs the installed `weir` with `args` as the unprivileged user. */
function weirCommand(args: string[]): [string, string[]] {
  const bin = join(prefix, 'bin', 'weir');
  if (!asRoot) return [bin, args];
  // setpriv execs in place (no fork), so a signal to the child reaches weir itself.
  return ['setpriv', ['--reuid', user.uid, '--regid', user.gid, '--clear-groups', '--', bin, ...args]];
}

function weirEnv(): NodeJS.ProcessEnv {
  return { PATH: `${nodeDir}:/usr/bin:/bin`, NO_COLOR: '1', LANG: 'C.UTF-8' };
}

function weir(args: string[], timeoutMs = 30_000): Promise<Run> {
  const [cmd, argv] = weirCommand(args);
  return run(cmd, argv, { cwd: tmp, env: weirEnv(), timeoutMs });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'weir-pack-'));
  // mkdtemp makes the folder private (0700); the unprivileged user must reach the prefix inside it.
  spawnSync('chmod', ['755', tmp]);
  prefix = join(tmp, 'prefix');
  const npm = { cwd: ROOT, env: cleanEnv(), timeoutMs: 120_000 };

  const packed = await run('npm', ['pack', '--pack-destination', tmp, '--no-update-notifier'], npm);
  expect(packed.code, packed.stdout + packed.stderr).toBe(0);
  tarball = join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz')) ?? 'no tarball');

  const installed = await run(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      tarball,
    ],
    { ...npm, cwd: tmp },
  );
  expect(installed.code, installed.stdout + installed.stderr).toBe(0);
  pkgDir = join(prefix, 'lib', 'node_modules', 'weir');

  nodeDir = dirname(process.execPath);
  if (asRoot) {
    const id = (flag: string) => spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim();
    user = { uid: id('-u'), gid: id('-g') };
    expect(user.uid, 'no user "nobody" to run as').toMatch(/^\d+$/);
    // The node binary must be runnable by that user (it may live in a private folder, e.g. under /root).
    const probe = spawnSync('setpriv', [
      '--reuid',
      user.uid,
      '--regid',
      user.gid,
      '--clear-groups',
      '--',
      process.execPath,
      '-e',
      '0',
    ]);
    if (probe.status !== 0) {
      nodeDir = join(tmp, 'node-bin');
      mkdirSync(nodeDir);
      copyFileSync(process.execPath, join(nodeDir, 'node'));
      spawnSync('chmod', ['755', nodeDir, join(nodeDir, 'node')]);
    }
  }

  expect(spawnSync('chmod', ['-R', 'a-w', prefix]).status).toBe(0);
  before = listing(prefix);
}, 180_000);

afterAll(() => {
  if (!tmp) return;
  spawnSync('chmod', ['-R', 'u+w', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('the packed package, installed read-only and run by another user', () => {
  it('ships the bundle, the examples and nothing for development', () => {
    const entries = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l && !l.endsWith('/'));
    expect(entries).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/README.md',
        'package/bin/weir.js',
        'package/dist/weir.mjs',
        'package/dist/weir.mjs.map',
        'package/examples/01-composite-routing/virtual-service.yaml',
      ]),
    );
    const allowed = /^package\/(package\.json|README\.md|bin\/weir\.js|dist\/weir\.mjs(\.map)?|examples\/.+)$/;
    expect(entries.filter((e) => !allowed.test(e))).toEqual([]);
    // Build tools are development dependencies: an installed weir runs without them.
    expect(existsSync(join(pkgDir, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(pkgDir, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(pkgDir, 'src'))).toBe(false);
  });

  it('runs as a user who cannot write to the prefix', () => {
    if (!asRoot) return; // a non-root user is already stopped by the read-only modes
    const r = spawnSync(
      'setpriv',
      ['--reuid', user.uid, '--regid', user.gid, '--clear-groups', '--', 'sh', '-c', `touch "${pkgDir}/probe"`],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect(existsSync(join(pkgDir, 'probe'))).toBe(false);
  });

  it('weir --version', async () => {
    const r = await weir(['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(VERSION);
    expect(r.code).toBe(0);
  });

  it('weir validate on the shipped examples', async () => {
    const r = await weir(['validate', join(pkgDir, 'examples')]);
    expect(r.stderr, r.stdout).toMatch(/\d+ resources: 0 errors, 2 warnings/);
    expect(r.stdout).toContain('warning IST0130');
    expect(r.code).toBe(0);
  });

  it('weir explain and weir rollout simulate', async () => {
    const e = await weir([
      'explain',
      'http://checkout-service.composite.svc.cluster.local/cart',
      '-f',
      join(pkgDir, 'examples'),
      '-H',
      'x-canary-user: true',
      '-o',
      'json',
    ]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(e.stdout))).toContain('"subset":"v2"');
    const s = await weir([
      'rollout',
      'simulate',
      '-f',
      join(pkgDir, 'examples', 'canary', 'canary.yaml'),
      '--rps',
      '20',
      '--errors',
      '0.01,0.02',
      '--runs',
      '3',
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('Flagger');
  });

  it('weir demo: --help, and a pattern on a rewritten copy of the read-only examples', async () => {
    const h = await weir(['demo', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: weir demo');
    // With v1's port 18081 taken the demo runs its backends on other ports and the proxy on a copy of the examples
    // with those ports written in: the copy of a read-only folder must be writable. (Already taken is as good.)
    const blocker = createServer();
    await new Promise<void>((resolve) => {
      blocker.once('error', () => resolve());
      blocker.listen({ host: '127.0.0.1', port: 18081, exclusive: true }, () => resolve());
    });
    try {
      const r = await weir(['demo', '--pattern', 'composite', '--duration', '1'], 60_000);
      expect(r.stdout, r.stdout + r.stderr).toMatch(/port 18081( and 18082)? taken: the proxy reads a copy/);
      expect(r.stdout, r.stdout + r.stderr).toContain('✓ 1/1 patterns passed');
      expect(r.code).toBe(0);
    } finally {
      if (blocker.listening) await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('weir serve answers /ready and drains on SIGTERM; weir backend answers', async () => {
    const serve = start(['serve', '-f', join(pkgDir, 'examples'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    const admin = await serve.line(/admin on (http:\/\/\S+)/);
    const ready = await fetch(`${admin}/ready`);
    expect(ready.status).toBe(200);
    await ready.arrayBuffer();
    const backend = start(['backend', '--listen', '127.0.0.1:0', '--version', 'v2']);
    const url = await backend.line(/listening on (http:\/\/\S+)/);
    const res = await fetch(url);
    expect(res.headers.get('x-backend-version')).toBe('v2');
    await res.arrayBuffer();
    expect(await serve.stop()).toBe(0);
    expect(await backend.stop()).toBe(0);
  });

  it('wrote nothing into the installation', () => {
    expect(listing(prefix)).toEqual(before);
  });
});

/** Starts the installed `weir` with `args`; `line(re)` awaits the first output line matching `re` (capture 1). */
function start(args: string[]) {
  const [cmd, argv] = weirCommand(args);
  const child: ChildProcess = spawn(cmd, argv, { cwd: tmp, env: weirEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return {
    line(re: RegExp): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(output);
          if (m) resolve(m[1]!);
        };
        for (const s of [child.stdout, child.stderr])
          s?.setEncoding('utf8').on('data', (c: string) => {
            output += c;
            check();
          });
        exited.then((code) => reject(new Error(`weir ${args[0]} exited ${code} before ${re}:\n${output}`)));
      });
    },
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

describe('bin/weir.js in a git checkout', () => {
  it('rebuilds dist/weir.mjs when a source is newer than it', async () => {
    const dist = join(ROOT, 'dist', 'weir.mjs');
    // Make sure a bundle exists, then age it below every source: the next run must rebuild it.
    await run(process.execPath, [join(ROOT, 'bin', 'weir.js'), '--version'], {
      cwd: ROOT,
      env: cleanEnv(),
      timeoutMs: 60_000,
    });
    utimesSync(dist, new Date(1_000_000), new Date(1_000_000));
    const r = await run(process.execPath, [join(ROOT, 'bin', 'weir.js'), '--version'], {
      cwd: ROOT,
      env: cleanEnv(),
      timeoutMs: 60_000,
    });
    expect(r.stdout.trim()).toBe(VERSION);
    expect(statSync(dist).mtimeMs).toBeGreaterThan(1_000_000);
  });
});
