import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  parseFraction,
  parseHttpStatus,
  parseListen,
  parseNonNegativeInt,
  runBackend,
} from '../../../src/cli/commands/backend.ts';
import { CliError } from '../../../src/cli/exit-codes.ts';
import { freePort } from '../../helpers/backends.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer | string): void => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) {
        stream.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`stream ended before a line: ${JSON.stringify(buf)}`)));
  });
}

describe('weir backend: argument parsers', () => {
  it.each([
    ['127.0.0.1:18081', { host: '127.0.0.1', port: 18081 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    [':9000', { host: '127.0.0.1', port: 9000 }],
    ['9000', { host: '127.0.0.1', port: 9000 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('parseListen(%j)', (value, expected) => {
    expect(parseListen(value)).toEqual(expected);
  });

  it.each(['', 'host', 'host:', 'host:99999', '::1:80', 'a:b'])('parseListen rejects %j', (value) => {
    expect(() => parseListen(value)).toThrow(InvalidArgumentError);
  });

  it('number parsers accept valid values and reject the rest', () => {
    expect(parseNonNegativeInt('250')).toBe(250);
    expect(() => parseNonNegativeInt('-1')).toThrow(InvalidArgumentError);
    expect(() => parseNonNegativeInt('1.5')).toThrow(InvalidArgumentError);
    expect(parseFraction('0.05')).toBe(0.05);
    expect(parseFraction('1')).toBe(1);
    expect(() => parseFraction('1.1')).toThrow(InvalidArgumentError);
    expect(() => parseFraction('')).toThrow(InvalidArgumentError);
    expect(parseHttpStatus('503')).toBe(503);
    expect(() => parseHttpStatus('99')).toThrow(InvalidArgumentError);
    expect(() => parseHttpStatus('600')).toThrow(InvalidArgumentError);
  });
});

describe('weir backend: runBackend', () => {
  it('prints its URL, serves until aborted, then closes and returns 0', async () => {
    const out = new PassThrough();
    const ac = new AbortController();
    const line = firstLine(out);
    const done = runBackend({
      listen: '127.0.0.1:0',
      name: 'checkout-service',
      version: 'v2',
      errorRate: 0,
      seed: 11,
      signal: ac.signal,
      out,
    });
    const text = await line;
    expect(text).toMatch(/^checkout-service v2 listening on http:\/\/127\.0\.0\.1:\d+ \(seed 11\)$/);
    const url = /http:\/\/\S+/.exec(text)?.[0] ?? '';
    const res = await request(url, { reset: true });
    expect(await res.body.json()).toMatchObject({ service: 'checkout-service', version: 'v2' });
    ac.abort();
    await expect(done).resolves.toBe(0);
    await expect(request(url)).rejects.toThrow();
  });

  it('maps bad options and a taken port to CliError exit 64', async () => {
    const base = { name: 'x', version: 'v1', out: new PassThrough(), signal: AbortSignal.abort() };
    await expect(runBackend({ ...base, listen: 'nope' })).rejects.toMatchObject({ exitCode: 64 });
    await expect(runBackend({ ...base, listen: '127.0.0.1:0', errorRate: 3 })).rejects.toBeInstanceOf(CliError);
    const ac = new AbortController();
    const out = new PassThrough();
    const line = firstLine(out);
    const first = runBackend({ name: 'x', version: 'v1', listen: '127.0.0.1:0', out, signal: ac.signal });
    const port = Number(/:(\d+) /.exec(await line)?.[1]);
    await expect(runBackend({ ...base, listen: `127.0.0.1:${port}` })).rejects.toThrow(/EADDRINUSE/);
    ac.abort();
    await expect(first).resolves.toBe(0);
  });

  it('exits 0 on SIGTERM in a real process', async () => {
    const port = await freePort();
    const script = [
      "import { runBackend } from './src/cli/commands/backend.ts';",
      `process.exitCode = await runBackend({ listen: '127.0.0.1:${port}', name: 'checkout-service', version: 'v1' });`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await firstLine(child.stdout);
      expect(line).toContain(`http://127.0.0.1:${port}`);
      const res = await request(`http://127.0.0.1:${port}/`, { reset: true });
      expect(res.headers['x-backend-version']).toBe('v1');
      await res.body.dump();
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
