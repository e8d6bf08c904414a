import { formatCursor, parseCursor } from '../sse/cursor.ts';
import { encodeEvent } from '../sse/encode.ts';
import { sweepPeriod, type HistoryBounds } from './bounds.ts';
import { newEpoch } from './epoch.ts';
import type { EventInput, History, LoggedEvent, ReplayItem } from './history.ts';
import { inSeqOrder, resumePoint, trimmedGap } from './resume.ts';

export type MemoryHistoryOptions = HistoryBounds;

/** One channel's window: events in seq order, and the newest seq that fell out of it. */
class ChannelWindow {
  events: LoggedEvent[] = [];
  /** Index of the oldest retained event; the array is compacted in bulk, not shifted per event. */
  start = 0;
  /** Highest seq that was evicted: a client behind it has missed something. */
  evictedThrough = 0;
  /** Milliseconds since epoch, parallel to `events`, for maxAge. */
  times: number[] = [];

  get size(): number {
    return this.events.length - this.start;
  }

  get newestSeq(): number {
    return this.events.at(-1)?.seq ?? this.evictedThrough;
  }

  push(event: LoggedEvent, now: number, maxEvents: number): void {
    this.events.push(event);
    this.times.push(now);
    while (this.size > maxEvents) this.evictOldest();
  }

  expire(olderThan: number): void {
    while (this.size > 0 && (this.times[this.start] ?? Infinity) < olderThan) this.evictOldest();
  }

  /** Retained events with seq > after, oldest first. */
  after(after: number): LoggedEvent[] {
    let low = this.start;
    let high = this.events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.events[mid]?.seq ?? 0) <= after) low = mid + 1;
      else high = mid;
    }
    return this.events.slice(low);
  }

  private evictOldest(): void {
    const evicted = this.events[this.start];
    if (evicted === undefined) return;
    this.evictedThrough = evicted.seq;
    this.start += 1;
    if (this.start >= 1024 && this.start * 2 >= this.events.length) {
      this.events = this.events.slice(this.start);
      this.times = this.times.slice(this.start);
      this.start = 0;
    }
  }
}

/**
 * The embedded log: one process, nothing to set up. One sequence numbers every channel (see
 * sse/cursor.ts); each channel keeps a window of maxEvents/maxAge; at most maxChannels
 * channels are tracked, least recently published forgotten first.
 */
export class MemoryHistory implements History {
  readonly epoch: string;
  private seq = 0;
  private readonly windows = new Map<string, ChannelWindow>();
  /** Highest seq of any forgotten channel: resuming a channel we no longer track is exact only from here on. */
  private forgottenThrough = 0;
  private readonly listeners: Array<(event: LoggedEvent) => void> = [];
  private readonly sweeper: NodeJS.Timeout;
  private readonly options: MemoryHistoryOptions;
  private readonly now: () => number;

  constructor(options: MemoryHistoryOptions) {
    this.options = options;
    this.now = options.now ?? (() => Date.now());
    // A fresh epoch per process: ids from a previous run are recognised rather than misread.
    this.epoch = newEpoch();
    // Expiry of idle channels; active ones are trimmed as they are written and read.
    this.sweeper = setInterval(() => this.sweep(this.now()), sweepPeriod(options.maxAgeMs)).unref();
  }

  append(inputs: readonly EventInput[]): Promise<LoggedEvent[]> {
    const now = this.now();
    const acceptedAt = process.hrtime.bigint();
    const appended: LoggedEvent[] = [];
    for (const input of inputs) {
      const seq = ++this.seq;
      const id = formatCursor(this.epoch, seq);
      const event: LoggedEvent = { seq, id, channel: input.channel, frame: encodeEvent(id, input.event, input.data), acceptedAt };
      this.windowFor(input.channel).push(event, now, this.options.maxEvents);
      appended.push(event);
    }
    this.forgetOverflow();
    // Listeners run after the whole batch is in the log: a subscriber that replays in between sees all of it or none.
    for (const event of appended) for (const listener of this.listeners) listener(event);
    return Promise.resolve(appended);
  }

  replay(channels: readonly string[], lastEventId: string): Promise<ReplayItem[]> {
    // An id from an earlier log (this process restarted): what it missed of that log is gone, but
    // everything this log still holds is news to it. This log began empty, so its epoch began
    // after seq 0: the gap sits there and all of it follows, as the Redis log does at a new epoch.
    const start = resumePoint(parseCursor(lastEventId), { epoch: this.epoch, head: this.seq, since: 0 }, channels);
    if (start.answer) return Promise.resolve([start.answer]);
    const { after } = start;

    const olderThan = this.now() - this.options.maxAgeMs;
    const items: ReplayItem[] = start.epochGap ? [start.epochGap] : [];
    for (const channel of channels) {
      const window = this.windows.get(channel);
      window?.expire(olderThan);
      // A channel no longer tracked may have had anything up to the newest seq of any channel forgotten.
      const gap = trimmedGap(this.epoch, window === undefined ? this.forgottenThrough : window.evictedThrough, after, channel);
      if (gap) items.push(gap);
      if (window) for (const event of window.after(after)) items.push({ event });
    }
    return Promise.resolve(inSeqOrder(items));
  }

  onEvent(listener: (event: LoggedEvent) => void): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }

  private windowFor(channel: string): ChannelWindow {
    let window = this.windows.get(channel);
    if (window) {
      // Re-insert so Map order is least-recently-published first, which is what forgetOverflow evicts.
      this.windows.delete(channel);
    } else {
      window = new ChannelWindow();
      // A channel forgotten earlier may come back: without this its old events would be lost with no gap.
      window.evictedThrough = this.forgottenThrough;
    }
    this.windows.set(channel, window);
    return window;
  }

  private forgetOverflow(): void {
    for (const [channel, window] of this.windows) {
      if (this.windows.size <= this.options.maxChannels) return;
      this.forgottenThrough = Math.max(this.forgottenThrough, window.newestSeq);
      this.windows.delete(channel);
    }
  }

  private sweep(now: number): void {
    const olderThan = now - this.options.maxAgeMs;
    for (const window of this.windows.values()) window.expire(olderThan);
  }
}
