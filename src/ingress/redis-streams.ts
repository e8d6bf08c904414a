import { isGatewayError } from '../errors.ts';
import { errorInfo, type RedisHistory, type SourcedEvent } from '../history/redis/log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Ingress } from './ingress.ts';
import { backoff, connectRedis, type RedisClient, type RedisConfig } from '../redis/connect.ts';
import { assertChannel, assertEventName } from '../sse/names.ts';

export interface RedisStreamsOptions {
  readonly redis: RedisConfig;
  /** Stream keys, or SCAN MATCH patterns (holding * ? or [). */
  readonly keys: readonly string[];
  readonly stripPrefix: string;
  readonly eventField: string;
  readonly dataField: string;
  readonly scanIntervalMs: number;
  readonly history: RedisHistory;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

type XreadReply = Array<[string, Array<[string, string[]]>]> | null;

const READ_COUNT = 256;
const BLOCK_MS = 1_000;

/**
 * Bridges Redis Streams apps XADD to into the log. Every instance reads every source (XREAD, no
 * consumer group), and the append script skips entries at or before the last id already
 * ingested from that source, checked and moved in the same atomic step as the append: each
 * entry becomes exactly one event, in the source's order, whichever instance gets there first,
 * and an instance that dies loses nothing (another has read the same entries).
 */
export class RedisStreamsIngress implements Ingress {
  readonly name = 'redis-streams';
  private readonly options: RedisStreamsOptions;
  private readonly logger: Logger;
  /** source key → the id to read after. */
  private readonly cursors = new Map<string, string>();
  private reader: RedisClient | undefined;
  private stopped = false;
  private lastScan = 0;
  private scanned = false;
  private loop: Promise<void> | undefined;
  private discovered: () => void = () => undefined;
  private readonly firstDiscovery: Promise<void>;

  constructor(options: RedisStreamsOptions) {
    this.options = options;
    this.logger = options.logger.child({ room: 'ingress', ingress: 'redis-streams' });
    this.firstDiscovery = new Promise((resolve) => (this.discovered = resolve));
  }

  /**
   * Resolves once the first look at the sources has fixed where each starts (or failed, when
   * Redis is not there: start-up is not held hostage). The gateway listens only after that, so an
   * entry added once it is listening is never mistaken for backlog that existed before it.
   */
  start(): Promise<void> {
    // Its own connection: XREAD BLOCK holds it, and must never delay an append or a replay read.
    this.reader = connectRedis(this.options.redis, 'streams-ingress', {
      logger: this.options.logger,
      onState: (role, up) => this.options.metrics.redisConnected.set({ role }, up),
    });
    this.loop = this.run();
    return this.firstDiscovery;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.reader?.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.discover();
        this.discovered();
        if (this.cursors.size === 0) {
          await sleep(Math.min(this.options.scanIntervalMs, BLOCK_MS));
          continue;
        }
        await this.readOnce();
        failures = 0;
      } catch (error) {
        this.discovered();
        if (this.stopped) return;
        failures += 1;
        this.options.metrics.redisCommandsFailed.inc({ op: 'ingest' });
        this.logger.warn({ err: isGatewayError(error) ? { message: error.code } : errorInfo(error) }, 'redis-streams read failed; retrying');
        await sleep(backoff(failures));
      }
    }
  }

  /** Literal keys at once; patterns by SCAN every scanInterval. New sources start at what the log already ingested, or at their end. */
  private async discover(): Promise<void> {
    const now = Date.now();
    if (this.lastScan !== 0 && now - this.lastScan < this.options.scanIntervalMs) return;
    this.lastScan = now;
    const client = this.options.history.client;
    const found: string[] = [];
    for (const key of this.options.keys) {
      if (!/[*?[]/.test(key)) {
        found.push(key);
        continue;
      }
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', key, 'COUNT', 1000, 'TYPE', 'stream');
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
    }
    const fresh = [...new Set(found)].filter((key) => !this.cursors.has(key));
    if (fresh.length === 0) {
      this.scanned = true;
      return;
    }
    const stored = await client.hmget(this.options.history.keys.sources, ...fresh);
    for (const [index, key] of fresh.entries()) {
      let from = stored[index] ?? null;
      if (from === null && !this.scanned) {
        // Never ingested and already there when we start: take what is added from now on, not its whole past.
        const last = (await client.xrevrange(key, '+', '-', 'COUNT', 1))[0];
        from = last?.[0] ?? '0-0';
      }
      // A source that appears later is new: all of it is events.
      this.cursors.set(key, from ?? '0-0');
    }
    this.scanned = true;
    this.logger.info({ sources: fresh.length }, 'reading redis streams');
  }

  private async readOnce(): Promise<void> {
    const reader = this.reader;
    if (reader === undefined) return;
    const keys = [...this.cursors.keys()];
    const ids = keys.map((key) => this.cursors.get(key) as string);
    const reply = (await reader.call('XREAD', 'COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...ids)) as XreadReply;
    if (reply === null || this.stopped) return;
    for (const [key, entries] of reply) {
      const last = entries.at(-1);
      if (last === undefined) continue;
      const events = this.toEvents(key, entries);
      if (events.length > 0) {
        const appended = await this.options.history.appendFromSource(key, events);
        this.options.metrics.eventsPublished.inc({ ingress: 'redis-streams' }, appended);
        const now = Date.now();
        for (const { sourceId } of events)
          this.options.metrics.redisIngestLag.observe({ source: 'redis-streams' }, Math.max(0, now - Number(sourceId.slice(0, sourceId.indexOf('-')))) / 1000);
      }
      this.cursors.set(key, last[0]);
    }
  }

  private toEvents(key: string, entries: Array<[string, string[]]>): SourcedEvent[] {
    const { stripPrefix, eventField, dataField } = this.options;
    const channel = stripPrefix !== '' && key.startsWith(stripPrefix) ? key.slice(stripPrefix.length) : key;
    try {
      assertChannel(channel, 'channel');
    } catch {
      this.logger.warn({ key: key.slice(0, 200) }, 'stream key does not make a valid channel name; skipped');
      return [];
    }
    const events: SourcedEvent[] = [];
    for (const [sourceId, fields] of entries) {
      let event: string | undefined;
      let data: string | undefined;
      for (let index = 0; index + 1 < fields.length; index += 2) {
        if (fields[index] === eventField) event = fields[index + 1];
        else if (fields[index] === dataField) data = fields[index + 1];
      }
      if (data === undefined || !data.isWellFormed()) continue;
      if (event !== undefined) {
        try {
          assertEventName(event, 'event');
        } catch {
          continue;
        }
      }
      events.push({ sourceId, input: { channel, event, data } });
    }
    return events;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
