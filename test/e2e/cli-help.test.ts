/**
 * Every command's `--help`, as a user runs it: the commands are found by walking the "Commands:" sections from
 * `weir --help` (so a new command is checked without being listed here). Each help exits 0, states its exit codes
 * in an "Exit codes:" section, and states each option's default at most once (commander appends "(default: …)" for
 * an option with a default value; a description that also says "default …" would repeat or contradict it).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function help(path: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'weir.js'), ...path, '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The lines of the section titled `title` ("Options:", "Commands:", "Exit codes:") up to the next blank line. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(title);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** Option entries of a help text: each entry's first line and its wrapped continuation lines, joined. */
function optionEntries(text: string): string[] {
  const entries: string[] = [];
  for (const line of section(text, 'Options:')) {
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else if (entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries;
}

type Help = ReturnType<typeof help>;

/** The help of every command reachable from `weir --help` (the root is []), skipping commander's `help` command. */
function allHelps(): { path: string[]; help: Help }[] {
  const out: { path: string[]; help: Help }[] = [];
  const queue: string[][] = [[]];
  while (queue.length > 0 && out.length < 100) {
    const path = queue.shift()!;
    const h = help(path);
    out.push({ path, help: h });
    for (const line of section(h.stdout, 'Commands:')) {
      const name = /^ {2}(\S+)/.exec(line)?.[1];
      if (name && name !== 'help') queue.push([...path, name]);
    }
  }
  return out;
}

const helps = allHelps();
const cases = helps.map(({ path, help }) => [path.join(' ') || '(weir)', help] as const);

describe('weir --help of every command', () => {
  it('finds every command', () => {
    const names = helps.map((h) => h.path.join(' '));
    for (const c of [
      '',
      'validate',
      'explain',
      'serve',
      'backend',
      'demo',
      'rollout',
      'rollout run',
      'rollout resume',
      'rollout status',
      'rollout promote',
      'rollout abort',
      'rollout simulate',
    ]) {
      expect(names).toContain(c);
    }
  });

  it.each(cases)('%s: states its exit codes', (_name, r) => {
    expect(r.code, r.stderr).toBe(0);
    const codes = section(r.stdout, 'Exit codes:')
      .map((l) => /^ {2}(\d+) +\S/.exec(l)?.[1])
      .filter((c) => c !== undefined);
    expect(codes.length, r.stdout).toBeGreaterThanOrEqual(2);
    expect(codes).toContain('0');
    expect(codes).toContain('64');
    expect(new Set(codes).size, 'each code once').toBe(codes.length);
  });

  it.each(cases)('%s: states each option default at most once', (_name, r) => {
    const entries = optionEntries(r.stdout);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      // A default statement: "(default: x)" from commander, or "(default x", "; default: x", ", default x" in a
      // description. `(default: "default")` is one statement.
      const statements = e.match(/[(;,]\s*default\b/gi) ?? [];
      expect(statements.length, e).toBeLessThanOrEqual(1);
    }
  });
});
