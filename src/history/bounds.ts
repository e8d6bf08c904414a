/** What every log keeps, from config `history.*`: the window of each channel and how many channels. */
export interface HistoryBounds {
  /** Events kept per channel. */
  readonly maxEvents: number;
  /** Events older than this count as gone, whether or not they were trimmed yet. */
  readonly maxAgeMs: number;
  /**
   * Channels whose events are kept (memory windows, Redis streams); beyond it the least recently
   * appended is dropped, events and all, and resuming on it gives a `trimmed` gap. The Redis log
   * also keeps at most this many trimmed-through marks of channels with no stream left, folding the
   * lowest into one (forget.lua).
   */
  readonly maxChannels: number;
  /**
   * The log's clock in ms since 1970, for maxAge. Absent: the process clock (memory) or Redis's
   * own TIME (redis, one clock for every instance whatever their hosts' skew). Tests inject one
   * so that time is theirs to move, with no sleeping.
   */
  readonly now?: (() => number) | undefined;
}

/**
 * How often a log trims idle channels by age (appends trim the channel they write): at least once
 * per maxAge, so an aged event is not kept much longer than its age, and at most once a minute, so
 * a long maxAge does not leave idle windows full for hours.
 */
export function sweepPeriod(maxAgeMs: number): number {
  return Math.min(maxAgeMs, 60_000);
}
