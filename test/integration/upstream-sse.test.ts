import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

interface UpstreamEvent {
  readonly id: string;
  readonly event?: string;
  readonly data: string;
}

/**
 * An app's own SSE endpoint, as a well-behaved app writes one: it keeps its events, resumes a
 * reconnecting client after its Last-Event-ID, and asks for a short `retry:`.
 */
interface Upstream {
  readonly url: string;
  /** Last-Event-ID header of every connection it accepted, in order (undefined: none sent). */
  readonly connections: Array<string | undefined>;
  /** Request headers of every connection it accepted, in order. */
  readonly requestHeaders: IncomingHttpHeaders[];
  readonly open: Set<ServerResponse>;
  emit(data: string, event?: string): void;
  /** Cuts every open connection, as a crash or a network blip would. */
  drop(): void;
  /** While true, connections are refused with 503. */
  refusing: boolean;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const log: UpstreamEvent[] = [];
  const open = new Set<ServerResponse>();
  const connections: Array<string | undefined> = [];
  const requestHeaders: IncomingHttpHeaders[] = [];
  const frame = (event: UpstreamEvent): string =>
    `id: ${event.id}\n${event.event === undefined ? '' : `event: ${event.event}\n`}data: ${event.data.split('\n').join('\ndata: ')}\n\n`;
  const upstream: Upstream = {
    url: '',
    connections,
    requestHeaders,
    open,
    refusing: false,
    emit(data, event) {
      const item: UpstreamEvent = event === undefined ? { id: `u-${log.length + 1}`, data } : { id: `u-${log.length + 1}`, event, data };
      log.push(item);
      for (const res of open) res.write(frame(item));
    },
    drop() {
      for (const res of open) res.destroy();
      open.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        upstream.drop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const lastId = req.headers['last-event-id'];
    connections.push(typeof lastId === 'string' ? lastId : undefined);
    requestHeaders.push(req.headers);
    if (upstream.refusing) {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('not now');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
    // Short retry, so the gateway's reconnect (which honours it) is quick in tests.
    res.write(': hello\nretry: 50\n\n');
    const from = typeof lastId === 'string' ? log.findIndex((event) => event.id === lastId) + 1 : log.length;
    for (const event of log.slice(from)) res.write(frame(event));
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(upstream, { url: `http://127.0.0.1:${port}/feed` });
}

async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  await expect.poll(predicate, { timeout: timeoutMs, message: what }).toBe(true);
}

async function metric(gateway: TestGateway, line: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const match = text.split('\n').find((candidate) => line.test(candidate));
  return match === undefined ? undefined : Number(match.split(' ').at(-1));
}

describe('upstream SSE ingress (collapse)', () => {
  let upstream: Upstream | undefined;
  let gateway: TestGateway | undefined;
  const clients: StreamClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await gateway?.close();
    await upstream?.close();
    gateway = undefined;
    upstream = undefined;
  });

  it('serves any number of clients from ONE upstream connection, with the upstream event names', async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'prices' }] } });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');

    for (let i = 0; i < 8; i += 1) clients.push(await openStream(`${gateway.url}/events/prices`));
    feed.emit('{"eur":1.08}', 'price');
    feed.emit('plain message');
    feed.emit('line one\nline two', 'note');

    for (const client of clients) {
      const events = await client.waitForEvents(3);
      expect(events.map((event) => [event.event, event.data])).toEqual([
        ['price', '{"eur":1.08}'],
        [undefined, 'plain message'],
        ['note', 'line one\nline two'],
      ]);
      // The ids clients see are the gateway's own (from the log), so they resume from the gateway's history.
      expect(events[0]?.id).toMatch(/^[a-z0-9]+-\d+$/);
    }
    expect(feed.connections).toHaveLength(1);
    expect(await metric(gateway, /^sseg_upstream_sse_connected\{upstream="0"\}/)).toBe(1);
    expect(await metric(gateway, /^sseg_events_published_total\{ingress="upstream-sse"\}/)).toBe(3);
  });

  it('reconnects after a drop with Last-Event-ID, so nothing is lost or duplicated', async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed' }] } });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');
    const client = await openStream(`${gateway.url}/events/feed`);
    clients.push(client);

    feed.emit('one');
    feed.emit('two');
    await client.waitForEvents(2);

    feed.drop();
    // Published while the gateway is away: the upstream keeps them for a resuming client.
    feed.emit('three');
    feed.emit('four');
    await waitUntil(() => feed.open.size === 1, 'the gateway to reconnect');
    feed.emit('five');

    await client.waitForEvents(5);
    // Give a duplicate every chance to show up before asserting there is none.
    feed.emit('six');
    await client.waitForEvents(6);
    expect(client.events.map((event) => event.data)).toEqual(['one', 'two', 'three', 'four', 'five', 'six']);
    expect(feed.connections).toEqual([undefined, 'u-2']);
    expect(await metric(gateway, /^sseg_upstream_sse_reconnects_total\{upstream="0"\}/)).toBe(1);
  });

  it('sends the configured headers (an app credential) on the first connection and on every reconnect', async () => {
    upstream = await startUpstream();
    const authorization = 'Bearer upstream-app-credential-0123456789';
    gateway = await startGateway({
      ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed', headers: { 'Authorization': authorization, 'X-Tenant': 'acme' } }] },
    });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');
    feed.emit('one');
    feed.drop();
    await waitUntil(() => feed.open.size === 1, 'the gateway to reconnect');
    expect(feed.requestHeaders).toHaveLength(2);
    for (const headers of feed.requestHeaders) {
      expect(headers['authorization']).toBe(authorization);
      expect(headers['x-tenant']).toBe('acme');
      // The gateway's own headers still go with the configured ones.
      expect(headers['accept']).toBe('text/event-stream');
    }
  });

  it("waits as long as the upstream's retry: asks before reconnecting", async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed' }] } });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');
    // An hour instead of the test upstream's 50 ms: without honouring it the gateway would be back within its 1 s default.
    for (const res of feed.open) res.write('retry: 3600000\n\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    feed.drop();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(feed.connections).toHaveLength(1);
    expect(await metric(gateway, /^sseg_upstream_sse_connected\{upstream="0"\}/)).toBe(0);
  });

  it('keeps retrying an upstream that refuses, and resumes when it is back', async () => {
    upstream = await startUpstream();
    upstream.refusing = true;
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed' }] } });
    const feed = upstream;
    const client = await openStream(`${gateway.url}/events/feed`);
    clients.push(client);
    await waitUntil(() => feed.connections.length >= 2, 'a second attempt');
    expect(await metric(gateway, /^sseg_upstream_sse_connected\{upstream="0"\}/)).toBe(0);

    feed.refusing = false;
    await waitUntil(() => feed.open.size === 1, 'the gateway to get through');
    feed.emit('back');
    const [event] = await client.waitForEvents(1);
    expect(event?.data).toBe('back');
  });

  it('refuses events the gateway reserves for itself (a forged `gap`), and carries on', async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed' }] } });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');
    const client = await openStream(`${gateway.url}/events/feed`);
    clients.push(client);
    feed.emit('{"reason":"trimmed"}', 'gap');
    feed.emit('after');
    const [event] = await client.waitForEvents(1);
    expect(event).toMatchObject({ data: 'after', event: undefined });
    expect(client.events.some((candidate) => candidate.event === 'gap')).toBe(false);
    expect(await metric(gateway, /^sseg_upstream_sse_skipped_events_total\{upstream="0"\}/)).toBe(1);
  });

  it('stops its upstream connection when the gateway closes', async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ ingress: { upstreamSse: [{ url: upstream.url, channel: 'feed' }] } });
    const feed = upstream;
    await waitUntil(() => feed.open.size === 1, 'the gateway to connect upstream');
    await gateway.close();
    await waitUntil(() => feed.open.size === 0, 'the upstream connection to close');
    // And it does not come back.
    const attempts = feed.connections.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(feed.connections.length).toBe(attempts);
  });
});
