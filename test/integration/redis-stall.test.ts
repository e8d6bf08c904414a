import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/poll.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';

let redis: TestRedis;
let pid = 0;
const scope = testScope();

beforeAll(async () => {
  redis = await startRedis();
  pid = Number(/^process_id:(\d+)/m.exec(await redis.cli('INFO', 'server'))?.[1]);
});
afterAll(async () => {
  if (pid > 0) process.kill(pid, 'SIGCONT');
  await redis.stop();
});

interface Outcome {
  readonly data: string;
  readonly status: number;
  readonly id?: string | undefined;
}

describe('Redis stalls with its connections open (SIGSTOP)', () => {
  it('turns /readyz 503 while Redis does not answer, stores nothing it answered 503 for, and keeps every channel in publish order', async () => {
    const gw = await scope.gateway({
      history: { backend: 'redis', maxEvents: 10_000 },
      redis: { url: redis.url, commandTimeout: '500ms' },
      log: { level: 'silent' },
    });
    const readyz = async (): Promise<number> => (await fetch(`${gw.url}/readyz`)).status;
    const channels = ['stall0', 'stall1', 'stall2'];
    const live = await Promise.all(channels.map((channel) => scope.stream(`${gw.url}/events/${channel}`)));
    const outcomes = new Map(channels.map((channel) => [channel, [] as Outcome[]]));
    const publish = async (channel: string, data: string): Promise<Outcome> => {
      const answer = await gw.publishRaw(JSON.stringify({ channel, data }));
      const outcome = { data, status: answer.status, id: answer.body.id };
      outcomes.get(channel)!.push(outcome);
      return outcome;
    };
    let stop = false;
    // One publisher per channel, each waiting for its answer before the next: its events are in publish order.
    const publisher = async (channel: string): Promise<void> => {
      for (let index = 0; !stop; index += 1) {
        const { status } = await publish(channel, `${channel} ${index}`);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const count = (status: number): number => [...outcomes.values()].flat().filter((outcome) => outcome.status === status).length;
    const publishing = Promise.all(channels.map(publisher));
    let stopped = false;
    try {
      await until(() => count(200) >= 30, 'publishes before the stall');
      process.kill(pid, 'SIGSTOP');
      stopped = true;
      // Sent to the stalled server at once, before anything could notice: they sit in its socket until it resumes.
      const burst = Promise.all(Array.from({ length: 30 }, (_, index) => publish(channels[index % 3]!, `burst ${index}`)));
      await until(async () => (await readyz()) === 503, '/readyz to report the stalled Redis', 5_000);
      await until(() => count(503) >= 40, 'publishes refused during the stall', 10_000);
      expect((await burst).map((outcome) => outcome.status)).toEqual(Array.from({ length: 30 }, () => 503));
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
      process.kill(pid, 'SIGCONT');
      stopped = false;
      await until(async () => (await readyz()) === 200, '/readyz to turn 200 again', 10_000);
      const atResume = count(200);
      await until(() => count(200) >= atResume + 30, 'publishes after the stall', 10_000);
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      stop = true;
      await publishing;
    }

    expect(new Set([...outcomes.values()].flat().map((outcome) => outcome.status))).toEqual(new Set([200, 503]));
    for (const [index, channel] of channels.entries()) {
      const answered = outcomes.get(channel)!;
      const acked = answered.filter((outcome) => outcome.status === 200);
      const refused = new Set(answered.filter((outcome) => outcome.status === 503).map((outcome) => outcome.data));
      const epoch = acked[0]!.id!.split('-')[0]!;
      // The log from its start, and the stream subscribed before the stall: the same events, every 200 and no 503.
      const replay = await scope.stream(`${gw.url}/events/${channel}`, { 'Last-Event-ID': `${epoch}-0` });
      const stream = live[index]!;
      for (const client of [replay, stream]) {
        await client.waitFor((c) => c.events.some((event) => event.id === acked.at(-1)!.id), 10_000, 'the last acknowledged event');
        const received = client.events.map((event) => event.data);
        expect(received.filter((data) => refused.has(data))).toEqual([]);
        expect(client.events.map((event) => event.id)).toEqual(acked.map((outcome) => outcome.id));
        expect(received).toEqual(acked.map((outcome) => outcome.data));
      }
      expect(stream.ended).toBe(false);
    }
  }, 60_000);
});
