import { describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { until } from '../support/poll.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';

const scope = testScope();

async function gatewayOn(redis: TestRedis): Promise<TestGateway> {
  const started = await startGateway({
    history: { backend: 'redis', maxEvents: 10_000 },
    redis: { url: redis.url, commandTimeout: '1s' },
    streams: { retry: '100ms' },
    log: { level: 'silent' },
  });
  scope.defer(() => started.close());
  return started;
}

const ready = async (target: TestGateway): Promise<boolean> => (await fetch(`${target.url}/readyz`)).status === 200;

describe('Redis reconnects: streams stay open', () => {
  it('keeps every stream open across a kill -9 of a Redis that kept every byte, and delivers every acknowledged event once, in order, with no gap', async () => {
    const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
    scope.defer(() => redis.stop());
    // A publishes without pause; B holds the streams, so appends resume on A before B's subscription is back.
    const a = await gatewayOn(redis);
    const b = await gatewayOn(redis);
    const channels = ['keep0', 'keep1'];
    const clients = await Promise.all(channels.map((channel) => scope.stream(`${b.url}/events/${channel}`)));
    const acked = new Map(channels.map((channel) => [channel, [] as string[]]));
    const ackedCount = (): number => [...acked.values()].reduce((sum, ids) => sum + ids.length, 0);
    let stop = false;
    const publisher = async (channel: string): Promise<void> => {
      for (let index = 0; !stop; index += 1) {
        const answer = await a.publishRaw(JSON.stringify({ channel, data: `${channel} ${index}` }));
        if (answer.status === 200) acked.get(channel)!.push(answer.body.id!);
        else await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const publishing = Promise.all(channels.map(publisher));
    try {
      await until(() => ackedCount() >= 50, 'publishes before the crash');
      await redis.kill();
      await until(async () => !(await ready(b)), 'B to notice');
      await redis.restart({ keepData: true });
      await until(async () => (await ready(a)) && (await ready(b)), 'both ready again', 15_000);
      const atRestart = ackedCount();
      await until(() => ackedCount() >= atRestart + 100, 'publishes after the restart', 15_000);
    } finally {
      stop = true;
      await publishing;
    }

    for (const [index, channel] of channels.entries()) {
      const ids = acked.get(channel)!;
      const client = clients[index]!;
      await client.waitFor((c) => c.events.some((event) => event.id === ids.at(-1)), 10_000, 'the last acknowledged event');
      expect(client.ended).toBe(false);
      expect(client.events.filter((event) => event.event === 'gap')).toEqual([]);
      const received = client.events.map((event) => event.id!);
      expect(new Set(received).size).toBe(received.length);
      // A 503 may have been stored (its reply lost with the connection) and is then delivered; every 200 is, in order.
      const acknowledged = new Set(ids);
      expect(received.filter((id) => acknowledged.has(id))).toEqual(ids);
      const seqs = received.map((id) => Number(id.split('-')[1]));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
  }, 60_000);

  it('keeps streams open when Redis comes back empty: each gets an epoch-changed gap, then the new epoch events', async () => {
    const redis = await startRedis();
    scope.defer(() => redis.stop());
    const a = await gatewayOn(redis);
    const b = await gatewayOn(redis);
    const onB = await scope.stream(`${b.url}/events/wiped`);
    const onA = await scope.stream(`${a.url}/events/wiped`);
    const other = await scope.stream(`${b.url}/events/wiped-too`);
    const both = await scope.stream(`${b.url}/events?channel=wiped&channel=wiped-too`);
    const first = await a.publish('wiped', 'before');
    await b.publish('wiped-too', 'before too');
    await onB.waitForEvents(1);
    await onA.waitForEvents(1);
    await other.waitForEvents(1);
    await both.waitForEvents(2);

    await redis.kill();
    await until(async () => !(await ready(a)) && !(await ready(b)), 'both to notice');
    await redis.restart();
    await until(async () => (await ready(a)) && (await ready(b)), 'both ready again', 15_000);
    const after = await a.publish('wiped', 'after');
    const afterToo = await b.publish('wiped-too', 'after too');
    expect(after.split('-')[0]).not.toBe(first.split('-')[0]);

    for (const [client, data, id] of [
      [onB, 'after', after],
      [onA, 'after', after],
      [other, 'after too', afterToo],
    ] as const) {
      const [, gap, next] = await client.waitForEvents(3, 10_000);
      expect(gap!.event).toBe('gap');
      expect(JSON.parse(gap!.data)).toMatchObject({ reason: 'epoch-changed' });
      // Resuming from the gap's own id continues in the new epoch, right where it began.
      expect(gap!.id!.split('-')[0]).toBe(id.split('-')[0]);
      expect(next).toMatchObject({ id, data });
      expect(client.ended).toBe(false);
    }
    // A stream of several channels gets the gap of each, then the new events in id order.
    await both.waitForEvents(6, 10_000);
    expect(
      both.events.slice(2).map((event) => (event.event === 'gap' ? `gap ${(JSON.parse(event.data) as { channels: string[] }).channels.join('+')}` : event.id)),
    ).toEqual(['gap wiped', 'gap wiped-too', after, afterToo]);
    expect(both.ended).toBe(false);
    const next = await b.publish('wiped', 'later');
    await onB.waitForEvents(4);
    expect(onB.events[3]).toMatchObject({ id: next, data: 'later' });
  }, 60_000);
});
