import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';
import { until } from '../support/poll.ts';

let redis: TestRedis;
const scope = testScope();

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

async function gateway(): Promise<TestGateway> {
  const started = await startGateway({
    history: { backend: 'redis' },
    redis: { url: redis.url, commandTimeout: '1s' },
    streams: { retry: '100ms' },
    log: { level: 'silent' },
  });
  scope.defer(() => started.close());
  return started;
}

const stream = scope.stream;

async function readyStatus(target: TestGateway): Promise<number> {
  return (await fetch(`${target.url}/readyz`)).status;
}

describe('Redis goes away and comes back', () => {
  it('keeps streams open, answers 503 SSEG_UNAVAILABLE and turns /readyz false while Redis is down, then sends open streams a gap once it is back empty', async () => {
    const a = await gateway();
    const b = await gateway();
    const client = await stream(`${b.url}/events/outage`);
    const firstId = await a.publish('outage', 'before');
    await client.waitForEvents(1);

    await redis.kill();
    await until(async () => (await readyStatus(a)) === 503 && (await readyStatus(b)) === 503, '/readyz to turn 503');
    const refused = await a.publishRaw(JSON.stringify({ channel: 'outage', data: 'during' }));
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('SSEG_UNAVAILABLE');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(client.ended).toBe(false);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);

    await redis.restart();
    await until(async () => (await readyStatus(a)) === 200 && (await readyStatus(b)) === 200, '/readyz to turn 200 again');
    // The restarted Redis is empty: a new log (epoch). B's stream stays open and is told so in place.
    const secondId = await a.publish('outage', 'after');
    const [, gap, after] = await client.waitForEvents(3);
    expect(gap!.event).toBe('gap');
    expect(JSON.parse(gap!.data)).toMatchObject({ reason: 'epoch-changed' });
    expect(after).toMatchObject({ id: secondId, data: 'after' });
    expect(client.ended).toBe(false);
    // A client that resumes with the old id gets the same: the gap, then the new epoch.
    const resumed = await stream(`${b.url}/events/outage`, { 'Last-Event-ID': firstId });
    const [resumedGap, resumedAfter] = await resumed.waitForEvents(2);
    expect(resumedGap!.event).toBe('gap');
    expect(resumedGap!.id).toBe(gap!.id);
    expect(resumedAfter).toMatchObject({ id: secondId, data: 'after' });
    expect(secondId.split('-')[0]).not.toBe(firstId.split('-')[0]);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/sseg_redis_commands_failed_total\{op="append"\} [1-9]/);
    expect(metrics).toMatch(/sseg_publish_rejected_total\{code="SSEG_UNAVAILABLE"\} 1/);
  });

  it('delivers events appended while one instance was unsubscribed to its open streams, from the log', async () => {
    const a = await gateway();
    const b = await gateway();
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true });
    await admin.connect();
    try {
      const client = await stream(`${b.url}/events/blip`);
      const firstId = await a.publish('blip', 'one');
      await client.waitForEvents(1);

      // Cut every fan-out subscription and keep them from coming back, while Redis itself stays up.
      await admin.config('SET', 'maxclients', '1');
      const list = await admin.client('LIST');
      for (const line of String(list).split('\n')) {
        const id = /(?:^| )id=(\d+) /.exec(line)?.[1];
        if (id !== undefined && line.includes('name=sse-gateway:subscriber')) await admin.client('KILL', 'ID', id);
      }
      await until(async () => (await readyStatus(b)) === 503, 'B to notice its subscription is gone');
      const missedId = await a.publish('blip', 'two, while B could not hear');
      await admin.config('SET', 'maxclients', '10000');

      const [, missed] = await client.waitForEvents(2);
      expect(missed).toMatchObject({ id: missedId, data: 'two, while B could not hear' });
      await a.publish('blip', 'three');
      await client.waitForEvents(3);
      expect(client.events.map((event) => event.data)).toEqual(['one', 'two, while B could not hear', 'three']);
      expect(client.ended).toBe(false);
      const resumed = await stream(`${b.url}/events/blip`, { 'Last-Event-ID': firstId });
      await resumed.waitForEvents(2);
      expect(resumed.events.map((event) => event.data)).toEqual(['two, while B could not hear', 'three']);
    } finally {
      await admin.config('SET', 'maxclients', '10000').catch(() => undefined);
      admin.disconnect();
    }
  });

  it('starts, and reports not ready, when Redis is not there at all', async () => {
    await redis.kill();
    try {
      const lonely = await gateway();
      expect(await readyStatus(lonely)).toBe(503);
      const refused = await lonely.publishRaw(JSON.stringify({ channel: 'x', data: 'y' }));
      expect(refused.body.error).toBe('SSEG_UNAVAILABLE');
      const metrics = await (await fetch(`${lonely.url}/metrics`)).text();
      expect(metrics).toMatch(/sseg_redis_connected\{role="command"\} 0/);
    } finally {
      await redis.restart();
    }
  });
});

