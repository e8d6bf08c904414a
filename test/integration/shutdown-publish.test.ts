import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/redis/keys.ts';
import { runCli } from '../support/cli.ts';
import { startGateway } from '../support/gateway.ts';
import { until } from '../support/poll.ts';
import { startRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';
import { testScope } from '../support/scope.ts';

const scope = testScope();
const TOKEN = 'shutdown-publish-token-0123456789';

interface Outcome {
  readonly data: string;
  /** HTTP status, or the connection error's code (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…). */
  readonly answer: number | string;
  readonly id?: string | undefined;
}

async function publish(url: string, data: string): Promise<Outcome> {
  try {
    const response = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'sd', data }),
    });
    const body = (await response.json()) as { id?: string };
    return { data, answer: response.status, id: body.id };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { data, answer: cause?.code ?? String(error) };
  }
}

describe('SIGTERM while publishes are in flight', () => {
  it('answers every publish it stored: each is a 200 whose id is in the log, or was not stored at all, never a reset connection after storing', async () => {
    const redis = await startRedis();
    scope.defer(() => redis.stop());
    const cli = runCli(['serve', '--host', '127.0.0.1', '--port', '0'], {
      SSEG_PUBLISH__TOKENS: TOKEN,
      SSEG_HISTORY__BACKEND: 'redis',
      SSEG_REDIS__URL: redis.url,
      SSEG_SERVER__SHUTDOWNTIMEOUT: '5s',
    });
    scope.defer(() => cli.kill('SIGKILL'));
    const [line] = await cli.waitForOutput(/\{[^\n]*"msg":"listening"[^\n]*\}/);
    const url = (JSON.parse(line) as { address: string }).address;

    // Enough open streams that ending them all is not one short turn of the event loop.
    const streams: StreamClient[] = [];
    for (let index = 0; index < 1_000; index += 1) streams.push(await openStream(`${url}/events/idle${index % 50}`));
    scope.defer(() => streams.forEach((stream) => stream.close()));
    const watcher = await openStream(`${url}/events/sd`);
    scope.defer(() => watcher.close());

    const outcomes: Outcome[] = [];
    let exited = false;
    void cli.exited.then(() => (exited = true));
    // Publishers on kept-alive connections, each sending its next publish as soon as it has an answer.
    const publisher = async (worker: number): Promise<void> => {
      for (let index = 0; !exited; index += 1) {
        const outcome = await publish(url, `p-${worker}-${index}`);
        outcomes.push(outcome);
        if (typeof outcome.answer === 'string') return;
      }
    };
    const publishing = Promise.all(Array.from({ length: 32 }, (_, worker) => publisher(worker)));
    await until(() => outcomes.filter((outcome) => outcome.answer === 200).length >= 200, 'publishes before the signal');
    cli.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    await publishing;

    const admin = new Redis({ host: '127.0.0.1', port: redis.port });
    scope.defer(() => admin.disconnect());
    const stored = new Map<string, string>();
    for (const [entryId, fields] of await admin.xrange(new RedisKeys('sseg:').stream('sd'), '-', '+')) {
      const data = fields[fields.indexOf('d') + 1]!;
      stored.set(data, entryId.split('-')[0]!);
    }
    const answered = outcomes.filter((outcome) => outcome.answer === 200);
    for (const outcome of answered) expect(stored.get(outcome.data), outcome.data).toBe(outcome.id!.split('-')[1]);
    const storedButNotAnswered = outcomes.filter((outcome) => outcome.answer !== 200 && stored.has(outcome.data));
    expect(storedButNotAnswered).toEqual([]);
    expect(stored.size).toBe(answered.length);
    // Every refusal says "not stored": a 503 while draining, or no connection at all.
    for (const outcome of outcomes) if (outcome.answer !== 200) expect(['ECONNREFUSED', 503, 'ECONNRESET', 'UND_ERR_SOCKET']).toContain(outcome.answer);
  }, 60_000);
});

describe('close() while an append waits on a slow Redis', () => {
  it('answers the publishes already accepted before it cuts their connections', async () => {
    const redis = await startRedis();
    scope.defer(() => redis.stop());
    const gw = await startGateway({
      history: { backend: 'redis' },
      redis: { url: redis.url, commandTimeout: '5s' },
      publish: { tokens: [TOKEN] },
      log: { level: 'silent' },
    });
    // Redis holds every write (scripts included) for 800 ms: the appends sent meanwhile wait in it, then are stored.
    await redis.cli('CLIENT', 'PAUSE', '800', 'WRITE');
    const outcomes = Promise.all(Array.from({ length: 8 }, (_, i) => publish(gw.url, `slow-${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await gw.close();
    const answered = await outcomes;
    const client = new Redis(redis.port, '127.0.0.1');
    scope.defer(() => void client.quit());
    const stored = (await client.xrange(new RedisKeys('sseg:').stream('sd'), '-', '+')).map(([, fields]) => fields[fields.indexOf('d') + 1]);
    // Every publish that was stored was answered 200, and nothing answered otherwise was stored.
    expect(
      answered
        .filter((outcome) => outcome.answer === 200)
        .map((outcome) => outcome.data)
        .sort(),
    ).toEqual([...stored].sort());
    expect(stored.length).toBeGreaterThan(0);
  });
});
