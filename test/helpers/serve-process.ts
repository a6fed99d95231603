/**
 * `weir serve` as a child process through `bin/weir.js` (the CLI a user runs): free loopback ports, stderr and
 * stdout (the access log) captured, the exit awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './backends.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A spawned `weir serve`. */
export interface ServeProcess {
  child: ChildProcess;
  port: number;
  /** `http://127.0.0.1:<port>` of the proxy listener. */
  url: string;
  /** `http://127.0.0.1:<port>` of the admin listener. */
  adminUrl: string;
  /** Everything written on stderr so far. */
  stderr(): string;
  /** Everything written on stdout (the access log) so far. */
  stdout(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process ended and its output is read. */
  exited: Promise<number | null>;
  /** Whether {@link exited} has resolved. */
  hasExited(): boolean;
}

/**
 * Spawns `weir serve -f <path>…` on free loopback ports with `extraArgs` (default `--log-format off`). Does not wait
 * for it to listen (see {@link listening}).
 */
export async function serveProcess(
  paths: string | readonly string[],
  extraArgs: readonly string[] = [],
): Promise<ServeProcess> {
  const port = await freePort();
  const admin = await freePort();
  const files = (typeof paths === 'string' ? [paths] : paths).flatMap((p) => ['-f', p]);
  const args = ['serve', ...files, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`];
  if (!extraArgs.includes('--log-format')) args.push('--log-format', 'off');
  const child = spawn(process.execPath, ['bin/weir.js', ...args, ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  let ended = false;
  // 'close' (not 'exit'): the process has ended and stdout/stderr have been read to the end.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      ended = true;
      resolve(code);
    }),
  );
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${admin}`,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    hasExited: () => ended,
  };
}

/**
 * Resolves once the process says it listens; rejects when it exits first or after 20 s (a loaded machine may
 * rebuild the bundle first).
 */
export function listening(p: ServeProcess): Promise<void> {
  return waitForOutput(p, (s) => s.includes('proxy listening'), 20_000, 'weir serve did not start');
}

/**
 * Resolves once `check(stderr)` holds; rejects when the process exits first or after `timeoutMs` (default 20 s).
 */
export function waitForOutput(
  p: ServeProcess,
  check: (stderr: string) => boolean,
  timeoutMs = 20_000,
  what = 'the expected output',
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      p.child.stderr!.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    const onData = (): void => {
      if (check(p.stderr())) done();
    };
    const t = setTimeout(() => done(new Error(`timed out waiting for ${what}: ${p.stderr()}`)), timeoutMs);
    p.child.stderr!.on('data', onData);
    void p.exited.then((code) => {
      if (check(p.stderr())) done();
      else done(new Error(`exited (${code}) before ${what}: ${p.stderr()}`));
    });
    onData();
  });
}

/** Kills the process if it is still running and waits for its exit. */
export async function stopProcess(p: ServeProcess): Promise<void> {
  if (!p.hasExited()) p.child.kill('SIGKILL');
  await p.exited;
}
