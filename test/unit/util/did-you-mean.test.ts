import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '../../../src/util/did-you-mean.ts';

describe('editDistance (optimal string alignment)', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['timeuot', 'timeout', 1], // one transposition
    ['matches', 'match', 2],
    ['kitten', 'sitting', 3],
    ['retries', 'retires', 1],
  ])('%s → %s is %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('didYouMean', () => {
  const HTTP_ROUTE = ['name', 'match', 'route', 'redirect', 'rewrite', 'timeout', 'retries', 'mirror', 'mirrors'];
  it.each([
    ['matches', 'match'],
    ['timeuot', 'timeout'],
    ['retrys', 'retries'],
    ['Route', 'route'],
    ['mirorr', 'mirror'],
  ])('%s suggests %s', (typo, meant) => {
    expect(didYouMean(typo, HTTP_ROUTE)).toBe(meant);
  });
  it('prefers a name equal up to case, _ and - (retry_on → retryOn)', () => {
    expect(didYouMean('retry_on', ['retryOn', 'retryOx'])).toBe('retryOn');
    expect(didYouMean('per-try-timeout', ['perTryTimeout'])).toBe('perTryTimeout');
  });
  it('suggests nothing for a name far from every candidate, or for the name itself', () => {
    expect(didYouMean('colour', HTTP_ROUTE)).toBeNull();
    expect(didYouMean('x', ['y'])).toBeNull();
    expect(didYouMean('hots', ['host', 'hosts'])).toBe('host');
    expect(didYouMean('ab', ['xy'])).toBeNull();
    expect(didYouMean('match', ['match'])).toBeNull();
    expect(didYouMean('anything', [])).toBeNull();
  });
});
