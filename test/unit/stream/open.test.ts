import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AccessDecision } from '../../../src/auth/access.ts';
import { Admission } from '../../../src/auth/admission.ts';
import { Cors } from '../../../src/auth/cors.ts';
import { ExpiryClock } from '../../../src/auth/expiry.ts';
import { GatewayError } from '../../../src/errors.ts';
import type { Reply } from '../../../src/http/reply.ts';
import type { RequestHead } from '../../../src/http/request-head.ts';
import { createLogger } from '../../../src/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { StreamOpener, type AccessDecider, type StreamStarter } from '../../../src/stream/open.ts';
import type { Subscription } from '../../../src/stream/request.ts';
import type { CloseReason } from '../../../src/stream/stream.ts';

/** A socket as far as the opener and admission look at it: an address. */
function fakeSocket(remoteAddress = '192.0.2.1'): Socket {
  return Object.assign(new EventEmitter(), { remoteAddress, setKeepAlive: () => undefined }) as unknown as Socket;
}

/** A reply that records what was written, and closes when told. */
class FakeReply extends EventEmitter implements Reply {
  headersSent = false;
  destroyed = false;
  chunkedEncoding = false;
  status: number | undefined;
  readonly headers = new Map<string, unknown>();
  body = '';
  readonly socket: Socket;
  constructor(socket: Socket) {
    super();
    this.socket = socket;
  }
  setHeader(name: string, value: unknown): this {
    this.headers.set(name.toLowerCase(), value);
    return this;
  }
  getHeader(name: string): unknown {
    return this.headers.get(name.toLowerCase());
  }
  writeHead(status: number, headers: Record<string, string | number> = {}): this {
    this.status = status;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    this.headersSent = true;
    return this;
  }
  write(chunk: Buffer | string): boolean {
    this.body += String(chunk);
    return true;
  }
  end(chunk?: Buffer | string): this {
    if (chunk !== undefined) this.write(chunk);
    this.close();
    return this;
  }
  destroy(): this {
    this.close();
    return this;
  }
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

/** Streams that start at once and remember how they were ended. */
class FakeStreams implements StreamStarter {
  readonly started: Array<{ subscription: Subscription; ended: CloseReason | undefined }> = [];
  get size(): number {
    return this.started.filter((stream) => stream.ended === undefined).length;
  }
  start(_request: RequestHead, response: Reply, subscription: Subscription): Promise<{ abort(reason: CloseReason): void }> {
    const entry = { subscription, ended: undefined as CloseReason | undefined };
    this.started.push(entry);
    response.writeHead(200);
    return Promise.resolve({
      abort: (reason) => {
        entry.ended = reason;
        response.destroy();
      },
    });
  }
}

/** Access whose decisions the test hands out one by one. */
class HeldAccess implements AccessDecider {
  readonly enforced = true;
  readonly waiting: Array<(decision: AccessDecision | Error) => void> = [];
  decide(_headers: IncomingHttpHeaders, _url: URL, channels: readonly string[]): Promise<AccessDecision> {
    return new Promise((resolve, reject) => {
      this.waiting.push((decision) => (decision instanceof Error ? reject(decision) : resolve({ ...decision, channels })));
    });
  }
  /** Lets the oldest waiting request through, expiring at `expiresAt`. */
  allow(expiresAt?: number): void {
    this.waiting.shift()?.({ channels: [], expiresAt, subject: 'alice' });
  }
}

const OPEN_ACCESS: AccessDecider = { enforced: false, decide: () => Promise.reject(new Error('not asked')) };

function setup(options: { access?: AccessDecider; maxConnections?: number; maxPerIp?: number } = {}) {
  let draining = false;
  const streams = new FakeStreams();
  const metrics = createMetrics();
  const expiry = new ExpiryClock();
  const opener = new StreamOpener(
    { streamsPath: '/events', maxChannelsPerStream: 4, maxConnections: options.maxConnections ?? 100, retryAfterSeconds: 3, secretParams: ['access_token'] },
    {
      streams,
      access: options.access ?? OPEN_ACCESS,
      cors: new Cors([]),
      admission: new Admission(options.maxPerIp ?? 0, 3),
      expiry,
      metrics,
      logger: createLogger('silent'),
      draining: () => draining,
    },
  );
  const request = (target = '/events/orders', socket = fakeSocket()): { head: RequestHead; reply: FakeReply; url: URL } => ({
    head: { method: 'GET', url: target, httpVersion: '1.1', headers: {}, socket },
    reply: new FakeReply(socket),
    url: new URL(target, 'http://gateway.invalid'),
  });
  const rejected = async (code: string): Promise<number> =>
    (await metrics.connectionsRejected.get()).values.find((value) => value.labels['code'] === code)?.value ?? 0;
  return { opener, streams, expiry, request, rejected, drain: () => (draining = true) };
}

async function refusal(pending: Promise<void>): Promise<GatewayError> {
  const error = await pending.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('StreamOpener', () => {
  it('opens a stream with the channels asked for', async () => {
    const { opener, streams, request } = setup();
    const { head, reply, url } = request('/events/orders?channel=alerts');
    await opener.open(head, reply, url);
    expect(streams.started.map((stream) => stream.subscription.channels)).toEqual([['orders', 'alerts']]);
  });

  it('refuses new streams while draining, with the reconnect delay as Retry-After, and counts the refusal', async () => {
    const { opener, streams, request, rejected, drain } = setup();
    drain();
    const { head, reply, url } = request();
    const error = await refusal(opener.open(head, reply, url));
    expect(error.code).toBe('SSEG_SHUTTING_DOWN');
    expect(error.headers['Retry-After']).toBe('3');
    expect(streams.started).toHaveLength(0);
    expect(await rejected('SSEG_SHUTTING_DOWN')).toBe(1);
  });

  it('counts streams still being authorized against maxConnections, and passes the slot on once decided', async () => {
    const access = new HeldAccess();
    const { opener, streams, request } = setup({ access, maxConnections: 2 });
    const first = request();
    const second = request();
    const opening = [opener.open(first.head, first.reply, first.url), opener.open(second.head, second.reply, second.url)];
    expect(opener.pending).toBe(2);
    const third = request();
    expect((await refusal(opener.open(third.head, third.reply, third.url))).code).toBe('SSEG_TOO_MANY_CONNECTIONS');
    access.allow();
    access.allow();
    await Promise.all(opening);
    expect(opener.pending).toBe(0);
    expect(streams.size).toBe(2);
    const fourth = request();
    expect((await refusal(opener.open(fourth.head, fourth.reply, fourth.url))).code).toBe('SSEG_TOO_MANY_CONNECTIONS');
  });

  it('frees the authorizing slot when access refuses', async () => {
    const access = new HeldAccess();
    const { opener, request } = setup({ access, maxConnections: 1 });
    const first = request();
    const pending = opener.open(first.head, first.reply, first.url);
    access.waiting.shift()?.(new GatewayError('SSEG_UNAUTHORIZED', 'no'));
    expect((await refusal(pending)).code).toBe('SSEG_UNAUTHORIZED');
    expect(opener.pending).toBe(0);
  });

  it('refuses a stream whose access decision arrives after the drain began', async () => {
    const access = new HeldAccess();
    const { opener, streams, request, drain } = setup({ access });
    const { head, reply, url } = request();
    const pending = opener.open(head, reply, url);
    drain();
    access.allow();
    expect((await refusal(pending)).code).toBe('SSEG_SHUTTING_DOWN');
    expect(streams.started).toHaveLength(0);
  });

  it('ends a stream when its credential expires, and forgets the expiry of a stream that closed first', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const access = new HeldAccess();
    const { opener, streams, expiry, request } = setup({ access });
    const short = request();
    const long = request();
    const opening = [opener.open(short.head, short.reply, short.url), opener.open(long.head, long.reply, long.url)];
    access.allow(1_000_000 + 5_000);
    access.allow(1_000_000 + 60_000);
    await Promise.all(opening);
    expect(expiry.size).toBe(2);
    long.reply.close();
    expect(expiry.size).toBe(1);
    vi.advanceTimersByTime(4_999);
    expect(streams.started[0]?.ended).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(streams.started[0]?.ended).toBe('expired');
    vi.advanceTimersByTime(120_000);
    expect(streams.started[1]?.ended).toBeUndefined();
    expect(expiry.size).toBe(0);
  });

  it('holds the per-address cap from the request until its reply closes', async () => {
    const access = new HeldAccess();
    const { opener, request } = setup({ access, maxPerIp: 1 });
    const socket = fakeSocket('198.51.100.7');
    const first = request('/events/orders', socket);
    const pending = opener.open(first.head, first.reply, first.url);
    const second = request('/events/orders', socket);
    expect((await refusal(opener.open(second.head, second.reply, second.url))).code).toBe('SSEG_TOO_MANY_FROM_ADDRESS');
    access.allow();
    await pending;
    first.reply.close();
    const third = request('/events/orders', socket);
    const reopening = opener.open(third.head, third.reply, third.url);
    access.allow();
    await expect(reopening).resolves.toBeUndefined();
  });

  it('serve() answers a refusal itself, as JSON with its code', async () => {
    const { opener, request, drain } = setup();
    drain();
    const { head, reply } = request();
    opener.serve(head, reply);
    await vi.waitFor(() => expect(reply.status).toBe(503));
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'SSEG_SHUTTING_DOWN' });
    expect(reply.getHeader('retry-after')).toBe('3');
  });
});
