/**
 * Human units in config files: durations like `15s`, `500ms`, `2h30m`; sizes like `64kb`, `1mb`.
 * Sizes are binary (1kb = 1024 bytes), as in nginx, so `clientBufferBytes: 64kb` means what an
 * operator used to proxies expects. A duration always names its unit: `maxAge: 15` once meant
 * 15 ms to the gateway and 15 minutes (or seconds) to whoever wrote it. A bare number is still a
 * size (bytes) and a bare 0 is still a duration, since neither can be misread.
 */

export type Reading = { ok: true; value: number } | { ok: false; problem: string };

/** Largest first: a compound duration lists its parts in this order, each at most once. */
const durationUnits: ReadonlyArray<readonly [unit: string, ms: number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];
const sizeUnits: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

export const DURATION_UNITS_TEXT = 'ms, s, m, h, d';
export const SIZE_UNITS_TEXT = 'b, kb, mb, gb (binary: 1kb = 1024 bytes)';
const durationExample = 'such as 500ms, 15s, 2h30m or 1.5s';

// Sticky: each part must start where the previous one ended, so `1h junk` cannot slip through.
const durationPart = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/y;
const sizePattern = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;
const number = /^\d+(?:\.\d+)?$/;

const ok = (value: number): Reading => ({ ok: true, value });
const problem = (text: string): Reading => ({ ok: false, problem: text });

/**
 * Milliseconds. `15s`, `500ms`, compounds largest unit first (`2h30m`, `1m30s`, `1s500ms`),
 * decimals (`1.5s`, `0.5h`) as long as they come to whole milliseconds. A bare 0 is 0; any other
 * bare number is refused for want of a unit. Problems never quote the input: the caller adds it.
 */
export function parseDuration(input: string | number): Reading {
  if (typeof input === 'number') return input === 0 ? ok(0) : problem(`a duration needs a unit (${DURATION_UNITS_TEXT}), ${durationExample}`);
  const text = input.trim().toLowerCase();
  if (text === '0') return ok(0);
  if (number.test(text)) return problem(`a duration needs a unit (${DURATION_UNITS_TEXT}), ${durationExample}`);
  if (text === '') return problem(`expected a duration ${durationExample}`);
  let total = 0;
  let previous = -1;
  for (let at = 0; at < text.length;) {
    durationPart.lastIndex = at;
    const match = durationPart.exec(text);
    if (match === null) return problem(`expected a duration ${durationExample}`);
    const rank = durationUnits.findIndex(([unit]) => unit === match[2]);
    const part = durationUnits[rank];
    if (part === undefined) return problem(`unknown duration unit: units are ${DURATION_UNITS_TEXT}`);
    if (rank <= previous) return problem('a compound duration lists each unit once, largest first, as in 2h30m or 1m30s');
    previous = rank;
    total += Number(match[1]) * part[1];
    at = durationPart.lastIndex;
  }
  return whole(total, 'durations are counted in whole milliseconds');
}

/** Bytes: a bare whole number, or a number and a binary unit (`64kb`, `1.5mb`). */
export function parseSize(input: string | number): Reading {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? ok(input) : problem(`expected a size in bytes, or with a unit: ${SIZE_UNITS_TEXT}`);
  }
  const match = sizePattern.exec(input.trim().toLowerCase());
  if (match === null) return problem(`expected a size such as 4096, 64kb or 1mb (units: ${SIZE_UNITS_TEXT})`);
  const unit = sizeUnits[match[2] || 'b'];
  if (unit === undefined) return problem(`unknown size unit: units are ${SIZE_UNITS_TEXT}`);
  return whole(Number(match[1]) * unit, 'sizes are counted in whole bytes');
}

/** Rounds away float noise (1.1 * 1000 is 1100.0000000000002) but refuses a real fraction: 0.4ms must not become 0. */
function whole(value: number, refusal: string): Reading {
  const rounded = Math.round(value);
  if (Math.abs(value - rounded) > 1e-6) return problem(refusal);
  if (!Number.isSafeInteger(rounded)) return problem('is too large');
  return ok(rounded);
}

/** The shortest input form that reads back as `ms`: 90000 → `1m30s`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of durationUnits) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text;
}

/** The largest binary unit that divides `bytes` exactly: 262144 → `256kb`, 1000 → `1000b`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['gb', 1024 ** 3],
    ['mb', 1024 ** 2],
    ['kb', 1024],
  ] as const) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}b`;
}
