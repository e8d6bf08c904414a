import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClient } from '../../src/redis/connect.ts';
import { LeaderLease } from '../../src/redis/lease.ts';
import { createLogger } from '../../src/logger.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { until } from '../support/poll.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';

describe('the leader lease (real redis-server)', () => {
  let redis: TestRedis;
  const clients: RedisClient[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis.stop();
  });

  function lease(events: string[], name: string): LeaderLease {
    const client = connectRedis(resolveConfig({ redis: { url: redis.url } }).redis, 'command', { logger: createLogger('silent') });
    clients.push(client);
    return new LeaderLease({
      client,
      key: 'test:lease',
      ttlMs: 600,
      logger: createLogger('silent'),
      onAcquired: () => Promise.resolve(void events.push(`${name} acquired`)),
      onLost: () => Promise.resolve(void events.push(`${name} lost`)),
      onCommandFailed: () => undefined,
    });
  }

  it('is held by one instance at a time, handed over at once on close, and taken over when its holder stops renewing', async () => {
    const events: string[] = [];
    const a = lease(events, 'a');
    const b = lease(events, 'b');
    a.start();
    await until(() => a.held, 'a to hold the lease');
    b.start();
    // b competes for several renewal periods and never holds it while a does.
    for (let i = 0; i < 5; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(a.held && b.held).toBe(false);
      expect(b.held).toBe(false);
    }
    await a.close();
    await until(() => b.held, 'b to take the lease over');
    expect(events).toEqual(['a acquired', 'b acquired']);
    // A holder whose key vanished (another instance's view of Redis) steps down at its next renewal.
    await redis.cli('SET', 'test:lease', 'someone-else');
    await until(() => events.includes('b lost'), 'b to step down');
    expect(b.held).toBe(false);
    await b.close();
  });
});
