import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { isReady, type RedisClient, type RedisConfig } from '../../redis/connect.ts';
import { RedisKeys } from '../../redis/keys.ts';
import { formatCursor, parseCursor } from '../../sse/cursor.ts';
import { encodeEvent } from '../../sse/encode.ts';
import type { HistoryBounds } from '../bounds.ts';
import type { EventInput, History, LoggedEvent, ReplayItem } from '../history.ts';
import { inSeqOrder, resumePoint, trimmedGap } from '../resume.ts';
import { openConnections, quit } from './connections.ts';
import { RedisDeadline } from './deadline.ts';
import { EpochGuard } from './epoch-guard.ts';
import { appendUnavailable, errorInfo, replayUnavailable } from './failure.ts';
import { LiveFeed, type CatchUp } from './feed.ts';
import { LogScripts, type AppendReply, type ReplayReply, type SourcedEvent } from './scripts.ts';
import { Sweeper } from './sweeper.ts';

// The Redis ingresses share the log's connection and log their failures the same way.
export { errorInfo } from './failure.ts';
export type { SourcedEvent } from './scripts.ts';

/** How often the command connection is asked for Redis TIME: a stalled server shows as not ready within this and the command timeout. */
const PROBE_INTERVAL_MS = 1_000;

export interface RedisHistoryOptions extends HistoryBounds {
  readonly redis: RedisConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The shared log: Redis Streams, one per channel, numbered by one counter for the whole log, so
 * ids are the same on every instance and one id resumes any set of channels (sse/cursor.ts).
 *
 * Live fan-out: each append PUBLISHes one notification per event carrying the event itself, on
 * one channel that every instance subscribes to once (feed.ts). Because every seq is published, a
 * missing seq or a changed epoch is noticed, and the feed catches up from the log for the channels
 * open streams are on (followChannels), so streams stay open; only what cannot be repaired asks the
 * streams to resume (onReset).
 *
 * An append carries a deadline on Redis's clock (deadline.ts): one that reaches Redis after its
 * command timed out (503) stores nothing. Readiness needs a Redis that answers: a TIME probe every
 * second that fails or times out makes the log not ready, and appends are refused at once.
 *
 * A log that went back (same epoch, seq behind what this process saw) is made to start a new
 * epoch before its seqs are issued again, so an id never names two events (epoch-guard.ts).
 *
 * At most maxChannels channel streams are kept: each append evicts the least recently appended
 * beyond that, recording how far it went, so a resume on it gets a `trimmed` gap (channels.lua).
 */
export class RedisHistory implements History {
  readonly keys: RedisKeys;
  /** Appends and replay reads. Exposed for the Redis ingresses, which share it. */
  readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly options: RedisHistoryOptions;
  private readonly logger: Logger;
  private readonly scripts: LogScripts;
  private readonly guard: EpochGuard;
  private readonly feed: LiveFeed;
  private readonly sweeper: Sweeper;
  private readonly deadline: RedisDeadline;
  /** The last probe (or append) was answered in time; false while Redis is away or stalled. */
  private responsive = false;
  private probing: Promise<void> | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: RedisHistoryOptions) {
    this.options = options;
    this.logger = options.logger.child({ room: 'history', backend: 'redis' });
    this.keys = new RedisKeys(options.redis.keyPrefix);
    const sharded = options.redis.mode === 'cluster';
    ({ client: this.client, subscriber: this.subscriber } = openConnections(options.redis, options.logger, options.metrics));
    this.scripts = new LogScripts(this.client, this.keys, options, sharded ? 'SPUBLISH' : 'PUBLISH');
    this.guard = new EpochGuard(this.scripts, this.client, this.logger, options.metrics);
    const now = options.now ?? (() => Date.now());
    this.deadline = new RedisDeadline(options.redis.commandTimeout);
    const read = (epoch: string, after: number, channels: readonly string[]): Promise<CatchUp> => this.read(channels, epoch, after);
    this.feed = new LiveFeed({
      subscriber: this.subscriber,
      channel: this.keys.notify,
      sharded,
      guard: this.guard,
      logger: this.logger,
      metrics: options.metrics,
      now,
      read,
    });
    this.client.on('ready', () => void this.probe());
    this.client.on('close', () => (this.responsive = false));
    this.sweeper = new Sweeper({
      client: this.client,
      scripts: this.scripts,
      keys: this.keys,
      maxAgeMs: options.maxAgeMs,
      maxChannels: options.maxChannels,
      logger: this.logger,
      metrics: options.metrics,
    });
  }

