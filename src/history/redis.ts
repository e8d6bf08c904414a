import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { connectRedis, isReady, type RedisClient, type RedisConfig } from '../redis/connect.ts';
import { formatCursor, parseCursor } from '../sse/cursor.ts';
import { encodeEvent } from '../sse/encode.ts';
import type { EventInput, Gap, GapReason, History, LoggedEvent, ReplayItem } from './history.ts';

const lua = (name: string): string => readFileSync(new URL(`./redis-${name}.lua`, import.meta.url), 'utf8');
/** The epoch rule every script that reads or moves the log's position shares (see redis-epoch.lua). */
const EPOCH_LUA = lua('epoch');
const APPEND_LUA = `${EPOCH_LUA}\n${lua('append')}`;
const REPLAY_LUA = `${EPOCH_LUA}\n${lua('replay')}`;
const CHECK_LUA = `${EPOCH_LUA}\n${lua('check')}`;
const SWEEP_LUA = lua('sweep');
const FORGET_LUA = lua('forget');

/** Epochs remembered as replaced: enough to recognise a log that comes back with one, small enough to scan per notification. */
const MAX_RETIRED = 8;

export interface RedisHistoryOptions {
  readonly redis: RedisConfig;
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  /** Trimmed-through marks kept for channels with no stream left; the lowest beyond this are folded into one (redis-forget.lua). */
  readonly maxChannels: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** One source entry for appendFromSource: the app's stream entry id and the event it becomes. */
export interface SourcedEvent {
  readonly sourceId: string;
  readonly input: EventInput;
}

/**
 * Every key and channel of one log. All keys carry the hash tag `{log}`, so in Redis Cluster they
 * share one slot and one Lua script may touch them together (see docs/redis.md for the cost).
 */
export class RedisKeys {
  readonly meta: string;
  readonly trimmed: string;
  readonly sources: string;
  readonly notify: string;
  readonly lease: string;
  private readonly streamPrefix: string;

  constructor(prefix: string) {
    this.meta = `${prefix}{log}:meta`;
    this.trimmed = `${prefix}{log}:trimmed`;
    this.sources = `${prefix}{log}:sources`;
    // A sharded Pub/Sub channel hashes like a key: same tag, so SPUBLISH from the script is legal in Cluster.
    this.notify = `${prefix}{log}:events`;
    this.lease = `${prefix}lease:redis-pubsub`;
    this.streamPrefix = `${prefix}{log}:ch:`;
  }

  stream(channel: string): string {
    return this.streamPrefix + channel;
  }

