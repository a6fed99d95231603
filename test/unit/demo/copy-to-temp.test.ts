/**
 * The demo's temporary copies of the examples are writable whatever the source's modes: an installed weir's
 * `examples/` may be read-only (global install in a read-only prefix), and `fs.cp` keeps the modes.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyToTemp, copyWithPorts } from '../../../src/demo/environment.ts';

const src = mkdtempSync(join(tmpdir(), 'weir-copy-src-'));
const made: string[] = [];
afterAll(() => {
  chmodSync(join(src, '01-app'), 0o755);
  for (const d of [src, ...made]) rmSync(d, { recursive: true, force: true });
});

mkdirSync(join(src, '01-app'));
writeFileSync(
  join(src, '01-app', 'service.yaml'),
  'endpoints:\n- ports:\n    http: 18081\n- ports:\n    http: 18082\n',
);
chmodSync(join(src, '01-app', 'service.yaml'), 0o444);
chmodSync(join(src, '01-app'), 0o555);

describe('copyToTemp', () => {
  it('copies a read-only tree into a tree its owner can write', async () => {
    const dir = await copyToTemp(src, 'weir-copy-test-');
    made.push(dir);
    expect(statSync(join(dir, '01-app')).mode & 0o200).toBe(0o200);
    expect(statSync(join(dir, '01-app', 'service.yaml')).mode & 0o200).toBe(0o200);
    // Other bits are kept.
    expect(statSync(join(dir, '01-app', 'service.yaml')).mode & 0o7777).toBe(0o644);
    // The source is untouched.
    expect(statSync(join(src, '01-app', 'service.yaml')).mode & 0o7777).toBe(0o444);
  });

  it('lets copyWithPorts rewrite the copy of a read-only examples folder', async () => {
    const dir = await copyWithPorts(src, { v1: 28081, v2: 28082 });
    made.push(dir);
    expect(readFileSync(join(dir, '01-app', 'service.yaml'), 'utf8')).toBe(
      'endpoints:\n- ports:\n    http: 28081\n- ports:\n    http: 28082\n',
    );
    expect(statSync(join(dir, '01-app', 'service.yaml')).mode & 0o200).toBe(0o200);
  });
});
