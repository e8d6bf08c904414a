import { isGatewayError } from '../errors.ts';
import type { EventInput } from '../history/history.ts';
import { errorInfo, type RedisHistory } from '../history/redis/log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Ingress } from './ingress.ts';
import { connectRedis, type RedisClient, type RedisConfig } from '../redis/connect.ts';
import { LeaderLease } from '../redis/lease.ts';
import { assertChannel, assertEventName } from '../sse/names.ts';

export interface RedisPubsubOptions {
  readonly redis: RedisConfig;
  readonly patterns: readonly string[];
  readonly stripPrefix: string;
  readonly leaseTtlMs: number;
  readonly history: RedisHistory;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Messages waiting for an append, at most; MAX_PENDING unless a test wants a small bound. */
  readonly maxPending?: number;
}

/** At most this many messages go into one append script, so one slow batch cannot hold Redis long. */
const MAX_BATCH = 256;

/**
 * Messages waiting for an append, at most: 16 full script calls behind. Pub/Sub cannot be re-read,
 * so what arrives while appends are slower than messages (a slow or failing-over log shard while
 * the pattern subscription's node still delivers) is either held here or dropped. Held without a
 * bound, the backlog Redis would have cut off (client-output-buffer-limit pubsub) moves into this
 * process until it runs out of memory; past the bound, new messages are dropped and counted.
 */
const MAX_PENDING = 16 * MAX_BATCH;
/** And at most this much data waiting (characters): Redis's own default hard limit for a Pub/Sub client, 32 MB. */
const MAX_PENDING_CHARS = 32 * 1024 * 1024;

/**
 * Bridges Redis Pub/Sub channels apps already PUBLISH on into the log. Every instance would
 * receive every message, and a Pub/Sub message carries no id to deduplicate by, so only the
 * holder of a lease in Redis (SET NX PX, renewed at a third of its TTL) subscribes; the others
 * wait to take over. See docs/architecture.md for why, and for the failover window.
 */
export class RedisPubsubIngress implements Ingress {
  readonly name = 'redis-pubsub';
  private readonly options: RedisPubsubOptions;
  private readonly logger: Logger;
  private subscriber: RedisClient | undefined;
  private readonly lease: LeaderLease;
  private pending: EventInput[] = [];
  private pendingChars = 0;
  private readonly maxPending: number;
  /** Messages dropped since the queue last drained: one warning when drops start, one when it has caught up. */
  private overflow = 0;
  private flushing = false;

  constructor(options: RedisPubsubOptions) {
    this.options = options;
    this.logger = options.logger.child({ room: 'ingress', ingress: 'redis-pubsub' });
    this.maxPending = options.maxPending ?? MAX_PENDING;
    this.lease = new LeaderLease({
      client: options.history.client,
      key: options.history.keys.lease,
      ttlMs: options.leaseTtlMs,
      logger: this.logger,
      onAcquired: () => this.subscribe(),
      onLost: () => this.unsubscribe(),
      onCommandFailed: (error) => {
        options.metrics.redisCommandsFailed.inc({ op: 'lease' });
        this.logger.debug({ err: errorInfo(error) }, 'lease command failed');
      },
    });
  }

  get isLeader(): boolean {
    return this.lease.held;
  }

