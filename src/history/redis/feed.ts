import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RedisClient } from '../../redis/connect.ts';
import { formatCursor } from '../../sse/cursor.ts';
import { encodeEvent } from '../../sse/encode.ts';
import type { LoggedEvent } from '../history.ts';
import type { EpochGuard, Moved } from './epoch-guard.ts';
import { errorInfo } from './failure.ts';

export interface FeedOptions {
  readonly subscriber: RedisClient;
  /** The Pub/Sub channel every append notifies (RedisKeys.notify). */
  readonly channel: string;
  /** Cluster: sharded Pub/Sub (SSUBSCRIBE), so a notification travels only within the log's shard. */
  readonly sharded: boolean;
  readonly guard: EpochGuard;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The log's clock, for the fan-out lag (notifications carry the time they were appended at). */
  readonly now: () => number;
}

/**
 * The live feed: this instance's one subscription to the log's notifications. Each carries its
 * whole event, so receiving needs no read: it is encoded once here and handed to the listeners
 * (the hub), in seq order. Redis runs scripts one at a time and delivers one connection's messages
 * in order, so every instance hears notifications in seq order.
 *
 * Because every seq is published, a lost continuity is noticed instead of guessed at: a hole (a
 * seq that is not the last + 1), a new epoch, or, when the subscription comes back after an
 * outage, a head beyond the last seq heard. Then the streams are asked to resume (onReset) from
 * the log by Last-Event-ID, through the one replay/live seam that is tested, rather than repaired
 * in place. What the epoch means is the guard's to judge (epoch-guard.ts).
 */
export class LiveFeed {
  private readonly options: FeedOptions;
  private readonly guard: EpochGuard;
  private readonly listeners: Array<(event: LoggedEvent) => void> = [];
  private readonly resetListeners: Array<() => void> = [];
  /** Newest seq delivered to listeners; undefined until the first notification sets the baseline. */
  private lastSeq: number | undefined;
  /** Set when the subscription drops: lastSeq then, and whether a reset has since covered the loss. */
  private loss: { seq: number | undefined; reset: boolean } | undefined;
  private subscribed = false;
  private closed = false;
  /** Bound once: a labelled child, so the per-event observe does no label lookup. */
  private readonly fanoutLag: { observe(value: number): void };

  constructor(options: FeedOptions) {
    this.options = options;
    this.guard = options.guard;
    this.fanoutLag = options.metrics.redisIngestLag.labels({ source: 'fanout' });
    const { subscriber } = options;
    subscriber.on(options.sharded ? 'smessage' : 'message', (_channel: string, message: string) => this.received(message));
    subscriber.on('close', () => {
      if (this.loss === undefined && this.subscribed) this.loss = { seq: this.lastSeq, reset: false };
    });
    subscriber.on('ready', () => {
      const loss = this.loss;
      if (loss === undefined) return;
      // Back after an outage: anything appended meanwhile never reached us as a notification.
      void this.checkAfterLoss(loss);
    });
  }

  async subscribe(): Promise<void> {
    const { subscriber, channel } = this.options;
    await (this.options.sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
    this.subscribed = true;
  }

  /** Subscribed, and not checking a dropped subscription's loss: a stream opened during that check could be reset by it. */
  get continuous(): boolean {
    return this.subscribed && this.loss === undefined;
  }

  onEvent(listener: (event: LoggedEvent) => void): void {
    this.listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  close(): void {
    this.closed = true;
  }

  private async checkAfterLoss(lost: { seq: number | undefined; reset: boolean }): Promise<void> {
    try {
      // A reply on the subscriber connection comes after its resubscription took effect: from here
      // every append is notified, so the head read next bounds what may have been missed.
      await this.options.subscriber.ping();
      const { head, moved } = await this.guard.afterLoss();
      if (this.loss === lost) this.loss = undefined;
      if (moved) {
        this.follow(moved);
        return;
      }
      // A notification with a hole or a new epoch arrived first and already reset the streams.
      if (lost.reset) return;
      // Notifications that arrived since the resubscription and had no hole count as delivered.
      if (head > (this.lastSeq ?? lost.seq ?? 0)) {
        this.lastSeq = head;
        this.reset('missed events while the subscription was down');
      }
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op: 'check' });
      if (this.loss === lost) this.loss = undefined;
      if (lost.reset || this.closed) return;
      this.options.logger.warn({ err: errorInfo(error) }, 'could not check for events missed during the outage; asking streams to resume');
      this.reset('could not check for missed events');
    }
  }

  /** One notification: `epoch\nseq\ntimeMs\nchannel\nevent\ndata`. Parsed with indexOf, not split, so the data is sliced once. */
  private received(message: string): void {
    const a = message.indexOf('\n');
    const b = message.indexOf('\n', a + 1);
    const c = message.indexOf('\n', b + 1);
    const d = message.indexOf('\n', c + 1);
    const e = message.indexOf('\n', d + 1);
    if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0) return;
    const epoch = message.slice(0, a);
    const seq = Number(message.slice(a + 1, b));
    const time = Number(message.slice(b + 1, c));
    const channel = message.slice(c + 1, d);
    const name = e === d + 1 ? undefined : message.slice(d + 1, e);

    switch (this.guard.notified(epoch, seq)) {
      case 'stale':
        this.rewound(epoch);
        return;
      case 'changed':
        this.lastSeq = undefined;
        this.reset('the log was reset (new epoch)');
        break;
      case 'first':
        break;
      case 'current':
        if (this.lastSeq !== undefined && seq !== this.lastSeq + 1) {
          if (seq <= this.lastSeq) {
            // Appended before a check read the head: the streams resumed from the log and have it.
            this.guard.heard(seq, channel, time);
            return;
          }
          this.reset('a hole in the notification sequence');
        }
    }
    this.lastSeq = seq;
    this.guard.heard(seq, channel, time);

    const id = formatCursor(epoch, seq);
    const event: LoggedEvent = { seq, id, channel, frame: encodeEvent(id, name, message.slice(e + 1)), acceptedAt: process.hrtime.bigint() };
    this.fanoutLag.observe(Math.max(0, this.options.now() - time) / 1000);
    for (const listener of this.listeners) listener(event);
  }

  /** The log went back or came from a replaced epoch: nothing is delivered until the guard has moved this process to a new epoch. */
  private rewound(epoch: string): void {
    if (this.closed) return;
    void this.guard.rewind(epoch).then((moved) => {
      if (moved) this.follow(moved);
    });
  }

  /** The guard moved this process to a new epoch: the feed starts at its head, and the streams resume from the log. */
  private follow(moved: Moved): void {
    this.lastSeq = moved.head;
    this.reset(moved.why);
  }

  private reset(why: string): void {
    if (this.loss) this.loss.reset = true;
    this.options.logger.warn({ why }, 'live feed lost continuity; streams will resume from their last id');
    for (const listener of this.resetListeners) listener();
  }
}
