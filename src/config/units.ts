/**
 * Human units in config files: durations like `15s`, `500ms`, `1h`; sizes like `64kb`, `1mb`.
 * Sizes are binary (1kb = 1024 bytes), as in nginx, so `clientBufferBytes: 64kb` means what an
 * operator used to proxies expects. Bare numbers are milliseconds and bytes.
 */
const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
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

const durationPattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const sizePattern = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const match = durationPattern.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const unit = durationUnits[match[2] ?? ''];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}

/** Bytes, or undefined when the text is not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = sizePattern.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const unit = sizeUnits[match[2] || 'b'];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}