  async start(timeoutMs: number): Promise<void> {
    this.probeTimer ??= setInterval(() => void this.probe(), PROBE_INTERVAL_MS).unref();
    const ready = (async () => {
      await this.probe();
      await this.feed.subscribe();
      await this.guard.baseline();
    })();
    ready.catch((error: unknown) => this.logger.warn({ err: errorInfo(error) }, 'redis log not ready at start'));
    this.sweeper.start();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([ready.catch(() => undefined), deadline]);
    clearTimeout(timer);
    if (!this.isReady()) this.logger.warn('redis log not ready yet; /readyz stays false until it is');
  }

  /**
   * False also while Redis does not answer in time (stalled: the connection is open but the last
   * probe timed out), and while a dropped subscription is caught up or a new epoch started.
   */
  isReady(): boolean {
    return !this.closed && this.responsive && this.feed.continuous && !this.guard.busy && isReady(this.client) && isReady(this.subscriber);
  }

  /**
   * The channels open streams are on (the gateway's Streams gives it): with it, a subscription that
   * comes back, a hole or a new epoch is caught up in the open streams, from the log, instead of
   * ending them all.
   */
  followChannels(provider: () => Iterable<string>): void {
    this.feed.followChannels(provider);
  }

  async append(inputs: readonly EventInput[]): Promise<LoggedEvent[]> {
    const reply = await this.runAppend(
      inputs.map((input) => ({ sourceId: '', input })),
      '',
    );
    const acceptedAt = process.hrtime.bigint();
    const [epoch, , ...seqs] = reply;
    // Only the publisher's answer needs these, and it reads ids: fan-out encodes its own frame from
    // the notification, so here the frame is encoded only if someone asks for it.
    return seqs.map((seq, index) => publishedEvent(seq, formatCursor(epoch, seq), inputs[index] as EventInput, acceptedAt));
  }

  /**
   * Appends entries read from an app's stream `sourceKey`, skipping any at or before the last
   * entry id already ingested from it. The check and the append are one script, so N instances
   * reading the same source append each entry exactly once, in the source's order.
   */
  async appendFromSource(sourceKey: string, events: readonly SourcedEvent[]): Promise<number> {
    const reply = await this.runAppend(events, sourceKey);
    return reply.length - 2;
  }

  async replay(channels: readonly string[], lastEventId: string): Promise<ReplayItem[]> {
    const cursor = parseCursor(lastEventId);
    const { epoch, head, since, items } = await this.read(channels, cursor?.epoch ?? '', cursor === undefined ? -1 : cursor.seq);
    const base = this.feed.orderOf(epoch, head, since);
    if (base === undefined) {
      // The log showed an epoch this process saw replaced (a restore brought it back): the guard is
      // moving the log on, and this stream's client retries in a moment, once it has.
      this.logger.warn({ epoch }, 'replay found an epoch this instance saw replaced');
      throw replayUnavailable();
    }
    if (base === 0) return items;
    // Ordering keys across epochs (feed.ts): the same seqs the live feed hands out for this epoch.
    return items.map((item) => (item.event ? { event: { ...item.event, seq: item.event.seq + base } } : { gap: { ...item.gap, seq: item.gap.seq + base } }));
  }

