import { describe, expect, it } from 'vitest';
import { normalizePath } from '../../../src/dataplane/server/normalize-path.ts';

describe("normalizePath (Istio's default pathNormalization: BASE = Envoy normalize_path)", () => {
  it.each([
    ['/api/v1/../../old/x', '/old/x'],
    ['/old/../api/v1/x', '/api/v1/x'],
    ['/api/v1/%2e%2e/%2E%2E/old', '/old'],
    ['/a/./b/.', '/a/b/'],
    ['/a\\b', '/a/b'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/../b?x=/../y', '/b?x=/../y'],
    ['/plain/path?q=1', '/plain/path?q=1'],
    ['/a//b', '/a//b'],
    ['/file.txt', '/file.txt'],
    ['/sp ace', '/sp%20ace'],
  ])('%s → %s', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });
  it('returns the same string when nothing changes (no allocation on the common path)', () => {
    const p = '/cart/items?id=1';
    expect(normalizePath(p)).toBe(p);
  });
});
