import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

/** The app's auth endpoint: it decides by the session cookie, as a real app would. */
function startApp(): Promise<{ server: Server; url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    const session = /sid=([a-z-]+)/.exec(request.headers.cookie ?? '')?.[1];
    switch (session) {
      case 'alice':
        response.writeHead(200, { 'X-SSEG-Channels': 'a/*, user/alice' }).end();
        return;
      case 'json':
        response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ channels: ['j/**'] }));
        return;
      case 'huge':
        // Grants a/b, but buried in an answer far past what the gateway reads.
        response
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ channels: ['a/b', ...Array.from({ length: 100_000 }, (_, i) => `pad/${i}`)] }));
        return;
      case 'mallory':
        response.writeHead(403).end();
        return;
      case 'broken':
        response.writeHead(500).end('stack trace with secrets');
        return;
      case 'later':
        // Allows, but takes its time: stream requests pile up waiting for the decision.
        setTimeout(() => response.writeHead(200, { 'X-SSEG-Channels': 'a/*' }).end(), 200);
        return;
      case 'slow':
        // Never answers in time; the gateway's timeout must fire. The socket is closed by afterAll.
        return;
      default:
        response.writeHead(401).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/sse`, seen })),
  );
}

const opened: StreamClient[] = [];
async function get(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const client = await openStream(url, headers);
  opened.push(client);
  return client;
}
const code = (client: StreamClient): string | undefined => (JSON.parse(client.raw()) as { error?: string }).error;

afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

describe('forward auth against a real app', () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  let gw: TestGateway;
  beforeAll(async () => {
    app = await startApp();
    gw = await startGateway({ auth: { forward: { url: app.url, timeout: '300ms', cacheTtl: '1m' } } });
  });
  afterAll(async () => {
    await gw.close();
    app.server.closeAllConnections();
    await new Promise<void>((resolve) => app.server.close(() => resolve()));
  });

  it('opens the stream when the app allows the channel, and passes cookies and channels along', async () => {
    const client = await get(`${gw.url}/events?channel=a/b&channel=user/alice`, { Cookie: 'theme=dark; sid=alice' });
    expect(client.status).toBe(200);
    const asked = app.seen.at(-1);
    expect(asked?.cookie).toBe('theme=dark; sid=alice');
    expect(asked?.['x-sseg-channels']).toBe('a/b,user/alice');
  });

  it('reads the allowed channels from a JSON answer too', async () => {
    expect((await get(`${gw.url}/events/j/x/y`, { Cookie: 'sid=json' })).status).toBe(200);
  });

  it('answers 403 when the app allows the session but not the channel', async () => {
    const client = await get(`${gw.url}/events/b`, { Cookie: 'sid=alice' });
    expect(client.status).toBe(403);
    expect(code(client)).toBe('SSEG_FORBIDDEN');
  });

  it('reads at most 64 KB of the app answer: a huge one grants nothing', async () => {
    const client = await get(`${gw.url}/events/a/b`, { Cookie: 'sid=huge' });
    expect(client.status).toBe(403);
  });

  it('passes the app 401 and 403 on to the client', async () => {
    expect((await get(`${gw.url}/events/a/b`, { Cookie: 'sid=nobody' })).status).toBe(401);
    const denied = await get(`${gw.url}/events/a/b`, { Cookie: 'sid=mallory' });
    expect(denied.status).toBe(403);
  });

  it('answers 401 without asking the app when there is no credential at all', async () => {
    const before = app.seen.length;
    expect((await get(`${gw.url}/events/a/b`)).status).toBe(401);
    expect(app.seen.length).toBe(before);
  });

  it('caches a decision per credential and channels: a reconnect does not ask the app again', async () => {
    await get(`${gw.url}/events/a/cached`, { Cookie: 'sid=alice; n=1' });
    const before = app.seen.length;
    expect((await get(`${gw.url}/events/a/cached`, { Cookie: 'sid=alice; n=1' })).status).toBe(200);
    expect(app.seen.length).toBe(before);
    expect((await get(`${gw.url}/events/a/cached`, { Cookie: 'sid=alice; n=2' })).status).toBe(200);
    expect(app.seen.length).toBe(before + 1);
  });

  it('answers 503 (never "allowed") when the app fails, without leaking its answer', async () => {
    const client = await get(`${gw.url}/events/a/b`, { Cookie: 'sid=broken' });
    expect(client.status).toBe(503);
    expect(code(client)).toBe('SSEG_AUTH_UNAVAILABLE');
    expect(client.raw()).not.toContain('stack trace');
  });

  it('answers 504 SSEG_AUTH_TIMEOUT when the app is slower than auth.forward.timeout', async () => {
    const client = await get(`${gw.url}/events/a/b`, { Cookie: 'sid=slow' });
    expect(client.status).toBe(504);
    expect(code(client)).toBe('SSEG_AUTH_TIMEOUT');
    expect(client.headers['retry-after']).toBeDefined();
  });

  it('counts decisions by mode and outcome, and cache hits, with no credential in any label', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/sseg_auth_decisions_total\{mode="forward",outcome="allowed"\} [1-9]/);
    expect(text).toMatch(/sseg_auth_decisions_total\{mode="forward",outcome="timeout"\} 1/);
    expect(text).toMatch(/sseg_auth_decisions_total\{mode="none",outcome="unauthorized"\} [1-9]/);
    expect(text).toMatch(/sseg_auth_forward_cache_total\{result="hit"\} [1-9]/);
    expect(text).not.toContain('alice');
  });

  it('never logs the cookie it forwarded', async () => {
    await get(`${gw.url}/events/b`, { Cookie: 'sid=alice; secret-session=s3cr3t-cookie-value' });
    expect(gw.logs.join('\n')).toContain('stream refused');
    expect(gw.logs.join('\n')).not.toContain('s3cr3t-cookie-value');
  });
});

describe('forward auth with the app down', () => {
  it('answers 503 SSEG_AUTH_UNAVAILABLE when nothing listens at auth.forward.url', async () => {
    // A port that was free a moment ago: bound, then closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const gw = await startGateway({ auth: { forward: { url: `http://127.0.0.1:${port}/auth` } } });
    try {
      const client = await get(`${gw.url}/events/a`, { Cookie: 'sid=alice' });
      expect(client.status).toBe(503);
      expect(code(client)).toBe('SSEG_AUTH_UNAVAILABLE');
    } finally {
      await gw.close();
    }
  });
});

describe('forward auth and the connection limit', () => {
  it('counts streams waiting for a decision against streams.maxConnections', async () => {
    const app = await startApp();
    const gw = await startGateway({ streams: { maxConnections: 2 }, auth: { forward: { url: app.url, timeout: '5s', cacheTtl: '0s' } } });
    try {
      const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${gw.url}/events/a/${i}`, { Cookie: 'sid=later' })));
      const statuses = clients.map((client) => client.status).sort();
      expect(statuses).toEqual([200, 200, 503, 503]);
      for (const client of clients.filter((c) => c.status === 503)) expect(code(client)).toBe('SSEG_TOO_MANY_CONNECTIONS');
    } finally {
      for (const client of opened.splice(0)) client.close();
      await gw.close();
      app.server.closeAllConnections();
      await new Promise<void>((resolve) => app.server.close(() => resolve()));
    }
  });
});