describe('Redis crashes under load', () => {
  it('acknowledges only what survives: across a kill -9 and restart of an appendfsync-always Redis, every 200 is in the log once and in order, and every other answer is a 503', async () => {
    const durable = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
    scope.defer(() => durable.stop());
    const a = await startGateway({
      history: { backend: 'redis', maxEvents: 10_000 },
      redis: { url: durable.url, commandTimeout: '1s' },
      log: { level: 'silent' },
    });
    scope.defer(() => a.close());
    const channels = ['d0', 'd1', 'd2'];
    const acked = new Map(channels.map((channel) => [channel, [] as string[]]));
    const refused: number[] = [];
    const ackedCount = (): number => [...acked.values()].reduce((sum, ids) => sum + ids.length, 0);
    let stop = false;
    const deadline = Date.now() + 20_000;
    // One publisher per channel, each waiting for its answer: its acknowledged ids are in publish order.
    const publisher = async (channel: string): Promise<void> => {
      for (let index = 0; !stop && index < 3_000 && Date.now() < deadline; index += 1) {
        const answer = await a.publishRaw(JSON.stringify({ channel, data: `${channel} ${index}` }));
        if (answer.status === 200) {
          acked.get(channel)!.push(answer.body.id!);
        } else {
          refused.push(answer.status);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    };
    const publishing = Promise.all(channels.map(publisher));
    try {
      await until(() => ackedCount() >= 100, 'publishes before the crash');
      await durable.kill();
      await until(() => refused.length >= 3, 'publishes refused while Redis is down');
      await durable.restart({ keepData: true });
      const atRestart = ackedCount();
      await until(() => ackedCount() >= atRestart + 100, 'publishes after the restart', 15_000);
    } finally {
      stop = true;
      await publishing;
    }

    expect(new Set(refused)).toEqual(new Set([503]));
    const epoch = acked.get('d0')![0]!.split('-')[0]!;
    for (const ids of acked.values()) expect(ids.every((id) => id.startsWith(`${epoch}-`))).toBe(true);
    for (const [channel, ids] of acked) {
      const replay = await stream(`${a.url}/events/${channel}`, { 'Last-Event-ID': `${epoch}-0` });
      await replay.waitFor((c) => c.events.some((event) => event.id === ids.at(-1)), 10_000, 'the last acknowledged event');
      const replayed = replay.events.map((event) => (event.event === 'gap' ? 'gap' : event.id!));
      expect(new Set(replayed).size).toBe(replayed.length);
      expect(replayed).not.toContain('gap');
      // A 503 may still have been stored (the reply was lost with the connection); a 200 always was.
      const acknowledged = new Set(ids);
      expect(replayed.filter((id) => acknowledged.has(id))).toEqual(ids);
      const seqs = replayed.map((id) => Number(id.split('-')[1]));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
  }, 60_000);
});

describe('Redis comes back with less than it had', () => {
  it('starts a new epoch when Redis restarts from an older snapshot: a connected client stays open, gets a gap and then the new events, and no id names two events', async () => {
    const a = await gateway();
    const b = await gateway();
    const client = await stream(`${b.url}/events/rewind`);
    const kept = await a.publish('rewind', 'kept');
    await client.waitForEvents(1);
    // The snapshot a restore (or a replica that had not caught up) brings back: one event, same epoch.
    await redis.cli('SAVE');
    const lost: string[] = [];
    for (let index = 1; index <= 3; index += 1) lost.push(await a.publish('rewind', `lost ${index}`));
    await client.waitForEvents(4);

    await redis.kill();
    await redis.restart({ keepData: true });
    expect(await redis.cli('HGET', 'sseg:{log}:meta', 'seq')).toBe('1');
    await until(async () => (await readyStatus(a)) === 200 && (await readyStatus(b)) === 200, '/readyz to turn 200 again');
    const fresh = await a.publish('rewind', 'new');

    // Without a new epoch, seq 2 would be issued again (as "new") and B would drop its notification as old news.
    const [, , , , liveGap, liveNew] = await client.waitForEvents(6);
    expect(liveGap!.event).toBe('gap');
    expect(JSON.parse(liveGap!.data)).toMatchObject({ reason: 'epoch-changed' });
    expect(liveNew).toMatchObject({ id: fresh, data: 'new' });
    expect(client.ended).toBe(false);
    const resumed = await stream(`${b.url}/events/rewind`, { 'Last-Event-ID': lost.at(-1)! });
    const [gap, event] = await resumed.waitForEvents(2);
    expect(gap!.event).toBe('gap');
    expect(JSON.parse(gap!.data)).toMatchObject({ reason: 'epoch-changed' });
    expect(event).toMatchObject({ id: fresh, data: 'new' });
    expect([kept, ...lost]).not.toContain(fresh);
    const next = await b.publish('rewind', 'newer');
    await resumed.waitForEvents(3);
    expect(resumed.events[2]).toMatchObject({ id: next, data: 'newer' });

    // Every id of the lost writes now answers with a gap, never with another event under that id.
    for (const id of lost) {
      const again = await stream(`${a.url}/events/rewind`, { 'Last-Event-ID': id });
      await again.waitForEvents(3);
      expect(again.events.map((item) => item.event ?? item.data)).toEqual(['gap', 'new', 'newer']);
      expect(again.events.slice(1).map((item) => item.id)).not.toContain(id);
    }
  });
});
