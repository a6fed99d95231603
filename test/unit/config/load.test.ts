import { describe, expect, it } from 'vitest';
import { parseText } from '../../../src/config/load.ts';

describe('parseText', () => {
  it('reads a lone "." as the string "." (kubectl/go-yaml), not NaN', () => {
    const r = parseText({ file: 'x.yaml', text: 'exportTo: [., .5, 1.5]\n' });
    expect(r.documents[0]?.value).toEqual({ exportTo: ['.', 0.5, 1.5] });
  });
  it('reads YAML 1.1 booleans as kubectl does', () => {
    const r = parseText({ file: 'x.yaml', text: 'a: yes\nb: off\n' });
    expect(r.documents[0]?.value).toEqual({ a: true, b: false });
  });
  it('reports a syntax error with its position and keeps the other documents', () => {
    const r = parseText({ file: 'x.yaml', text: 'a: 1\n---\nb: [1, 2\n---\nc: 3\n' });
    expect(r.documents.map((d) => d.value)).toEqual([{ a: 1 }, { c: 3 }]);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: 'WEIR0001', level: 'error', position: { file: 'x.yaml' } });
    // The unterminated flow sequence starts on line 3; the parser notices it where the document ends (line 4).
    expect(r.diagnostics[0]?.position?.line).toBeGreaterThanOrEqual(3);
    expect(r.diagnostics[0]?.position?.line).toBeLessThanOrEqual(4);
  });
  it('reports duplicate keys', () => {
    const r = parseText({ file: 'x.yaml', text: 'a: 1\na: 2\n' });
    expect(r.diagnostics[0]).toMatchObject({ code: 'WEIR0001', position: { line: 2 } });
  });
  it('rejects hostile nesting without overflowing the stack', () => {
    const text = `${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    const r = parseText({ file: 'deep.yaml', text });
    expect(r.documents).toHaveLength(0);
    expect(r.diagnostics[0]?.code).toBe('WEIR0001');
  });
  it('locates fields and keys', () => {
    const r = parseText({ file: 'x.yaml', text: 'spec:\n  http:\n  - route:\n    - weight: five\n' });
    const doc = r.documents[0]!;
    expect(doc.locate(['spec', 'http', 0, 'route', 0, 'weight'])).toEqual({ file: 'x.yaml', line: 4, column: 15 });
    expect(doc.locate(['spec', 'http', 0, 'route', 0, 'weight'], { key: true })).toEqual({
      file: 'x.yaml',
      line: 4,
      column: 7,
    });
  });
});

describe('syntax error messages', () => {
  it('names the duplicate key', () => {
    const r = parseText({ file: 'x.yaml', text: 'spec:\n  http: 1\n  http: 2\n' });
    expect(r.diagnostics.map((d) => [d.message, d.position?.line])).toEqual([
      ['duplicate key "http": keys in a map must be unique', 3],
    ]);
  });
  it('says "nests too deeply" rather than a JavaScript stack overflow', () => {
    const r = parseText({ file: 'x.yaml', text: `a: ${'['.repeat(20000)}${']'.repeat(20000)}\n` });
    expect(r.diagnostics[0]?.message).toMatch(/nests too deeply/);
  });
  it('reports one mistake once', () => {
    const r = parseText({ file: 'x.yaml', text: 'a: [1, 2\nb: 3\n' });
    expect(r.diagnostics).toHaveLength(1);
  });
});
