import type { LoggedEvent } from '../history/history.ts';
import { encodeChunk } from '../sse/encode.ts';

/**
 * Events of one channel (or one event) encoded once for every subscriber: the SSE bytes, and
 * the same bytes framed as one HTTP/1.1 chunk. Subscribers write `chunk` (or `frames`) as is.
 */
export interface Delivery {
  readonly events: readonly LoggedEvent[];
  readonly last: LoggedEvent;
  readonly frames: Buffer;
  readonly chunk: Buffer;
}

export function deliveryOf(events: readonly LoggedEvent[]): Delivery {
  const last = events.at(-1);
  if (last === undefined) throw new RangeError('a delivery needs at least one event');
  const { chunk, frames } = encodeChunk(events.map((event) => event.frame));
  return { events, last, frames, chunk };
}

/** Anything that takes events for its channels: one client's stream. */
export interface Subscriber {
  deliver(delivery: Delivery): void;
  /**
   * Several deliveries for this subscriber follow within one flush: hold its writes until
   * release() so they leave together. True if it started holding (and so must be released).
   */
  gather?(): boolean;
  release?(): void;
}

/** Told after each flush, once per delivery: what was sent and to how many. For metrics; never per client. */
export type FlushListener = (delivery: Delivery, subscribers: number) => void;

/**
 * channel → its subscribers. No I/O and no policy of its own.
 *
 * Events are flushed in batches: each channel's events of one flush become one Delivery, one
 * Buffer, and each single-channel subscriber gets ONE write for all of them. A flush runs on the
 * next turn of the event loop (setImmediate), but never sooner than `coalesceMs` after the
 * previous one. Why: fan-out costs one write(2) per subscriber per flush, whatever the flush
 * carries, so at a sustained rate the writes per second are flushes × subscribers. Spacing the
 * flushes caps that product (1,000 subscribers at most 100,000 writes/s with a 10 ms window)
 * and lets more events share each write as the rate grows, for at most `coalesceMs` of added
 * latency; an event on a quiet hub still leaves on the next turn. The loops are plain and
 * synchronous: no closure, promise or try per client.
 *
 * Streams of several channels are delivered event by event in global seq order instead: a
 * per-channel batch could put b:2 after a:3, and the client's Last-Event-ID would then point
 * before an event it already has.
 */
export class Hub {
  private readonly single = new Map<string, Set<Subscriber>>();
  private readonly multi = new Map<string, Set<Subscriber>>();
  /** Multi-channel subscribers holding their writes during the current flush; kept to be reused. */
  private readonly gathered: Subscriber[] = [];
  private pending: LoggedEvent[] = [];
  private scheduled = false;
  private readonly coalesceMs: number;
  /** performance.now() when the last flush that delivered anything began. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private readonly onFlush: FlushListener;
  private readonly flushBound = (): void => this.flush();

  /** `coalesceMs`: the least time between two flushes (0: every turn that has events). */
  constructor(onFlush: FlushListener = () => undefined, coalesceMs = 0) {
    this.onFlush = onFlush;
    this.coalesceMs = coalesceMs;
  }

  subscribe(channel: string, subscriber: Subscriber, channelsOfSubscriber = 1): void {
    const index = channelsOfSubscriber > 1 ? this.multi : this.single;
    let subscribers = index.get(channel);
    if (subscribers === undefined) {
      subscribers = new Set();
      index.set(channel, subscribers);
    }
    subscribers.add(subscriber);
  }

  unsubscribe(channel: string, subscriber: Subscriber): void {
    for (const index of [this.single, this.multi]) {
      const subscribers = index.get(channel);
      if (subscribers === undefined || !subscribers.delete(subscriber)) continue;
      if (subscribers.size === 0) index.delete(channel);
    }
  }

  /** Every channel with at least one subscriber: what a shared log catches up on after it lost its live feed. */
  channels(): Set<string> {
    return new Set([...this.single.keys(), ...this.multi.keys()]);
  }

  /** Queues an event for the next flush; events must arrive in seq order. */
  publish(event: LoggedEvent): void {
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastFlushAt + this.coalesceMs - performance.now();
    if (wait > 0) setTimeout(this.flushBound, wait);
    else setImmediate(this.flushBound);
  }

  /** Delivers everything queued now. Called by the scheduled turn; tests and shutdown may call it too. */
  flush(): void {
    this.scheduled = false;
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];
    this.lastFlushAt = performance.now();

    if (this.single.size > 0) {
      const byChannel = new Map<string, LoggedEvent[]>();
      for (const event of events) {
        if (!this.single.has(event.channel)) continue;
        const list = byChannel.get(event.channel);
        if (list === undefined) byChannel.set(event.channel, [event]);
        else list.push(event);
      }
      for (const [channel, list] of byChannel) {
        const subscribers = this.single.get(channel);
        if (subscribers === undefined) continue;
        const delivery = deliveryOf(list);
        for (const subscriber of subscribers) subscriber.deliver(delivery);
        this.onFlush(delivery, subscribers.size);
      }
    }

    if (this.multi.size > 0) {
      // Event by event keeps the global order, but would cost a multi-channel stream one write
      // per event: when the flush carries several, each such stream holds its writes until the
      // flush is over, and they leave as one (the socket's cork/uncork, one writev).
      const gathering = events.length > 1;
      for (const event of events) {
        const subscribers = this.multi.get(event.channel);
        if (subscribers === undefined) continue;
        const delivery = deliveryOf([event]);
        for (const subscriber of subscribers) {
          if (gathering && subscriber.gather?.() === true) this.gathered.push(subscriber);
          subscriber.deliver(delivery);
        }
        this.onFlush(delivery, subscribers.size);
      }
      for (const subscriber of this.gathered) subscriber.release?.();
      this.gathered.length = 0;
    }
  }

  get channelCount(): number {
    return new Set([...this.single.keys(), ...this.multi.keys()]).size;
  }
}
