import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseSize, type Reading } from '../../../src/config/units.ts';

const value = (reading: Reading): number | undefined => (reading.ok ? reading.value : undefined);
const problem = (reading: Reading): string | undefined => (reading.ok ? undefined : reading.problem);

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['15s', 15_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 3s ', 3_000],
    ['15S', 15_000],
    ['2h30m', 9_000_000],
    ['1m30s', 90_000],
    ['1s500ms', 1_500],
    ['1d2h3m4s5ms', 93_784_005],
    ['1h 30m', 5_400_000],
    ['0.5h', 1_800_000],
    ['1.1s', 1_100],
    ['0', 0],
    ['0s', 0],
    [0, 0],
  ])('reads %j as %i ms', (input, ms) => {
    expect(value(parseDuration(input))).toBe(ms);
  });

  it.each([15, 250, '15', '1.5'])('refuses %j for want of a unit, naming the units there are', (input) => {
    expect(problem(parseDuration(input))).toMatch(/needs a unit \(ms, s, m, h, d\)/);
  });

  it.each(['1w', '5sec', '3 hours', '2y'])('refuses the unknown unit of %j, naming the units there are', (input) => {
    expect(problem(parseDuration(input))).toBe('unknown duration unit: units are ms, s, m, h, d');
  });

  it.each(['30m2h', '1m1m', '500ms1s'])('refuses %j: a compound lists each unit once, largest first', (input) => {
    expect(problem(parseDuration(input))).toMatch(/each unit once, largest first/);
  });

  it.each(['0.5ms', '1.0001s'])('refuses %j, which is no whole number of milliseconds (0.5ms must not become 0)', (input) => {
    expect(problem(parseDuration(input))).toMatch(/whole milliseconds/);
  });

  it.each(['abc', '-1s', '', 's', '1h junk', '1 5s', '1,5s'])('refuses %j', (input) => {
    expect(parseDuration(input).ok).toBe(false);
  });

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-1).ok).toBe(false);
    expect(parseDuration(Number.POSITIVE_INFINITY).ok).toBe(false);
  });

  it.each([
    [0, '0s'],
    [1, '1ms'],
    [1_500, '1s500ms'],
    [15_000, '15s'],
    [90_000, '1m30s'],
    [9_000_000, '2h30m'],
    [86_400_000, '1d'],
    [93_784_005, '1d2h3m4s5ms'],
  ])('prints %i ms as %j, which reads back as the same', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(value(parseDuration(text))).toBe(ms);
  });
});

describe('sizes', () => {
  it.each([
    ['4096', 4096],
    ['64kb', 65_536],
    ['64KiB', 65_536],
    ['1mb', 1_048_576],
    ['1.5mb', 1_572_864],
    ['2 MB', 2_097_152],
    ['1g', 1_073_741_824],
    [100, 100],
    [0, 0],
  ])('reads %j as %i bytes', (input, bytes) => {
    expect(value(parseSize(input))).toBe(bytes);
  });

  it.each(['1tb', '5 bytes'])('refuses the unknown unit of %j, naming the units there are', (input) => {
    expect(problem(parseSize(input))).toMatch(/unknown size unit: units are b, kb, mb, gb/);
  });

  it.each(['lots', '-5', 'kb', '0.5b', '1.3kb'])('refuses %j', (input) => {
    expect(parseSize(input).ok).toBe(false);
  });

  it.each([
    [1000, '1000b'],
    [1024, '1kb'],
    [262_144, '256kb'],
    [1_572_864, '1536kb'],
    [1_048_576, '1mb'],
    [3 * 1024 ** 3, '3gb'],
  ])('prints %i bytes as %j, which reads back as the same', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(value(parseSize(text))).toBe(bytes);
  });
});
