/**
 * Every key and channel of one log, shared by the history, the Redis ingresses and control. All
 * log keys carry the hash tag `{log}`, so in Redis Cluster they share one slot and one Lua script
 * may touch them together (see docs/redis.md for the cost). The lease is not a log key: nothing
 * scripts it together with the log, so it has no tag.
 */
export class RedisKeys {
  readonly meta: string;
  readonly trimmed: string;
  /** Sorted set: channel → seq of its latest append. Orders channel streams by recency, so the bound `history.maxChannels` evicts the least recently appended. */
  readonly channels: string;
  readonly sources: string;
  readonly notify: string;
  readonly lease: string;
  /** What every channel stream's key starts with; the scripts that evict streams build their keys from it. */
  readonly streamPrefix: string;

  constructor(prefix: string) {
    this.meta = `${prefix}{log}:meta`;
    this.trimmed = `${prefix}{log}:trimmed`;
    this.channels = `${prefix}{log}:channels`;
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
