import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Counter, Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { until } from '../support/poll.ts';
import { testScope } from '../support/scope.ts';

const scope = testScope();

async function metric(m: Counter | Gauge): Promise<number> {
  return (await m.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** A stream on a bare socket that reads nothing until `resume()`, so its gateway socket backs up. */
interface RawStream {
  readonly socket: Socket;
  text(): string;
  /** Starts reading, and keeps everything received. */
  resume(): void;
  /** Resolves once the socket has closed: the gateway hung up (FIN) or cut it (reset). */
  readonly ended: Promise<void>;
}

function rawStream(gw: TestGateway, channel: string): RawStream {
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  scope.defer(() => void socket.destroy());
  let text = '';
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`GET /events/${channel} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  return {
    socket,
    text: () => text,
    resume: () => socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk)),
    ended,
  };
}

/**
 * A connection node:http already serves, with the head of a second request begun: a request on
 * its way when the drain starts. Both go in one write, so node:http parses the second's first
 * line in the same pass that answers the first; once that answer is back, the drain's
 * closeIdleConnections counts the connection busy and leaves it open.
 */
async function requestUnderway(gw: TestGateway, start: string): Promise<{ finish(rest: string): Promise<{ head: string; body: unknown }> }> {
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  scope.defer(() => void socket.destroy());
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n${start}`);
  await until(() => text.includes('{"status":"ok"}'), 'the first answer');
  const first = text.length;
  return {
    async finish(rest) {
      socket.write(rest);
      await until(() => /\r\n\r\n\{.*\}$/s.test(text.slice(first)), 'the second answer');
      const [head = '', body = ''] = text.slice(first).split('\r\n\r\n');
      return { head, body: JSON.parse(body) as unknown };
    },
  };
}

const EVENT_DATA = 'x'.repeat(16 * 1024);

/** Publishes 128 KB batches until the gateway holds events for a stream whose socket is full. */
async function floodUntilBackedUp(gw: TestGateway, channel: string): Promise<void> {
  const metrics = gw.gateway.metrics;
  for (let batch = 0; (await metric(metrics.bufferedBytes)) === 0; batch += 1) {
    if (batch > 600) throw new Error('the stream socket never backed up');
    const { status } = await gw.publishRaw(JSON.stringify({ events: Array.from({ length: 8 }, () => ({ channel, data: EVENT_DATA })) }));
    expect(status).toBe(200);
  }
}

/** Room for the waiting queue, so a stopped reader is backed up rather than cut loose as slow. */
const SLOW_READER = {
  streams: { clientBufferBytes: '2mb', retry: '1s' },
  publish: { maxBodyBytes: '2mb' },
  history: { maxEvents: 5 },
  log: { level: 'warn' },
};

describe('shutting down', () => {
  it('waits until a backed-up client has the retry hint and the end of its stream', async () => {
    const gw = await scope.gateway({ ...SLOW_READER, server: { shutdownTimeout: '20s' } });
    const slow = rawStream(gw, 'flood');
    await until(async () => (await metric(gw.gateway.metrics.connectionsOpen)) === 1, 'the stream to open');
    await floodUntilBackedUp(gw, 'flood');

    const started = Date.now();
    const closed = gw.gateway.close();
    // The retry line now sits behind megabytes the client has not read: only a drain that waits
    // for the socket to flush, rather than destroying it, gets it there.
    slow.resume();
    await slow.ended;
    await closed;
    // And it ended once the client had read it all, not at the deadline.
    expect(Date.now() - started).toBeLessThan(5_000);
    const hint = /retry: (\d+)\n\n\r\n0\r\n\r\n$/.exec(slow.text().slice(-64));
    expect(hint, JSON.stringify(slow.text().slice(-200))).not.toBeNull();
    expect(Number(hint?.[1])).toBeGreaterThanOrEqual(1000);
    expect(Number(hint?.[1])).toBeLessThanOrEqual(3000);
  });

  it('does not let a client that never reads hold it past server.shutdownTimeout', async () => {
    const gw = await scope.gateway({ ...SLOW_READER, server: { shutdownTimeout: '1s' } });
    rawStream(gw, 'flood');
    await until(async () => (await metric(gw.gateway.metrics.connectionsOpen)) === 1, 'the stream to open');
    await floodUntilBackedUp(gw, 'flood');

    const started = Date.now();
    await gw.gateway.close();
    // It was given the whole second to read, and not much more.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(await metric(gw.gateway.metrics.connectionsOpen)).toBe(0);
    expect((await gw.gateway.metrics.connectionsClosed.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'shutdown' }, value: 1 })]);
  });

  it('while draining, answers 503 to /readyz, to new streams and to publishes already on their way', async () => {
    const gw = await scope.gateway({ ...SLOW_READER, server: { shutdownTimeout: '20s' } });
    const slow = rawStream(gw, 'flood');
    await until(async () => (await metric(gw.gateway.metrics.connectionsOpen)) === 1, 'the stream to open');
    await floodUntilBackedUp(gw, 'flood');
    const readyz = await requestUnderway(gw, 'GET /readyz HTTP/1.1\r\n');
    const stream = await requestUnderway(gw, 'GET /events/a HTTP/1.1\r\n');
    const publish = await requestUnderway(gw, 'POST /publish HTTP/1.1\r\n');

    // The backed-up stream keeps the drain open until it reads: the window these requests land in.
    const closed = gw.gateway.close();
    const ready = await readyz.finish('Host: x\r\n\r\n');
    expect(ready.head).toMatch(/^HTTP\/1\.1 503 /);
    expect(ready.body).toEqual({ status: 'draining' });

    const refused = await stream.finish('Host: x\r\nAccept: text/event-stream\r\n\r\n');
    expect(refused.head).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.head).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(refused.body).toMatchObject({ error: 'SSEG_SHUTTING_DOWN' });

    const body = JSON.stringify({ channel: 'late', data: 'x' });
    const rejected = await publish.finish(
      `Host: x\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(rejected.head).toMatch(/^HTTP\/1\.1 503 /);
    expect(rejected.head).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(rejected.body).toMatchObject({ error: 'SSEG_SHUTTING_DOWN' });
    expect((await gw.gateway.history.replay(['late'], '')).filter((item) => item.event)).toEqual([]);

    slow.resume();
    await closed;
  });

  it('refuses a stream whose access decision arrives after the drain began, rather than opening one nobody ends', async () => {
    let answer: ServerResponse | undefined;
    const app = createServer((_request, response) => (answer = response));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    scope.defer(() => new Promise((resolve) => app.close(resolve)));
    const gw = await scope.gateway({
      auth: { forward: { url: `http://127.0.0.1:${(app.address() as AddressInfo).port}/auth`, timeout: '10s' } },
      log: { level: 'warn' },
    });

    const client = scope.stream(`${gw.url}/events/a`, { Cookie: 'sid=someone' });
    await until(() => answer !== undefined, 'the app to be asked');
    const closed = gw.gateway.close();
    answer?.writeHead(200, { 'X-SSEG-Channels': 'a' }).end();
    const refused = await client;
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.raw())).toMatchObject({ error: 'SSEG_SHUTTING_DOWN' });
    await closed;
  });

  it('ends a stream node:http serves (opened on a kept-alive connection) at once, and hangs up', async () => {
    const gw = await scope.gateway({ server: { shutdownTimeout: '20s' }, streams: { retry: '1s' }, log: { level: 'warn' } });
    // A page and its EventSource on one connection: the second request is node:http's, not the front door's.
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    scope.defer(() => void socket.destroy());
    let text = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => text.includes('{"status":"ok"}'), 'the first answer');
    socket.write('GET /events/a HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await until(() => text.includes(':ok\n'), 'the stream to open');

    const started = Date.now();
    await gw.gateway.close();
    // Not the 20 s deadline: its FIN followed the retry line, so the socket's 'finish' came at once.
    expect(Date.now() - started).toBeLessThan(2_000);
    await ended;
    expect(text).toMatch(/retry: \d+\n\n\r\n0\r\n\r\n$/);
  });
});
