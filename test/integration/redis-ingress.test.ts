import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.ts';
import { RedisHistory } from '../../src/history/redis/log.ts';
import { RedisPubsubIngress } from '../../src/ingress/redis-pubsub.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { runCli } from '../support/cli.ts';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';
import { until } from '../support/poll.ts';

let redis: TestRedis;
let app: Redis;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  redis = await startRedis();
  // Plays the app: it PUBLISHes and XADDs on its own connection, as apps already do.
  app = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  await app.connect();
});
afterAll(async () => {
  app.disconnect();
  await redis.stop();
});
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
  await app.flushall();
});

async function gateways(count: number, ingress: Record<string, unknown>): Promise<TestGateway[]> {
  const started: TestGateway[] = [];
  for (let index = 0; index < count; index += 1) {
    const gateway = await startGateway({ history: { backend: 'redis' }, redis: { url: redis.url, leaseTtl: '600ms' }, ingress, log: { level: 'info' } });
    open.push(gateway);
    started.push(gateway);
  }
  return started;
}

async function stream(url: string): Promise<StreamClient> {
  const client = await openStream(url);
  open.push(client);
  return client;
}

const patternSubscribers = async (): Promise<number> => Number(await app.pubsub('NUMPAT'));
const leads = (instance: TestGateway): boolean => instance.logs.some((line) => line.includes('holding the redis-pubsub lease'));

