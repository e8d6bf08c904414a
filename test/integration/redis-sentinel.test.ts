import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { startSentinelSet, type TestSentinelSet } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';
import { until } from '../support/poll.ts';

let set: TestSentinelSet;
const scope = testScope();

beforeAll(async () => {
  set = await startSentinelSet();
});
afterAll(() => set.stop());

async function gateway(): Promise<TestGateway> {
  const started = await startGateway({
    history: { backend: 'redis' },
    redis: { mode: 'sentinel', sentinels: [set.sentinel.address], sentinelName: 'mymaster' },
    streams: { retry: '100ms' },
    log: { level: 'silent' },
  });
  scope.defer(() => started.close());
  return started;
}

const stream = scope.stream;

describe('several gateways behind Redis Sentinel', () => {
  it('finds the master through Sentinel, follows a failover, and keeps the log it replicated', async () => {
    const a = await gateway();
    const b = await gateway();
    const client = await stream(`${b.url}/events/s`);
    const first = await a.publish('s', 'before failover');
    await client.waitForEvents(1);
    await until(async () => (await set.replica.cli('XLEN', 'sseg:{log}:ch:s')) === '1', 'the replica to have the event', 10_000);

    await set.master.kill();
    await until(
      async () => (await set.sentinel.cli('SENTINEL', 'get-master-addr-by-name', 'mymaster')).endsWith(String(set.replica.port)),
      'the failover',
      20_000,
    );
    await until(async () => (await a.publishRaw(JSON.stringify({ channel: 's', data: 'after failover' }))).status === 200, 'publish to work again', 20_000);
    // B follows the failover on its own schedule; a replay read before it has would be refused (and retried by a browser).
    await until(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'B to be ready again', 20_000);

    // Same log on the promoted replica: resuming from the first id is exact, with no gap.
    const resumed = await stream(`${b.url}/events/s`, { 'Last-Event-ID': first });
    await resumed.waitForEvents(1);
    expect(resumed.events.map((event) => [event.event, event.data])).toEqual([[undefined, 'after failover']]);
  }, 60_000);
});