  /** SCAN MATCH pattern for every channel stream (prefixes are escaped: they may hold glob characters). */
  get streamPattern(): string {
    return `${this.streamPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }

  channelOf(streamKey: string): string {
    return streamKey.slice(this.streamPrefix.length);
  }
}

type AppendReply = [string, ...number[]];
type StreamEntry = [string, string[]];
type ReplayReply = [string, number, number, number[], StreamEntry[][], number];
type CheckReply = [string, number, '' | 'back' | 'empty'];

interface ScriptedClient {
  sseAppend(...args: Array<string | number>): Promise<AppendReply>;
  sseReplay(...args: Array<string | number>): Promise<ReplayReply>;
  sseCheck(...args: Array<string | number>): Promise<CheckReply>;
  sseSweep(...args: Array<string | number>): Promise<number>;
  sseForget(...args: Array<string | number>): Promise<number>;
}

const UNAVAILABLE_MESSAGE = 'the shared event log (Redis) is unreachable; the event was not stored, retry later';

/**
 * The shared log: Redis Streams, one per channel, numbered by one counter for the whole log, so
 * ids are the same on every instance and one id resumes any set of channels (sse/cursor.ts).
 *
 * Live fan-out: each append PUBLISHes one notification per event carrying the event itself, on
 * one channel that every instance subscribes to once. Notifications arrive in seq order (the
 * script runs atomically and Redis delivers one connection's messages in order), each is
 * encoded once here and handed to the hub. Because every seq is published, a missing seq or a
 * changed epoch is noticed, and the streams are asked to resume (onReset) rather than guess.
 *
 * A log that went back (same epoch, seq behind what this process saw) is made to start a new
 * epoch before its seqs are issued again, so an id never names two events (redis-epoch.lua).
 */
export class RedisHistory implements History {
  readonly keys: RedisKeys;
  /** Appends and replay reads. Exposed for the Redis ingresses, which share it. */
  readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly options: RedisHistoryOptions;
  private readonly logger: Logger;
  /** Offered to the script in case the log has no epoch yet (new or wiped Redis); replaced once used, so a wiped log never gets an old epoch back. */
  private candidateEpoch = newEpoch();
  private readonly listeners: Array<(event: LoggedEvent) => void> = [];
  private readonly resetListeners: Array<() => void> = [];
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** The epoch this process believes the log has; a notification with another means the log was wiped. */
  private epoch: string | undefined;
  /** Highest seq this process knows the log issued under `epoch` (notifications, append replies, head reads): a head behind it means the log went back. */
  private seen = 0;
  /**
   * The last notification heard under `epoch`: seq, channel and Redis time name one event, so the
   * check after an outage can tell whether the log still holds it. Three fields, not an object:
   * set per notification, and the hot path allocates nothing it can avoid.
   */
  private heardSeq = 0;
  private heardChannel = '';
  private heardTime = 0;
  /** Epochs this process saw replaced, newest last: a notification still carrying one is stale, and a log showing one again went back in time. */
  private readonly retired: string[] = [];
  /** Newest seq delivered to listeners; undefined until the first notification sets the baseline. */
  private lastSeq: number | undefined;
  /** Set when the subscription drops: lastSeq then, and whether a reset has since covered the loss. */
  private loss: { seq: number | undefined; reset: boolean } | undefined;
  /** Set while a log seen going back is made to start a new epoch; the streams resume once it has. */
  private rewinding: Promise<void> | undefined;
  private subscribed = false;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Bound once: a labelled child, so the per-event observe does no label lookup. */
  private readonly fanoutLag: { observe(value: number): void };

  constructor(options: RedisHistoryOptions) {
    this.options = options;
    this.logger = options.logger.child({ room: 'history', backend: 'redis' });
    this.keys = new RedisKeys(options.redis.keyPrefix);
    this.publishCommand = options.redis.mode === 'cluster' ? 'SPUBLISH' : 'PUBLISH';
    this.fanoutLag = options.metrics.redisIngestLag.labels({ source: 'fanout' });
    const onState = (role: string, up: 0 | 1): void => options.metrics.redisConnected.set({ role }, up);
    this.client = connectRedis(options.redis, 'command', { logger: options.logger, onState });
    this.client.defineCommand('sseAppend', { lua: APPEND_LUA });
    this.client.defineCommand('sseReplay', { lua: REPLAY_LUA });
    this.client.defineCommand('sseCheck', { lua: CHECK_LUA });
    this.client.defineCommand('sseSweep', { lua: SWEEP_LUA });
    this.client.defineCommand('sseForget', { lua: FORGET_LUA });
    this.subscriber = connectRedis(options.redis, 'subscriber', { logger: options.logger, onState });
    this.listenForNotifications();
  }

  async start(timeoutMs: number): Promise<void> {
    const subscribe = this.publishCommand === 'SPUBLISH' ? this.subscriber.ssubscribe(this.keys.notify) : this.subscriber.subscribe(this.keys.notify);
    const ready = (async () => {
      await subscribe;
      this.subscribed = true;
      await this.waitReady(this.client);
      // The epoch and head now, so that a log wiped or gone back while our subscription is down is noticed when it comes back.
      const { epoch, head } = await this.check(undefined);
      if (this.epoch === undefined) {
        this.epoch = epoch;
        this.seen = head;
      }
    })();
    ready.catch((error: unknown) => this.logger.warn({ err: errorInfo(error) }, 'redis log not ready at start'));
    this.scheduleSweep();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([ready.catch(() => undefined), deadline]);
    clearTimeout(timer);
    if (!this.isReady()) this.logger.warn('redis log not ready yet; /readyz stays false until it is');
  }

  /** False also while a dropped subscription's loss is being checked: a stream opened then could be reset by that check. */
  isReady(): boolean {
    return !this.closed && this.subscribed && this.loss === undefined && this.rewinding === undefined && isReady(this.client) && isReady(this.subscriber);
  }

  async append(inputs: readonly EventInput[]): Promise<LoggedEvent[]> {
    const reply = await this.runAppend(inputs.map((input) => ({ sourceId: '', input })), '');
    const acceptedAt = process.hrtime.bigint();
    const [epoch, ...seqs] = reply;
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
    return reply.length - 1;
  }

  async replay(channels: readonly string[], lastEventId: string): Promise<ReplayItem[]> {
    const cursor = parseCursor(lastEventId);
    const keys = channels.map((channel) => this.keys.stream(channel));
    let reply: ReplayReply;
    try {
      this.options.metrics.redisReplayReads.inc();
      reply = await (this.client as unknown as ScriptedClient).sseReplay(
        2 + keys.length,
        this.keys.meta,
        this.keys.trimmed,
        ...keys,
        this.candidateEpoch,
        this.epoch ?? '',
        this.seen,
        cursor?.epoch ?? '',
        cursor === undefined ? -1 : cursor.seq,
        this.options.maxEvents,
        ...channels,
      );
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op: 'replay' });
      this.logger.warn({ err: errorInfo(error) }, 'replay read failed');
      // The stream's headers are out, so this ends it; the client retries with the same Last-Event-ID and loses nothing.
      throw new GatewayError('SSEG_UNAVAILABLE', 'the shared event log (Redis) is unreachable; reconnect later');
    }
    const [epoch, head, now, lost, entries, since] = reply;
    if (epoch === this.candidateEpoch) this.candidateEpoch = newEpoch();
    if (epoch === this.epoch && head > this.seen) this.seen = head;
    if (cursor === undefined) return [gapItem('malformed-id', epoch, head, channels)];
    const otherEpoch = cursor.epoch !== epoch;
    if (!otherEpoch && cursor.seq > head) return [gapItem('unknown-id', epoch, head, channels)];

    // An id from another epoch vouches for nothing in this one, so the client gets a gap and then
    // every event of this epoch (the script read from `since`): the streams an epoch change ended
    // come back for exactly those, and a gap at the head would hide what was appended meanwhile.
    const from = otherEpoch ? since : cursor.seq;
    const olderThan = now - this.options.maxAgeMs;
    const acceptedAt = process.hrtime.bigint();
    const items: ReplayItem[] = otherEpoch ? [gapItem('epoch-changed', epoch, since, channels)] : [];
    channels.forEach((channel, index) => {
      let lostThrough = lost[index] ?? 0;
      for (const [entryId, fields] of entries[index] ?? []) {
        const seq = Number(entryId.slice(0, entryId.indexOf('-')));
        const entry = readFields(fields);
        if (entry.time < olderThan) {
          // Past maxAge but not yet trimmed (trimming happens on append): it counts as gone.
          lostThrough = Math.max(lostThrough, seq);
          continue;
        }
        const id = formatCursor(epoch, seq);
        items.push({ event: { seq, id, channel, frame: encodeEvent(id, entry.name, entry.data), acceptedAt } });
      }
      if (lostThrough > from) items.push({ gap: { reason: 'trimmed', seq: lostThrough, id: formatCursor(epoch, lostThrough), channels: [channel] } });
    });
    // Gaps sort before events of the same seq, as in memory.ts.
    items.sort((a, b) => seqOf(a) - seqOf(b) || (a.gap ? -1 : 1));
    return items;
  }

  onEvent(listener: (event: LoggedEvent) => void): void {
    this.listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  /**
   * Trims every channel stream by age, and deletes streams left empty, keeping their trimmed-through
   * marks: appends trim only the channel they write, so without this an idle channel would keep its
   * last maxEvents entries forever. Then keeps the trimmed hash to maxChannels marks (forget). Idempotent,
   * so every instance may run it. Returns entries removed.
   */
  async sweep(): Promise<number> {
    let removed = 0;
    const nodes = 'nodes' in this.client ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keys.streamPattern, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          removed += await (this.client as unknown as ScriptedClient).sseSweep(2, this.keys.trimmed, key, this.keys.channelOf(key), this.options.maxAgeMs);
        }
      } while (cursor !== '0' && !this.closed);
    }
    const forgotten = await this.forget();
    if (forgotten > 0) this.logger.debug({ forgotten }, 'folded the trimmed-through marks of long-gone channels into one');
    return removed;
  }

  /**
   * Removes trimmed-through marks beyond maxChannels, lowest seq first, of channels with no stream
   * left (redis-forget.lua says why that keeps gaps safe). Without it the hash gains a field per
   * channel ever trimmed and never loses one. Reads every mark to sort them: bounded, since the
   * hash is kept near maxChannels, and only when it is over.
   */
  private async forget(): Promise<number> {
    const excess = (await this.client.hlen(this.keys.trimmed)) - this.options.maxChannels;
    if (excess <= 0) return 0;
    const marks: Array<{ channel: string; seq: number }> = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.client.hscan(this.keys.trimmed, cursor, 'COUNT', 1000);
      cursor = next;
      for (let index = 0; index + 1 < flat.length; index += 2) marks.push({ channel: flat[index] as string, seq: Number(flat[index + 1]) });
    } while (cursor !== '0' && !this.closed);
    marks.sort((a, b) => a.seq - b.seq);
    let removed = 0;
    for (let start = 0; start < marks.length && removed < excess && !this.closed; start += 100) {
      const batch = marks.slice(start, start + 100);
      removed += await (this.client as unknown as ScriptedClient).sseForget(
        2 + batch.length,
        this.keys.meta,
        this.keys.trimmed,
        ...batch.map((mark) => this.keys.stream(mark.channel)),
        excess - removed,
        ...batch.map((mark) => mark.channel),
      );
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.sweeper);
    await Promise.allSettled([quit(this.subscriber), quit(this.client)]);
  }

  private async runAppend(events: readonly SourcedEvent[], sourceKey: string): Promise<AppendReply> {
    if (!isReady(this.client)) {
      this.options.metrics.redisCommandsFailed.inc({ op: sourceKey === '' ? 'append' : 'ingest' });
      throw new GatewayError('SSEG_UNAVAILABLE', UNAVAILABLE_MESSAGE, { 'Retry-After': '1' });
    }
    const args: Array<string | number> = [];
    const keys: string[] = [];
    for (const { sourceId, input } of events) {
      keys.push(this.keys.stream(input.channel));
      args.push(input.channel, input.event ?? '', input.data, sourceId);
    }
    try {
      const reply = await (this.client as unknown as ScriptedClient).sseAppend(
        3 + keys.length,
        this.keys.meta,
        this.keys.trimmed,
        this.keys.sources,
        ...keys,
        this.candidateEpoch,
        this.epoch ?? '',
        this.seen,
        this.options.maxEvents,
        this.options.maxAgeMs,
        this.keys.notify,
        this.publishCommand,
        sourceKey,
        ...args,
      );
      if (reply[0] === this.candidateEpoch) this.candidateEpoch = newEpoch();
      const last = reply.length > 1 ? (reply[reply.length - 1] as number) : 0;
      if (reply[0] === this.epoch && last > this.seen) this.seen = last;
      return reply;
    } catch (error) {
      this.options.metrics.redisCommandsFailed.inc({ op: sourceKey === '' ? 'append' : 'ingest' });
      this.logger.warn({ err: errorInfo(error) }, 'append to redis log failed');
      // Possibly stored if the reply alone was lost; never reported as stored when it may not be.
      throw new GatewayError('SSEG_UNAVAILABLE', UNAVAILABLE_MESSAGE, { 'Retry-After': '1' });
    }
  }

  private listenForNotifications(): void {
    const onMessage = (_channel: string, message: string): void => this.received(message);
    this.subscriber.on(this.publishCommand === 'SPUBLISH' ? 'smessage' : 'message', onMessage);
    this.subscriber.on('close', () => {
      if (this.loss === undefined && this.subscribed) this.loss = { seq: this.lastSeq, reset: false };
    });
    this.subscriber.on('ready', () => {
      const loss = this.loss;
      if (loss === undefined) return;
      // Back after an outage: anything appended meanwhile never reached us as a notification.
      void this.checkAfterLoss(loss);
    });
  }

  private async checkAfterLoss(lost: { seq: number | undefined; reset: boolean }): Promise<void> {
    try {
      // A reply on the subscriber connection comes after its resubscription took effect: from here
      // every append is notified, so the head read next bounds what may have been missed.
      await this.subscriber.ping();
      await this.waitReady(this.client);
      const { epoch, head, why } = await this.check(undefined);
      if (this.loss === lost) this.loss = undefined;
      if (epoch !== this.epoch) {
        // The streams resume from the log; notifications up to this head are theirs by replay now.
        this.adopt(epoch, head);
        this.reset(why === 'back' ? 'the log went back (lost or restored writes): started a new epoch' : 'the log was reset (new epoch)');
        return;
      }
      if (head > this.seen) this.seen = head;
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
      this.logger.warn({ err: errorInfo(error) }, 'could not check for events missed during the outage; asking streams to resume');
      this.reset('could not check for missed events');
    }
  }

  /**
   * Runs redis-check.lua with what this process saw under its epoch (highest seq, last event heard),
   * or, with `rewound`, for an epoch already seen going back: the script then starts a new epoch
   * if the log is still at that one (compare-and-set: instances that noticed together start one).
   */
  private async check(rewound: string | undefined): Promise<{ epoch: string; head: number; why: CheckReply[2] }> {
    const candidate = this.candidateEpoch;
    const heard = rewound === undefined && this.heardSeq > 0;
    const [epoch, head, why] = await (this.client as unknown as ScriptedClient).sseCheck(
      3,
      this.keys.meta,
      this.keys.trimmed,
      heard ? this.keys.stream(this.heardChannel) : this.keys.meta,
      candidate,
      rewound ?? this.epoch ?? '',
      rewound === undefined ? this.seen : 0,
      heard ? this.heardSeq : '',
      heard ? this.heardChannel : '',
      heard ? this.heardTime : 0,
      rewound === undefined ? '0' : '1',
    );
    if (epoch === candidate) this.candidateEpoch = newEpoch();
    return { epoch, head: Number(head), why };
  }

  /**
   * A notification showed the log went back under `epoch`, or came from an epoch this process saw
   * replaced. Nothing under that epoch is delivered from here on (its seqs name other events now);
   * once the log has a new epoch, the streams resume from it and their clients get a gap.
   */
  private rewound(epoch: string): void {
    if (this.rewinding !== undefined || this.closed) return;
    this.rewinding = (async () => {
      try {
        await this.waitReady(this.client);
        const { epoch: current, head, why } = await this.check(epoch);
        // Already there: a notification of the new epoch came first and reset the streams, or this one was stale.
        if (current === this.epoch) return;
        this.adopt(current, head);
        this.reset(why === 'back' ? 'the log went back (lost or restored writes): started a new epoch' : 'the log has a new epoch');
      } catch (error) {
        // Tried again on the next notification of that epoch, or by the check after a reconnect, which sees the same evidence.
        this.options.metrics.redisCommandsFailed.inc({ op: 'check' });
        this.logger.warn({ err: errorInfo(error) }, 'the log went back but a new epoch could not be started yet');
      }
    })().finally(() => (this.rewinding = undefined));
  }

  /** This process now follows `epoch` from `head`: what its streams hold is resumed from the log, so the feed starts there. */
  private adopt(epoch: string, head: number): void {
    if (this.epoch !== undefined && this.epoch !== epoch) this.retire(this.epoch);
    this.epoch = epoch;
    this.lastSeq = head;
    this.seen = head;
    this.heardSeq = 0;
  }

  private retire(epoch: string): void {
    if (this.retired.includes(epoch)) return;
    this.retired.push(epoch);
    if (this.retired.length > MAX_RETIRED) this.retired.shift();
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

    if (this.retired.length > 0 && this.retired.includes(epoch)) {
      // Published before this process moved on, or a log come back with an old epoch: never delivered.
      this.rewound(epoch);
      return;
    }
    if (epoch !== this.epoch) {
      if (this.epoch !== undefined) {
        this.retire(this.epoch);
        this.lastSeq = undefined;
        this.reset('the log was reset (new epoch)');
      }
      this.epoch = epoch;
      this.seen = 0;
      this.heardSeq = 0;
    } else if (seq <= this.heardSeq) {
      // One subscription hears notifications in publish order and seq only grows within an epoch:
      // the log went back, and this seq names another event than the one this process delivered.
      this.retire(epoch);
      this.rewound(epoch);
      return;
    } else if (this.lastSeq !== undefined && seq !== this.lastSeq + 1) {
      if (seq <= this.lastSeq) {
        // Appended before a check read the head: the streams resumed from the log and have it.
        this.heard(seq, channel, time);
        return;
      }
      this.reset('a hole in the notification sequence');
    }
    this.lastSeq = seq;
    this.heard(seq, channel, time);

    const id = formatCursor(epoch, seq);
    const event: LoggedEvent = { seq, id, channel, frame: encodeEvent(id, name, message.slice(e + 1)), acceptedAt: process.hrtime.bigint() };
    this.fanoutLag.observe(Math.max(0, Date.now() - time) / 1000);
    for (const listener of this.listeners) listener(event);
  }

  private heard(seq: number, channel: string, time: number): void {
    this.heardSeq = seq;
    this.heardChannel = channel;
    this.heardTime = time;
    if (seq > this.seen) this.seen = seq;
  }

  private scheduleSweep(): void {
    // Jittered so a fleet started together does not scan in step; at most every minute, at least every maxAge.
    const every = Math.min(this.options.maxAgeMs, 60_000);
    this.sweeper = setTimeout(() => {
      void this.sweep().then(
        (removed) => {
          if (removed > 0) this.logger.debug({ removed }, 'swept aged events from idle channels');
        },
        (error: unknown) => {
          this.options.metrics.redisCommandsFailed.inc({ op: 'sweep' });
          this.logger.debug({ err: errorInfo(error) }, 'sweep failed; next round will retry');
        },
      ).finally(() => {
        if (!this.closed) this.scheduleSweep();
      });
    }, every * (0.5 + Math.random()));
    this.sweeper.unref();
  }

  private reset(why: string): void {
    if (this.loss) this.loss.reset = true;
    this.logger.warn({ why }, 'live feed lost continuity; streams will resume from their last id');
    for (const listener of this.resetListeners) listener();
  }

  private waitReady(client: RedisClient): Promise<void> {
    if (isReady(client)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        client.off('end', onEnd);
        resolve();
      };
      const onEnd = (): void => {
        client.off('ready', onReady);
        reject(new Error('redis connection ended'));
      };
      client.once('ready', onReady);
      client.once('end', onEnd);
    });
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

function newEpoch(): string {
  return randomBytes(6).readUIntBE(0, 6).toString(36);
}

function gapItem(reason: GapReason, epoch: string, seq: number, channels: readonly string[]): ReplayItem {
  const gap: Gap = { reason, seq, id: formatCursor(epoch, seq), channels };
  return { gap };
}

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

function seqOf(item: ReplayItem): number {
  return item.event ? item.event.seq : item.gap.seq;
}

async function quit(client: RedisClient): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

export function errorInfo(error: unknown): { message: string } {
  return { message: error instanceof Error ? error.message : String(error) };
}