describe('Redis Pub/Sub ingress', () => {
  it('turns each app message into exactly one event for every client, with three instances on one pattern', async () => {
    const instances = await gateways(3, { redisPubsub: { patterns: ['app:*'], stripPrefix: 'app:' } });
    const clients = await Promise.all(instances.map((instance) => stream(`${instance.url}/events/orders`)));
    await until(async () => (await patternSubscribers()) >= 1, 'a leader to subscribe');
    // Only the lease holder subscribes: a second subscriber would append every message twice.
    expect(await patternSubscribers()).toBe(1);

    for (let index = 0; index < 20; index += 1) {
      await app.publish('app:orders', index % 2 === 0 ? JSON.stringify({ event: 'created', data: { n: index } }) : `plain ${index}`);
    }
    await app.publish('app:orders', JSON.stringify({ data: 'end' }));
    for (const client of clients) await client.waitFor((c) => c.events.some((event) => event.data === 'end'), 10_000, 'the last message');
    // One more round trip through the log after the last message: a duplicate would be here by now.
    const fence = await instances[0]!.publish('orders', 'fence');
    for (const client of clients) await client.waitFor((c) => c.events.some((event) => event.id === fence), 10_000, 'the fence');

    const expected = Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? ['created', JSON.stringify({ n: index })] : [undefined, `plain ${index}`]));
    for (const client of clients) {
      expect(client.events.map((event) => [event.event, event.data])).toEqual([...expected, [undefined, 'end'], [undefined, 'fence']]);
      expect(client.events.map((event) => event.id)).toEqual(clients[0]!.events.map((event) => event.id));
    }
  });

  it('hands the lease over when the leader closes, and the next leader ingests', async () => {
    const instances = await gateways(2, { redisPubsub: { patterns: ['app:*'], stripPrefix: 'app:' } });
    await until(async () => (await patternSubscribers()) === 1, 'a leader');
    expect(await app.get('sseg:lease:redis-pubsub')).not.toBeNull();
    const leader = instances.find(leads)!;
    const survivor = instances.find((instance) => instance !== leader)!;
    expect(leads(survivor)).toBe(false);
    await leader.close();
    await until(async () => leads(survivor) && (await patternSubscribers()) === 1, 'the survivor to lead');
    const client = await stream(`${survivor.url}/events/handover`);
    await app.publish('app:handover', 'after');
    await client.waitForEvents(1);
    expect(client.events[0]!.data).toBe('after');
  });

  it('fails over to another instance when the leader dies without a goodbye, and never ingests a message twice', async () => {
    // The leader is a real process, so it can die by SIGKILL: no lease release, no unsubscribe.
    const leader = runCli(['serve'], {
      SSEG_SERVER__HOST: '127.0.0.1',
      SSEG_SERVER__PORT: '0',
      SSEG_PUBLISH__TOKENS: TEST_TOKEN,
      SSEG_HISTORY__BACKEND: 'redis',
      SSEG_REDIS__URL: redis.url,
      SSEG_REDIS__LEASE_TTL: '600ms',
      SSEG_INGRESS__REDIS_PUBSUB__PATTERNS: 'app:*',
      // Env values are read as YAML scalars, and a bare `app:` would be a mapping.
      SSEG_INGRESS__REDIS_PUBSUB__STRIP_PREFIX: 'app:',
    });
    open.push({ close: () => leader.kill('SIGKILL') });
    await leader.waitForOutput(/holding the redis-pubsub lease/);
    const [survivor] = await gateways(1, { redisPubsub: { patterns: ['app:*'], stripPrefix: 'app:' } });
    const client = await stream(`${survivor!.url}/events/failover`);
    await app.publish('app:failover', 'while the first leader leads');
    await client.waitForEvents(1);

    leader.kill('SIGKILL');
    await leader.exited;
    // Until the lease lapses nobody ingests (Pub/Sub keeps nothing for absent listeners); then the survivor does.
    let sent = 0;
    while (!client.events.some((event) => event.data.startsWith('probe'))) {
      await app.publish('app:failover', `probe ${sent}`);
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await app.publish('app:failover', 'last');
    await client.waitFor((c) => c.events.some((event) => event.data === 'last'), 10_000, 'the last message');
    const datas = client.events.map((event) => event.data);
    expect(new Set(datas).size).toBe(datas.length);
    expect(datas[0]).toBe('while the first leader leads');
    expect(datas.at(-1)).toBe('last');
    const probes = datas.slice(1, -1).map((data) => Number(data.split(' ')[1]));
    // Once the survivor leads it misses nothing: the probes it got are consecutive up to the last one sent.
    expect(probes).toEqual(Array.from({ length: probes.length }, (_, index) => sent - probes.length + index));
    expect(leads(survivor!)).toBe(true);
  });

  it('drops messages past its queue bound while appends are held, counts them, warns once, and appends the rest in order', async () => {
    // The log on a Redis of its own whose writes are paused, while the apps' Redis keeps delivering:
    // what a log shard failing over looks like to the bridge.
    const logRedis = await startRedis();
    open.push({ close: () => logRedis.stop() });
    const lines: string[] = [];
    const logger = createLogger(
      'warn',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const metrics = createMetrics();
    const history = new RedisHistory({
      redis: resolveConfig({ redis: { url: logRedis.url, commandTimeout: '30s' } }).redis,
      maxEvents: 100,
      maxAgeMs: 3_600_000,
      maxChannels: 100_000,
      logger,
      metrics,
    });
    open.push(history);
    await history.start(5_000);
    const redisConfig = resolveConfig({ redis: { url: redis.url } }).redis;
    // A long lease, so no renewal (a write, held too) falls within the test.
    const bridge = new RedisPubsubIngress({
      redis: redisConfig,
      patterns: ['q:*'],
      stripPrefix: 'q:',
      leaseTtlMs: 60_000,
      history,
      logger,
      metrics,
      maxPending: 10,
    });
    open.push(bridge);
    await bridge.start();
    await until(async () => bridge.isLeader && (await patternSubscribers()) === 1, 'the bridge to lead');
    const dropped = async (): Promise<number> =>
      (await metrics.redisPubsubDropped.get()).values.find((value) => value.labels.reason === 'queue-full')?.value ?? 0;

    await logRedis.cli('CLIENT', 'PAUSE', '30000', 'WRITE');
    try {
      await app.publish('q:held', '0');
      await until(async () => /^blocked_clients:1\r?$/m.test(await logRedis.cli('INFO', 'clients')), 'the first append to be held');
      for (let index = 1; index <= 30; index += 1) await app.publish('q:held', String(index));
      // 1 in the held append, 10 queued, 20 dropped.
      await until(async () => (await dropped()) === 20, 'the messages past the bound to be dropped');
    } finally {
      await logRedis.cli('CLIENT', 'UNPAUSE');
    }
    const stored = async (): Promise<string[]> =>
      (await history.client.xrange('sseg:{log}:ch:held', '-', '+')).map(([, fields]) => fields[fields.indexOf('d') + 1]!);
    await until(async () => (await stored()).length === 11, 'the held and queued messages to be appended');
    expect(await stored()).toEqual(Array.from({ length: 11 }, (_, index) => String(index)));
    expect(await dropped()).toBe(20);
    const warnings = lines.map((line) => JSON.parse(line) as { msg: string; dropped?: number });
    expect(warnings.filter((line) => line.msg.startsWith('appends to the log are slower'))).toHaveLength(1);
    expect(warnings.find((line) => line.msg.startsWith('caught up'))).toMatchObject({ dropped: 20 });
  });

  it('skips messages that cannot be events and keeps going', async () => {
    const [instance] = await gateways(1, { redisPubsub: { patterns: ['app:*'], stripPrefix: 'app:' } });
    const client = await stream(`${instance!.url}/events/mixed`);
    await until(async () => (await patternSubscribers()) === 1, 'a leader');
    await app.publish('app:bad channel!', 'x');
    await app.publish('app:mixed', JSON.stringify({ event: 'gap', data: 'reserved name' }));
    await app.publish('app:mixed', JSON.stringify({ event: 'ok', data: 'kept', extra: 1 }));
    await app.publish('app:mixed', 'last');
    await client.waitForEvents(2);
    // An object that is not exactly an envelope is a raw payload, kept as it is.
    expect(client.events.map((event) => [event.event, event.data])).toEqual([
      [undefined, JSON.stringify({ event: 'ok', data: 'kept', extra: 1 })],
      [undefined, 'last'],
    ]);
  });
});

