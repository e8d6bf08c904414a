import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RedisClient } from '../../redis/connect.ts';
import { formatCursor } from '../../sse/cursor.ts';
import { encodeEvent } from '../../sse/encode.ts';
import type { Gap, LoggedEvent, ReplayItem } from '../history.ts';
import type { EpochGuard, Moved } from './epoch-guard.ts';
import { errorInfo } from './failure.ts';

/** What the log held after a position: read as a resume from it would be (log.ts, replay.lua). */
export interface CatchUp {
  readonly epoch: string;
  readonly head: number;
  /** The seq the log's epoch began after. */
  readonly since: number;
  /** In seq order, seqs as the log numbers them; an `epoch-changed` gap at `since` if the epoch is not the one read from. */
  readonly items: ReplayItem[];
}

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
  /** Reads `channels` after `after` of `epoch`, as a resume would: how the feed catches up on what it did not hear. */
  readonly read: (epoch: string, after: number, channels: readonly string[]) => Promise<CatchUp>;
}

/**
 * The live feed: this instance's one subscription to the log's notifications. Each carries its
 * whole event, so receiving needs no read: it is encoded once here and handed to the listeners
 * (the hub), in seq order. Redis runs scripts one at a time and delivers one connection's messages
 * in order, so every instance hears notifications in seq order.
 *
 * Because every seq is published, a lost continuity is noticed instead of guessed at: a hole (a
 * seq that is not the last + 1), a new epoch, or, when the subscription comes back after an
 * outage, a head beyond the last seq heard. The feed then catches up: it holds new notifications,
 * reads what its streams' channels missed from the log exactly as a resume from its last seq
 * would (replay.lua: the events, a `trimmed` gap where the window moved past them, an
 * `epoch-changed` gap where a new epoch began), hands those to the listeners in order, and then
 * the held notifications. Open streams stay open. Only when that cannot be done (the read failed,
 * or nobody said which channels streams are on: followChannels) are the streams asked to resume
 * (onReset) from the log by Last-Event-ID. What the epoch means is the guard's to judge.
 *
 * Ordering across epochs: a stream sends an event only if its `seq` is above the last it sent,
 * and a new epoch may number from 1 again. So the `seq` of what the feed hands out is this
 * process's ordering key: the log's seq plus a base per epoch, 0 for the first epoch this process
 * follows, and for each later one set when the feed moves to it so that its gap and its events
 * sort after everything handed out before. Ids (the frame's `id:`) are the log's, untouched.
 */
