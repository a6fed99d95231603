/** RE2 full-match regexes and the literal-prefix pre-check used before RE2 (istio-semantics §1.5). */
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { compileRegex, literalPrefix } from '../../../src/routing/string-match.ts';

describe('literalPrefix', () => {
  it.each([
    ['/r2/[0-9]+', '/r2/'],
    ['ab*', 'a'],
    ['abc?', 'ab'],
    ['a{2}', ''],
    ['a|b', ''],
    ['(?i)abc', ''],
    ['\\d+', ''],
    ['/v1', '/v1'],
    ['/v1.*', '/v1'],
  ])('%s → %j', (p, want) => expect(literalPrefix(p)).toBe(want));

  it('the pre-check never changes the answer of RE2 full match', () => {
    const patterns = ['/r2/[0-9]+', 'ab*c', '/v1', '/v1.*', 'a|ab', '(?i)/abc', 'x?y', '/a/b+'];
    fc.assert(
      fc.property(
        fc.constantFrom(...patterns),
        fc.string({ unit: fc.constantFrom('/', 'a', 'b', 'c', 'r', '2', 'v', '1', 'x', 'y', '.', 'A', '9') }),
        (p, v) => {
          expect(compileRegex(p)(v)).toBe(RE2JS.compile(p).matches(v));
        },
      ),
      { seed: 11, numRuns: 5000 },
    );
  });
});
