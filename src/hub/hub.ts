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
}

/** Told after each flush, once per delivery: what was sent and to how many. For metrics; never per client. */
export type FlushListener = (delivery: Delivery, subscribers: number) => void;

/**
 * channel → its subscribers. No I/O and no policy of its own.
 *
 * Events published within one turn of the event loop are flushed together on the next turn
 * (setImmediate: a bounded delay, and none at all for work already queued): each channel's
 * events become one Delivery, one Buffer, and each single-channel subscriber gets ONE write
 * for all of them. Under load more events share a turn, so the gateway does fewer, larger
 * writes exactly when it needs to. The loops are plain and synchronous: no closure, promise or
 * try per client.
 *
 * Streams of several channels are delivered event by event in global seq order instead: a
 * per-channel batch could put b:2 after a:3, and the client's Last-Event-ID would then point
 * before an event it already has.
 */
export class Hub {
  private readonly single = new Map<string, Set<Subscriber>>();
  private readonly multi = new Map<string, Set<Subscriber>>();
  private pending: LoggedEvent[] = [];
  private scheduled = false;
  private readonly onFlush: FlushListener;
  private readonly flushBound = (): void => this.flush();

  constructor(onFlush: FlushListener = () => undefined) {
    this.onFlush = onFlush;
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

  /** Queues an event for the next flush; events must arrive in seq order. */
  publish(event: LoggedEvent): void {
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Delivers everything queued now. Called by the scheduled turn; tests and shutdown may call it too. */
  flush(): void {
    this.scheduled = false;
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];

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
      for (const event of events) {
        const subscribers = this.multi.get(event.channel);
        if (subscribers === undefined) continue;
        const delivery = deliveryOf([event]);
        for (const subscriber of subscribers) subscriber.deliver(delivery);
        this.onFlush(delivery, subscribers.size);
      }
    }
  }

  get channelCount(): number {
    return new Set([...this.single.keys(), ...this.multi.keys()]).size;
  }
}
