import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

let redis: TestRedis;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
  await redis.cli('FLUSHALL');
});

async function gateways(count: number, extra: Record<string, unknown> = {}): Promise<TestGateway[]> {
  const started: TestGateway[] = [];
  for (let index = 0; index < count; index += 1) {
    const gateway = await startGateway({
      history: { backend: 'redis', ...(extra['history'] as object) },
      redis: { url: redis.url },
      log: { level: 'warn' },
      ...without(extra, 'history'),
    });
    open.push(gateway);
    started.push(gateway);
  }
  return started;
}

async function stream(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const client = await openStream(url, headers);
  open.push(client);
  return client;
}

function without(record: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([name]) => name !== key));
}

const datas = (client: StreamClient): string[] => client.events.filter((event) => event.event !== 'gap').map((event) => event.data);

describe('several gateways on one Redis', () => {
  it('delivers an event published on one instance to subscribers on every instance, with the same id', async () => {
    const [a, b, c] = await gateways(3);
    const onB = await stream(`${b!.url}/events/news`);
    const onC = await stream(`${c!.url}/events/news`);
    const id = await a!.publish('news', 'hello');
    const [fromB] = await onB.waitForEvents(1);
    const [fromC] = await onC.waitForEvents(1);
    expect(fromB).toMatchObject({ id, data: 'hello' });
    expect(fromC).toMatchObject({ id, data: 'hello' });
  });

  it('holds one fan-out subscription per instance, however many streams and channels its clients open', async () => {
    const instances = await gateways(2);
    const subscribers = async (): Promise<number> => Number((await redis.cli('PUBSUB', 'NUMSUB', 'sseg:{log}:events')).split('\n')[1]);
    expect(await subscribers()).toBe(2);
    const start = await instances[0]!.publish('elsewhere', 'an id to resume from');
    const clients: StreamClient[] = [];
    for (const instance of instances) {
      // New streams and resuming ones (which read the log first), on one channel each and on several.
      for (let index = 0; index < 4; index += 1)
        clients.push(await stream(`${instance.url}/events/sub${index}`, index % 2 === 0 ? {} : { 'Last-Event-ID': start }));
      clients.push(await stream(`${instance.url}/events?channel=sub0&channel=sub1&channel=sub2&channel=sub3`, { 'Last-Event-ID': start }));
    }
    // Every stream is live (it got an event through the fan-out), and still one subscription each.
    for (let index = 0; index < 4; index += 1) await instances[index % 2]!.publish(`sub${index}`, `to sub${index}`);
    for (const client of clients) await client.waitForEvents(1);
    expect(await subscribers()).toBe(2);
  });

  it('numbers events from every instance in one order that every subscriber sees', async () => {
    const [a, b] = await gateways(2);
    const onA = await stream(`${a!.url}/events/race`);
    const onB = await stream(`${b!.url}/events/race`);
    const ids = await Promise.all(Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? a! : b!).publish('race', String(index))));
    await onA.waitForEvents(40);
    await onB.waitForEvents(40);
    expect(onA.events.map((event) => event.id)).toEqual(onB.events.map((event) => event.id));
    const seqs = onA.events.map((event) => Number(event.id!.split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(onA.events.map((event) => event.id))).toEqual(new Set(ids));
  });

  it('resumes on another instance exactly after the Last-Event-ID, without a duplicate', async () => {
    const [a, b] = await gateways(2);
    const first = await stream(`${a!.url}/events/feed`);
    for (let index = 1; index <= 3; index += 1) await a!.publish('feed', `e${index}`);
    const seen = await first.waitForEvents(3);
    first.close();
    for (let index = 4; index <= 6; index += 1) await b!.publish('feed', `e${index}`);
    const resumed = await stream(`${b!.url}/events/feed`, { 'Last-Event-ID': seen[1]!.id! });
    await resumed.waitForEvents(4);
    await b!.publish('feed', 'e7');
    await resumed.waitForEvents(5);
    expect(datas(resumed)).toEqual(['e3', 'e4', 'e5', 'e6', 'e7']);
  });

  it('resumes several channels from one id on another instance, in global order', async () => {
    const [a, b] = await gateways(2);
    const first = await stream(`${a!.url}/events?channel=x&channel=y`);
    await a!.publish('x', 'x1');
    await b!.publish('y', 'y1');
    await a!.publish('z', 'not subscribed');
    const [, last] = await first.waitForEvents(2);
    first.close();
    await b!.publish('y', 'y2');
    await a!.publish('x', 'x2');
    await b!.publish('z', 'not subscribed either');
    await a!.publish('y', 'y3');
    const resumed = await stream(`${b!.url}/events?channel=x&channel=y`, { 'Last-Event-ID': last!.id! });
    await resumed.waitForEvents(3);
    expect(datas(resumed)).toEqual(['y2', 'x2', 'y3']);
    expect(resumed.events.every((event) => event.event !== 'gap')).toBe(true);
  });

  it('has no hole or duplicate at the replay/live seam while another instance publishes without pause', async () => {
    const [a, b] = await gateways(2);
    let stop = false;
    let published = 0;
    const publisher = (async () => {
      while (!stop) {
        await a!.publish('busy', String(published));
        published += 1;
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Reconnect several times mid-flow, each from the last id seen: every resume races notifications against its read.
      const received: string[] = [];
      let lastId: string | undefined;
      for (let round = 0; round < 20; round += 1) {
        const headers: Record<string, string> = lastId === undefined ? {} : { 'Last-Event-ID': lastId };
        const client = await stream(`${(round % 2 === 0 ? b! : a!).url}/events/busy`, headers);
        await client.waitFor((c) => c.events.length >= 15, 10_000, '15 events');
        client.close();
        for (const event of client.events) {
          expect(event.event).not.toBe('gap');
          received.push(event.data);
        }
        lastId = client.events.at(-1)!.id;
      }
      const numbers = received.map(Number);
      const first = numbers[0]!;
      expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, index) => first + index));
    } finally {
      stop = true;
      await publisher;
    }
  });

  it('sends an exact gap when the channel history was trimmed past the client', async () => {
    const [a, b] = await gateways(2, { history: { maxEvents: 3 } });
    const firstId = await a!.publish('small', 'm1');
    await a!.publish('other', 'o1');
    for (let index = 2; index <= 6; index += 1) await a!.publish('small', `m${index}`);
    const resumed = await stream(`${b!.url}/events/small`, { 'Last-Event-ID': firstId });
    await resumed.waitForEvents(4);
    const [gap, ...rest] = resumed.events;
    expect(gap!.event).toBe('gap');
    expect(JSON.parse(gap!.data)).toMatchObject({ reason: 'trimmed', channels: ['small'] });
    expect(rest.map((event) => event.data)).toEqual(['m4', 'm5', 'm6']);
    // The gap's id is the last trimmed event (m3): resuming from it is exact.
    const again = await stream(`${a!.url}/events/small`, { 'Last-Event-ID': gap!.id! });
    await again.waitForEvents(3);
    expect(datas(again)).toEqual(['m4', 'm5', 'm6']);
    expect(again.events.some((event) => event.event === 'gap')).toBe(false);
  });

  it('does not report a gap for a channel whose only trimmed events come before the client', async () => {
    const [a] = await gateways(1, { history: { maxEvents: 2 } });
    for (let index = 1; index <= 4; index += 1) await a!.publish('t', `t${index}`);
    const id = await a!.publish('u', 'u1');
    await a!.publish('t', 't5');
    const resumed = await stream(`${a!.url}/events/t`, { 'Last-Event-ID': id });
    await resumed.waitForEvents(1);
    expect(resumed.events.map((event) => [event.event, event.data])).toEqual([[undefined, 't5']]);
  });

  it('answers an id from an earlier log (Redis wiped) with an epoch-changed gap', async () => {
    const [a] = await gateways(1);
    const id = await a!.publish('wiped', 'before');
    await redis.cli('FLUSHALL');
    const resumed = await stream(`${a!.url}/events/wiped`, { 'Last-Event-ID': id });
    await resumed.waitForEvents(1);
    expect(resumed.events[0]!.event).toBe('gap');
    expect(JSON.parse(resumed.events[0]!.data)).toMatchObject({ reason: 'epoch-changed' });
  });

  it('appends a batch atomically with consecutive ids', async () => {
    const [a, b] = await gateways(2);
    const onB = await stream(`${b!.url}/events?channel=p&channel=q`);
    const answer = await a!.publishRaw(
      JSON.stringify({
        events: [
          { channel: 'p', data: '1' },
          { channel: 'q', data: '2', event: 'named' },
          { channel: 'p', data: '3' },
        ],
      }),
    );
    expect(answer.status).toBe(200);
    const seqs = answer.body.ids!.map((id) => Number(id.split('-')[1]));
    expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
    await onB.waitForEvents(3);
    expect(onB.events.map((event) => [event.id, event.event, event.data])).toEqual([
      [answer.body.ids![0], undefined, '1'],
      [answer.body.ids![1], 'named', '2'],
      [answer.body.ids![2], undefined, '3'],
    ]);
  });

  it('keeps ids valid across gateway restarts: the epoch lives in Redis', async () => {
    const [a] = await gateways(1);
    const id = await a!.publish('kept', 'one');
    await a!.close();
    const [b] = await gateways(1);
    await b!.publish('kept', 'two');
    const resumed = await stream(`${b!.url}/events/kept`, { 'Last-Event-ID': id });
    await resumed.waitForEvents(1);
    expect(datas(resumed)).toEqual(['two']);
    expect(resumed.events[0]!.id!.split('-')[0]).toBe(id.split('-')[0]);
  });

  it('exports the redis metrics', async () => {
    const [a] = await gateways(1);
    const id = await a!.publish('m', 'x');
    const client = await stream(`${a!.url}/events/m`, { 'Last-Event-ID': id.replace(/-\d+$/, '-0') });
    await client.waitForEvents(1);
    const text = await (await fetch(`${a!.url}/metrics`)).text();
    expect(text).toMatch(/sseg_redis_connected\{role="command"\} 1/);
    expect(text).toMatch(/sseg_redis_connected\{role="subscriber"\} 1/);
    expect(text).toMatch(/sseg_redis_replay_reads_total 1/);
    expect(text).toMatch(/sseg_redis_ingest_lag_seconds_count\{source="fanout"\} [1-9]/);
  });
});
