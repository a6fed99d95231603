import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseDurationMs } from '../../../src/util/duration.ts';

describe('parseDurationMs', () => {
  it.each([
    ['1.5s', 1500],
    ['100ms', 100],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['0.500s', 500],
    ['1500us', 1.5],
    ['250000ns', 0.25],
    ['0', 0],
    ['0s', 0],
    ['-1s', -1000],
    ['.5s', 500],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBeCloseTo(ms, 9);
  });
  it.each(['', 's', '1', '10 s', '1x', '1.s5', '--1s', 'abc'])('rejects %j', (text) => {
    expect(parseDurationMs(text)).toBeNull();
  });
});

describe('formatDurationMs', () => {
  it.each([
    [2000, '2s'],
    [1500, '1.5s'],
    [250, '250ms'],
    [0, '0s'],
    [90_000, '90s'],
  ])('%d → %s', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });
});
