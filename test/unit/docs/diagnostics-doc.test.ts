/**
 * Keeps docs/diagnostics.md true to the code: every example under docs/examples/diagnostics/ is validated as
 * `weir validate -v` would (same snapshot API), must report the code its file name starts with, and every line
 * weir prints for it must appear verbatim in the doc. Every catalog code must have a section in the doc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnosticLine } from '../../../src/cli/output.ts';
import { CODES } from '../../../src/config/diagnostics.ts';
import { loadSnapshot } from '../../../src/config/snapshot.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = join(root, 'docs', 'examples', 'diagnostics');
const doc = readFileSync(join(root, 'docs', 'diagnostics.md'), 'utf8');
const files = readdirSync(dir)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

/** Catalog codes that no code path emits today (documented as reserved, without an example). */
const NOT_EMITTED = new Set<string>();

describe('docs/examples/diagnostics', () => {
  it('has an example for every code weir emits', () => {
    const covered = new Set(files.map((f) => f.split('-')[0]));
    for (const code of Object.keys(CODES)) {
      if (NOT_EMITTED.has(code)) continue;
      expect(covered.has(code), `no example for ${code}`).toBe(true);
    }
  });

  it.each(files)('%s reports its code, and docs/diagnostics.md shows the exact lines', async (file) => {
    const code = file.split('-')[0]!;
    const path = join(dir, file);
    const snap = await loadSnapshot([path], { verbose: true });
    const codes = snap.diagnostics.map((d) => d.code);
    expect(codes, `${file} should report ${code}`).toContain(code);
    // The doc shows the lines as `node bin/weir.js validate -v docs/examples/...` prints them from the repository
    // root, whatever directory the tests run from.
    const shown = relative(root, path);
    expect(snap.diagnostics.length).toBeGreaterThan(0);
    for (const d of snap.diagnostics)
      expect(doc, `doc lacks the line for ${file}`).toContain(formatDiagnosticLine(d).replaceAll(path, shown));
  });
});

describe('docs/diagnostics.md', () => {
  it.each(Object.keys(CODES))('has a section for %s', (code) => {
    expect(doc).toMatch(new RegExp(`^### ${code}\\b`, 'm'));
  });
});
