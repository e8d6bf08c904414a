import { randomBytes } from 'node:crypto';

/**
 * A new epoch: the lifetime of one log, the first half of every id it issues (sse/cursor.ts).
 * Random rather than a counter or a clock, so a log that starts again (a restarted process, a
 * wiped Redis, a Redis that went back) never gets an epoch an earlier log had: an id from that
 * log is recognised (`epoch-changed`) instead of being misread as a position in this one.
 * 48 bits in base 36: at most ten characters on every id, and no collision in practice.
 */
export function newEpoch(): string {
  return randomBytes(6).readUIntBE(0, 6).toString(36);
}