describe('Redis Streams ingress', () => {
  it('turns each entry an app XADDs into exactly one event, in order, with two instances reading', async () => {
    const instances = await gateways(2, { redisStreams: { keys: ['app-stream:*'], stripPrefix: 'app-stream:', scanInterval: '100ms' } });
    const clients = await Promise.all(instances.map((instance) => stream(`${instance.url}/events/jobs`)));
    for (let index = 0; index < 30; index += 1) {
      if (index === 10) await app.xadd('app-stream:jobs', '*', 'note', 'no data field: skipped');
      await app.xadd('app-stream:jobs', '*', 'event', 'job', 'data', `job ${index}`);
    }
    for (const client of clients) await client.waitForEvents(30, 10_000);
    const fence = await instances[1]!.publish('jobs', 'fence');
    for (const client of clients) await client.waitFor((c) => c.events.some((event) => event.id === fence), 10_000, 'the fence');
    for (const client of clients) {
      expect(client.events.map((event) => [event.event, event.data])).toEqual([
        ...Array.from({ length: 30 }, (_, index) => ['job', `job ${index}`]),
        [undefined, 'fence'],
      ]);
    }
    const metrics = await (await fetch(`${instances[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/sseg_redis_ingest_lag_seconds_count\{source="redis-streams"\} [1-9]/);
  });

  it('reads literal keys and honours the configured field names; an existing backlog is not replayed as new', async () => {
    await app.xadd('feed', '*', 'kind', 'old', 'body', 'backlog');
    const [instance] = await gateways(1, { redisStreams: { keys: ['feed'], eventField: 'kind', dataField: 'body' } });
    const client = await stream(`${instance!.url}/events/feed`);
    await app.xadd('feed', '*', 'kind', 'fresh', 'body', 'new entry');
    await client.waitForEvents(1);
    const fence = await instance!.publish('feed', 'fence');
    await client.waitFor((c) => c.events.some((event) => event.id === fence), 10_000, 'the fence');
    expect(client.events.map((event) => [event.event, event.data])).toEqual([
      ['fresh', 'new entry'],
      [undefined, 'fence'],
    ]);
  });
});
