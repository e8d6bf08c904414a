import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../../src/config/units.ts';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['15s', 15_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 3s ', 3_000],
    [250, 250],
  ])('reads %j as %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['15', 'abc', '1w', '-1s', '', 's', '1 hour'])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});

describe('sizes', () => {
  it.each([
    ['4096', 4096],
    ['64kb', 65_536],
    ['64KiB', 65_536],
    ['1mb', 1_048_576],
    ['2 MB', 2_097_152],
    ['1g', 1_073_741_824],
    [100, 100],
  ])('reads %j as %i bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['lots', '1tb', '-5', 'kb'])('refuses %j', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});
