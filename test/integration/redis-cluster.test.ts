import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { startRedisCluster, type TestRedisCluster } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';

let cluster: TestRedisCluster;
const scope = testScope();

beforeAll(async () => {
  cluster = await startRedisCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster.stop();
});

async function gateway(keyPrefix: string): Promise<TestGateway> {
  const started = await startGateway({ history: { backend: 'redis' }, redis: { mode: 'cluster', nodes: cluster.nodes, keyPrefix }, log: { level: 'silent' } });
  scope.defer(() => started.close());
  return started;
}

const stream = scope.stream;

describe('several gateways on a Redis Cluster', () => {
  it('delivers across instances through sharded Pub/Sub and resumes on another instance', async () => {
    const a = await gateway('c1:');
    const b = await gateway('c1:');
    const live = await stream(`${b.url}/events?channel=n&channel=m`);
    const first = await a.publish('n', 'one');
    await b.publish('m', 'two');
    await a.publish('n', 'three');
    await live.waitForEvents(3);
    expect(live.events.map((event) => event.data)).toEqual(['one', 'two', 'three']);
    // Fan-out rides sharded Pub/Sub: both instances are SSUBSCRIBEd on the shard that owns {log}.
    // Polled: a's own subscription is not proven by any event it received.
    const subscribers = async (): Promise<number> => {
      const counts = await cluster.cliAll('PUBSUB', 'SHARDNUMSUB', 'c1:{log}:events');
      return counts.map((text) => Number(/^\d+$/m.exec(text)?.[0] ?? 0)).reduce((x, y) => x + y, 0);
    };
    await expect.poll(subscribers, { timeout: 5_000 }).toBe(2);
    live.close();
    const resumed = await stream(`${a.url}/events?channel=n&channel=m`, { 'Last-Event-ID': first });
    await resumed.waitForEvents(2);
    expect(resumed.events.map((event) => event.data)).toEqual(['two', 'three']);
  });
});