  /** Starts competing for the lease; resolves at once (a message needs a leader, not this instance). */
  start(): Promise<void> {
    const subscriber = connectRedis(this.options.redis, 'pubsub-ingress', {
      logger: this.options.logger,
      onState: (role, up) => this.options.metrics.redisConnected.set({ role }, up),
    });
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => this.received(channel, message));
    this.subscriber = subscriber;
    this.lease.start();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.lease.close();
    this.subscriber?.disconnect();
  }

  private async subscribe(): Promise<void> {
    this.logger.info({ patterns: this.options.patterns }, 'holding the redis-pubsub lease; subscribing');
    try {
      await this.subscriber?.psubscribe(...this.options.patterns);
    } catch (error) {
      this.logger.warn({ err: errorInfo(error) }, 'psubscribe failed');
      await this.lease.lose('could not subscribe');
    }
  }

  private async unsubscribe(): Promise<void> {
    try {
      await this.subscriber?.punsubscribe(...this.options.patterns);
    } catch {
      // The subscriber is down: it has no subscription to drop, and it resubscribes only while we lead.
    }
  }

  private received(redisChannel: string, message: string): void {
    // Between losing the lease and the PUNSUBSCRIBE taking effect, another instance leads: drop, don't duplicate.
    if (!this.lease.held) return;
    const input = toEvent(redisChannel, message, this.options.stripPrefix);
    if (input === undefined) {
      this.logger.debug({ channel: redisChannel.slice(0, 200) }, 'skipped a message that is not a valid event');
      return;
    }
    // A single message larger than the data bound still passes when nothing waits: the bound is on the backlog.
    if (this.pending.length >= this.maxPending || (this.pending.length > 0 && this.pendingChars + input.data.length > MAX_PENDING_CHARS)) {
      this.options.metrics.redisPubsubDropped.inc({ reason: 'queue-full' });
      if (this.overflow++ === 0) {
        this.logger.warn(
          { maxPending: this.maxPending, pendingChars: this.pendingChars },
          'appends to the log are slower than pubsub messages arrive; dropping messages until the queue has room',
        );
      }
      return;
    }
    this.pending.push(input);
    this.pendingChars += input.data.length;
    if (!this.flushing) {
      this.flushing = true;
      // Messages that arrive in the same turn go into one script call; calls stay in arrival order.
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      for (const input of batch) this.pendingChars -= input.data.length;
      try {
        const logged = await this.options.history.append(batch);
        this.options.metrics.eventsPublished.inc({ ingress: 'redis-pubsub' }, logged.length);
      } catch (error) {
        // Pub/Sub cannot be re-read: these messages are lost, as they would be for any subscriber that was down.
        this.options.metrics.redisPubsubDropped.inc({ reason: 'append-failed' }, batch.length);
        this.logger.warn({ err: isGatewayError(error) ? error.code : errorInfo(error), events: batch.length }, 'could not append pubsub messages');
      }
    }
    this.flushing = false;
    // Caught up: the episode of drops (if any) is over. Not logged per batch, which would repeat while it lasts.
    if (this.overflow > 0) {
      this.logger.warn({ dropped: this.overflow }, 'caught up with pubsub messages; some were dropped meanwhile');
      this.overflow = 0;
    }
  }
}

/**
 * A message becomes an event on the channel named like the Redis channel (minus stripPrefix).
 * The payload is a JSON envelope `{"event"?, "data"}` when it is one, and otherwise the raw
 * payload is the data. Returns undefined for what cannot be an event (bad channel or event name).
 */
export function toEvent(redisChannel: string, message: string, stripPrefix: string): EventInput | undefined {
  const channel = stripPrefix !== '' && redisChannel.startsWith(stripPrefix) ? redisChannel.slice(stripPrefix.length) : redisChannel;
  try {
    assertChannel(channel, 'channel');
    const envelope = readEnvelope(message);
    if (envelope === undefined) return message.isWellFormed() ? { channel, data: message } : undefined;
    if (envelope.event !== undefined) assertEventName(envelope.event, 'event');
    return { channel, event: envelope.event, data: envelope.data };
  } catch {
    return undefined;
  }
}

function readEnvelope(message: string): { event: string | undefined; data: string } | undefined {
  if (!message.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!('data' in record) || keys.some((key) => key !== 'data' && key !== 'event')) return undefined;
  const event = record['event'];
  if (event !== undefined && typeof event !== 'string') return undefined;
  const data = record['data'];
  return { event, data: typeof data === 'string' ? data : JSON.stringify(data) };
}
