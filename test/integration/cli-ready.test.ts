import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../support/cli.ts';
import { TEST_TOKEN } from '../support/gateway.ts';
import { until } from '../support/poll.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';

let redis: TestRedis;
let app: Redis;
let gateway: CliProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  app = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  await app.connect();
});
afterAll(async () => {
  gateway?.kill('SIGKILL');
  await gateway?.exited;
  app.disconnect();
  await redis.stop();
});

describe('the listening line', () => {
  it('comes once the ingresses run: an entry an app adds on seeing it is ingested, not taken for backlog', async () => {
    // A source that already has entries: its past is skipped, everything after the first look is an event.
    await app.xadd('feed', '*', 'data', 'backlog from before the gateway');
    gateway = runCli(['serve'], {
      SSEG_SERVER__HOST: '127.0.0.1',
      SSEG_SERVER__PORT: '0',
      SSEG_PUBLISH__TOKENS: TEST_TOKEN,
      SSEG_HISTORY__BACKEND: 'redis',
      SSEG_REDIS__URL: redis.url,
      SSEG_INGRESS__REDIS_STREAMS__KEYS: 'feed',
    });
    await gateway.waitForOutput(/"msg":"listening"/);
    await app.xadd('feed', '*', 'data', 'added once the gateway said it listens');

    const logged = async (): Promise<string[]> => {
      const entries = await app.xrange('sseg:{log}:ch:feed', '-', '+');
      return entries.map(([, fields]) => fields.join(' '));
    };
    await until(async () => (await logged()).length > 0, 'the entry to reach the log', 10_000);
    const entries = await logged();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toContain('added once the gateway said it listens');
  });
});