export class LiveFeed {
  private readonly options: FeedOptions;
  private readonly guard: EpochGuard;
  private readonly listeners: Array<(event: LoggedEvent) => void> = [];
  private readonly resetListeners: Array<() => void> = [];
  /** Newest seq delivered to listeners; undefined until the first notification sets the baseline. */
  private lastSeq: number | undefined;
  /** Set when the subscription drops: the position then, and whether a reset has since covered the loss. */
  private loss: Loss | undefined;
  /** Notifications held while a catch-up reads the log; undefined when none runs. */
  private held: string[] | undefined;
  /** Catch-ups queued or running: they run one at a time, and the held notifications go out after the last. */
  private catchUps: Promise<void> = Promise.resolve();
  private pending = 0;
  /** The channels open streams are on; without it a lost continuity can only be reset. */
  private channels: (() => Iterable<string>) | undefined;
  /** The epoch whose seqs are ordered with `base`, and the highest ordering key handed out. */
  private orderEpoch: string | undefined;
  private base = 0;
  private maxOrder = 0;
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
      if (this.loss !== undefined || !this.subscribed) return;
      const epoch = this.orderEpoch ?? this.guard.epoch;
      this.loss = { epoch, seq: this.lastSeq ?? (epoch === undefined ? undefined : this.guard.seenSeq), reset: false };
    });
    subscriber.on('ready', () => {
      const loss = this.loss;
      if (loss === undefined) return;
      // Back after an outage: anything appended meanwhile never reached us as a notification.
      // Held from now: the resubscription is in effect before the check's first reply.
      this.held ??= [];
      this.queue(() => this.checkAfterLoss(loss));
    });
  }

  async subscribe(): Promise<void> {
    const { subscriber, channel } = this.options;
    await (this.options.sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
    this.subscribed = true;
  }

  /** Subscribed, and not catching up: a stream opened during a catch-up could be reset by it. */
  get continuous(): boolean {
    return this.subscribed && this.loss === undefined && this.held === undefined;
  }

  onEvent(listener: (event: LoggedEvent) => void): void {
    this.listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  /** Which channels open streams are on: given, a lost continuity is repaired in the streams instead of ending them. */
  followChannels(provider: () => Iterable<string>): void {
    this.channels = provider;
  }

  /**
   * The ordering base for items of `epoch` a replay read (added to their seqs). A replay can be the
   * first to find the log under a new epoch (wiped with no reconnect: the script started it): the
   * feed moves to it now, so this stream and what it hears agree, and catches the open streams up
   * (their gap, then the new events). Undefined if it cannot be ordered (an epoch the feed saw
   * replaced): the stream is refused and its client retries.
   */
  orderOf(epoch: string, head: number, since: number): number | undefined {
    this.orderEpoch ??= epoch;
    if (epoch !== this.orderEpoch) {
      if (this.guard.replaced(epoch)) return undefined;
      if (this.repairable) {
        const from = this.orderEpoch;
        const after = this.lastSeq as number;
        // Room for the catch-up's epoch gap, one key per channel, before this epoch's first event.
        const gaps = this.channels === undefined ? 0 : new Set(this.channels()).size;
        this.orderEpoch = epoch;
        this.base = this.maxOrder + gaps - since;
        this.held ??= [];
        this.queue(() => this.catchUpOrReset(from, after, 'the log was reset (new epoch)'));
      } else {
        this.restartOrder(epoch, 0);
      }
    }
    if (head + this.base > this.maxOrder) this.maxOrder = head + this.base;
    return this.base;
  }

  close(): void {
    this.closed = true;
  }

  private queue(task: () => Promise<void>): void {
    this.pending += 1;
    this.catchUps = this.catchUps.then(task).finally(() => {
      this.pending -= 1;
      if (this.pending === 0) this.release();
    });
  }

  /** Sends the notifications held during catch-ups, through the same checks as live ones (one may start another catch-up). */
  private release(): void {
    const held = this.held;
    this.held = undefined;
    if (held === undefined) return;
    for (let index = 0; index < held.length; index += 1) {
      // handle() may have started another catch-up: the rest waits for it, in order.
      const again = this.held as string[] | undefined;
      if (again !== undefined) {
        again.push(...held.slice(index));
        return;
      }
      this.handle(held[index] as string, true);
    }
  }

  private async checkAfterLoss(lost: Loss): Promise<void> {
    try {
      // A reply on the subscriber connection comes after its resubscription took effect: from here
      // every append is notified, so the head read next bounds what may have been missed.
      await this.options.subscriber.ping();
      const { head, moved } = await this.guard.afterLoss();
      if (this.channels !== undefined && lost.epoch !== undefined && lost.seq !== undefined && !lost.reset) {
        // The streams stay open: what they missed comes from the log (a new epoch: its gap first).
        await this.catchUp(this.orderEpoch ?? lost.epoch, this.lastSeq ?? lost.seq);
        if (this.loss === lost) this.loss = undefined;
        return;
      }
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
      if (this.channels !== undefined) {
        // What was held came before the streams resumed: they replay it from the log.
        this.lastSeq = undefined;
        this.held = [];
      }
    }
  }

  /**
   * Reads what the streams' channels hold after `after` of `epoch` and hands it to the listeners,
   * as a resume from there would give it (a new epoch: its gap, then its events). The feed then
   * stands at the log's head, and the held notifications continue from it.
   */
  private async catchUp(epoch: string, after: number): Promise<void> {
    const provider = this.channels;
    if (provider === undefined) throw new Error('no channel provider');
    const read = await this.options.read(epoch, after, [...new Set(provider())]);
    if (this.closed) return;
    this.orderEpoch ??= epoch;
    let base = this.base;
    if (read.epoch !== this.orderEpoch) {
      // The new epoch's gap (one per channel, each its own key so a multi-channel stream gets them all) and events sort after all handed out.
      const epochGap = read.items.find((item) => item.gap?.reason === 'epoch-changed')?.gap;
      base = this.maxOrder + (epochGap?.channels.length ?? 0) - read.since;
      this.orderEpoch = read.epoch;
      this.base = base;
    }
    this.guard.follow(read.epoch, read.head);
    for (const item of read.items) {
      if (item.event) {
        this.emit({ ...item.event, seq: item.event.seq + base });
        continue;
      }
      const { gap } = item;
      if (gap.reason !== 'trimmed' && gap.reason !== 'epoch-changed') throw new Error(`cannot catch up past a ${gap.reason} gap`);
      const first = gap.seq + base - gap.channels.length + 1;
      gap.channels.forEach((channel, index) => this.emit(gapEvent(gap, channel, first + index)));
    }
    this.lastSeq = read.head;
    if (read.head + base > this.maxOrder) this.maxOrder = read.head + base;
    this.options.logger.info({ events: read.items.length, epoch: read.epoch, head: read.head }, 'live feed caught up from the log');
  }

  /** A continuity lost on a live subscription (a hole, a new epoch, a log gone back): repaired by a catch-up if it can be. */
  private repair(message: string, why: string, epoch: string, after: number, before?: () => Promise<unknown>): void {
    this.held ??= [];
    this.held.push(message);
    this.queue(() => this.catchUpOrReset(epoch, after, why, before));
  }

  private async catchUpOrReset(epoch: string, after: number, why: string, before?: () => Promise<unknown>): Promise<void> {
    try {
      await before?.();
      await this.catchUp(epoch, after);
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op: 'check' });
      if (this.closed) return;
      this.options.logger.warn({ err: errorInfo(error), why }, 'could not catch up from the log; asking streams to resume');
      this.lastSeq = undefined;
      this.reset(why);
      // What was held came before the streams resumed: they replay it from the log.
      this.held = [];
    }
  }

  private get repairable(): boolean {
    return this.channels !== undefined && this.orderEpoch !== undefined && this.lastSeq !== undefined;
  }

  private received(message: string): void {
    if (this.held !== undefined) {
      this.held.push(message);
      return;
    }
    this.handle(message, false);
  }

  /**
   * One notification: `epoch\nseq\ntimeMs\nchannel\nevent\ndata`. Parsed with indexOf, not split, so the data is sliced once.
   * `held`: it waited for a catch-up that read the log after it arrived, so the log had it then; a
   * hole or a new epoch still showing after that is not repaired again (it would loop) but reset.
   */
  private handle(message: string, held: boolean): void {
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

    const followed = this.orderEpoch;
    const after = this.lastSeq;
    switch (this.guard.notified(epoch, seq)) {
      case 'stale':
        this.rewound(epoch);
        return;
      case 'changed':
        if (this.repairable && !held) {
          this.repair(message, 'the log was reset (new epoch)', followed as string, after as number);
          return;
        }
        this.lastSeq = undefined;
        this.reset('the log was reset (new epoch)');
        break;
      case 'first':
        break;
      case 'current':
        if (this.lastSeq !== undefined && seq !== this.lastSeq + 1) {
          if (seq <= this.lastSeq) {
            // Appended before a check or a catch-up read the head: the streams have it from the log.
            this.guard.heard(seq, channel, time);
            return;
          }
          if (this.repairable && !held) {
            this.repair(message, 'a hole in the notification sequence', followed as string, after as number);
            return;
          }
          this.reset('a hole in the notification sequence');
        }
    }
    // Moved without a catch-up: the streams were reset, so those opened from now order by the log's seqs.
    if (epoch !== this.orderEpoch) this.restartOrder(epoch, 0);
    this.lastSeq = seq;
    this.guard.heard(seq, channel, time);

    const order = seq + this.base;
    if (order > this.maxOrder) this.maxOrder = order;
    const id = formatCursor(epoch, seq);
    const event: LoggedEvent = { seq: order, id, channel, frame: encodeEvent(id, name, message.slice(e + 1)), acceptedAt: process.hrtime.bigint() };
    this.fanoutLag.observe(Math.max(0, this.options.now() - time) / 1000);
    for (const listener of this.listeners) listener(event);
  }

  /** After a reset no stream holds an ordering key: `epoch` orders by the log's own seqs again. */
  private restartOrder(epoch: string, head: number): void {
    this.orderEpoch = epoch;
    this.base = 0;
    this.maxOrder = head;
  }

  private emit(event: LoggedEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** The log went back or came from a replaced epoch: nothing is delivered until the guard has moved this process to a new epoch. */
  private rewound(epoch: string): void {
    if (this.closed) return;
    if (this.repairable && this.held === undefined) {
      const followed = this.orderEpoch as string;
      const after = this.lastSeq as number;
      // The notification itself names another event than the one its id once did: not held, the read has it.
      this.held = [];
      this.queue(async () => {
        const moved = await this.guard.rewind(epoch);
        if (moved === undefined) return;
        try {
          await this.catchUp(followed, after);
        } catch (error) {
          this.options.logger.warn({ err: errorInfo(error) }, 'could not catch up from the log; asking streams to resume');
          this.follow(moved);
          this.held = [];
        }
      });
      return;
    }
    void this.guard.rewind(epoch).then((moved) => {
      if (moved) this.follow(moved);
    });
  }

  /** The guard moved this process to a new epoch: the feed starts at its head, and the streams resume from the log. */
  private follow(moved: Moved): void {
    this.lastSeq = moved.head;
    if (this.guard.epoch !== undefined) this.restartOrder(this.guard.epoch, moved.head);
    this.reset(moved.why);
  }

  private reset(why: string): void {
    if (this.loss) this.loss.reset = true;
    this.options.logger.warn({ why }, 'live feed lost continuity; streams will resume from their last id');
    for (const listener of this.resetListeners) listener();
  }
}

interface Loss {
  /** The epoch the feed followed when its subscription dropped, and its position then. */
  readonly epoch: string | undefined;
  readonly seq: number | undefined;
  /** Whether a reset has since covered the loss. */
  reset: boolean;
}

const GAP_MESSAGES: Readonly<Partial<Record<Gap['reason'], string>>> = {
  'trimmed': 'Events after your last id are no longer in history on these channels; some were missed.',
  'epoch-changed': 'Your last id is from an earlier history (the gateway or its log was reset); events since then may be missing.',
};

/** A gap the catch-up owes a channel's streams, as the frame a resume would send (stream.ts sendGap), keyed `order`. */
function gapEvent(gap: Gap, channel: string, order: number): LoggedEvent {
  const data = JSON.stringify({ reason: gap.reason, channels: [channel], message: GAP_MESSAGES[gap.reason] });
  return { seq: order, id: gap.id, channel, frame: encodeEvent(gap.id, 'gap', data), acceptedAt: process.hrtime.bigint() };
}
