import { GatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { connectRedis, type RedisClient, type RedisConfig } from '../redis/connect.ts';
import type { TicketGrant, TicketStore } from './ticket.ts';

/**
 * Put: drop expired entries from the index, refuse when `max` remain, else store the grant with
 * its TTL and index it by expiry. One script, so the bound holds across instances.
 * KEYS[1] index (sorted set: digest → expiresAt), KEYS[2] the ticket key.
 * ARGV: now (ms), max, digest, expiresAt (ms), ttl (ms), grant JSON.
 */
const PUT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
-- The index lives as long as its longest-lived ticket, and no longer.
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1
`;

/**
 * Take: GETDEL is atomic on the server, so of two instances redeeming one ticket at the same
 * moment exactly one gets the grant. KEYS as for PUT; ARGV[1] the digest.
 */
const TAKE = `
local grant = redis.call('GETDEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return grant
`;

/**
 * Tickets shared by every instance through Redis: issued on one, redeemable once on any. Keys
 * share the `{tickets}` hash tag, so both scripts touch one slot (Redis Cluster included).
 * Redis being away is an outage (503), never a ticket accepted twice.
 */
export class RedisTicketStore implements TicketStore {
  private readonly client: RedisClient;
  private readonly index: string;
  private readonly prefix: string;
  private readonly max: number;
  private readonly now: () => number;

  constructor(config: RedisConfig, max: number, logger: Logger, now: () => number = Date.now) {
    this.client = connectRedis(config, 'command', { logger });
    this.prefix = `${config.keyPrefix}{tickets}:t:`;
    this.index = `${config.keyPrefix}{tickets}:index`;
    this.max = max;
    this.now = now;
  }

  async put(digest: string, grant: TicketGrant): Promise<boolean> {
    const now = this.now();
    const ttl = Math.max(1, grant.expiresAt - now);
    const stored = await this.run(() =>
      this.client.eval(PUT, 2, this.index, this.prefix + digest, now, this.max, digest, grant.expiresAt, ttl, JSON.stringify(grant)),
    );
    return stored === 1;
  }

  async take(digest: string): Promise<TicketGrant | undefined> {
    const text = await this.run(() => this.client.eval(TAKE, 2, this.index, this.prefix + digest, digest));
    if (typeof text !== 'string') return undefined;
    const grant = JSON.parse(text) as TicketGrant;
    return grant.expiresAt > this.now() ? grant : undefined;
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private async run(command: () => Promise<unknown>): Promise<unknown> {
    try {
      return await command();
    } catch {
      throw new GatewayError('SSEG_AUTH_UNAVAILABLE', 'tickets cannot be stored or redeemed right now (shared store unreachable); retry later', {
        'Retry-After': '2',
      });
    }
  }
}