  /** One snapshot of `channels` after `after` of `cursorEpoch` (-1: nothing, the cursor did not parse), as a resume answers it; seqs as the log numbers them. */
  private async read(channels: readonly string[], cursorEpoch: string, after: number): Promise<CatchUp> {
    let reply: ReplayReply;
    try {
      this.options.metrics.redisReplayReads.inc();
      reply = await this.scripts.replay(this.guard.offer(), channels, cursorEpoch, after);
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op: 'replay' });
      this.logger.warn({ err: errorInfo(error) }, 'replay read failed');
      throw replayUnavailable();
    }
    const [epoch, head, now, lost, entries, since] = reply;
    this.guard.answered(epoch, head);
    // The script read from `since` for a cursor of another epoch: the same rule, decided again here.
    const start = resumePoint(after < 0 ? undefined : { epoch: cursorEpoch, seq: after }, { epoch, head, since }, channels);
    if (start.answer) return { epoch, head, since, items: [start.answer] };
    const olderThan = now - this.options.maxAgeMs;
    const acceptedAt = process.hrtime.bigint();
    const items: ReplayItem[] = start.epochGap ? [start.epochGap] : [];
    channels.forEach((channel, index) => {
      let lostThrough = lost[index] ?? 0;
      for (const [entryId, fields] of entries[index] ?? []) {
        const seq = Number(entryId.slice(0, entryId.indexOf('-')));
        const entry = readFields(fields);
        if (entry.time < olderThan) {
          // Past maxAge but not yet trimmed (trimming happens on append and sweep): it counts as gone.
          lostThrough = Math.max(lostThrough, seq);
          continue;
        }
        const id = formatCursor(epoch, seq);
        items.push({ event: { seq, id, channel, frame: encodeEvent(id, entry.name, entry.data), acceptedAt } });
      }
      const gap = trimmedGap(epoch, lostThrough, start.after, channel);
      if (gap) items.push(gap);
    });
    return { epoch, head, since, items: inSeqOrder(items) };
  }

  onEvent(listener: (event: LoggedEvent) => void): void {
    this.feed.onEvent(listener);
  }

  onReset(listener: () => void): void {
    this.feed.onReset(listener);
  }

  /** One sweep now (sweeper.ts); every instance runs them on a timer. Returns entries removed by age. */
  sweep(): Promise<number> {
    return this.sweeper.sweep();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probeTimer);
    this.sweeper.stop();
    this.guard.close();
    this.feed.close();
    await Promise.allSettled([quit(this.subscriber), quit(this.client)]);
  }

  /**
   * Asks Redis for its TIME on the command connection: answered within the command timeout, the
   * log is responsive and the clock offset is sampled (deadline.ts); timed out or failed, it is not
   * ready and refuses appends until a probe is answered again. One at a time.
   */
  private probe(): Promise<void> {
    if (this.closed || !isReady(this.client)) {
      this.responsive = false;
      return Promise.resolve();
    }
    this.probing ??= (async () => {
      try {
        const time = await this.scripts.time();
        this.deadline.sample(time, RedisDeadline.now());
        this.responsive = true;
      } catch (error) {
        if (this.responsive) this.logger.warn({ err: errorInfo(error) }, 'redis did not answer the readiness probe in time');
        this.responsive = false;
      } finally {
        this.probing = undefined;
      }
    })();
    return this.probing;
  }

  private async runAppend(events: readonly SourcedEvent[], sourceKey: string): Promise<AppendReply> {
    const op = sourceKey === '' ? 'append' : 'ingest';
    // A stalled Redis (the last probe timed out) is refused at once, not queued behind: nothing piles up to run when it resumes.
    if (!isReady(this.client) || !(this.responsive || (await this.probe(), this.responsive))) {
      this.options.metrics.redisCommandsFailed.inc({ op });
      throw appendUnavailable();
    }
    try {
      const sentAt = RedisDeadline.now();
      const reply = await this.scripts.append(this.guard.offer(), events, sourceKey, this.deadline.deadline(sentAt) ?? '');
      this.deadline.sample(reply[1], RedisDeadline.now());
      this.guard.answered(reply[0], reply.length > 2 ? (reply[reply.length - 1] as number) : 0);
      return reply;
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op });
      this.logger.warn({ err: errorInfo(error) }, 'append to redis log failed');
      throw appendUnavailable();
    }
  }
}

function publishedEvent(seq: number, id: string, input: EventInput, acceptedAt: bigint): LoggedEvent {
  let frame: Buffer | undefined;
  return {
    seq,
    id,
    channel: input.channel,
    acceptedAt,
    get frame() {
      return (frame ??= encodeEvent(id, input.event, input.data));
    },
  };
}

/** A stream entry's fields: `t` (append time, ms), `e` (event name, absent for the default), `d` (data). */
function readFields(fields: string[]): { time: number; name: string | undefined; data: string } {
  let time = 0;
  let name: string | undefined;
  let data = '';
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const value = fields[index + 1] as string;
    switch (fields[index]) {
      case 't':
        time = Number(value);
        break;
      case 'e':
        name = value;
        break;
      case 'd':
        data = value;
        break;
    }
  }
  return { time, name, data };
}
