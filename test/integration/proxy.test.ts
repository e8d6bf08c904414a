import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream } from '../support/sse-client.ts';
import { call } from '../support/http-call.ts';

/** A tiny app, the kind of thing the gateway sits in front of, with a route per behaviour under test. */
interface TestApp {
  readonly url: string;
  readonly server: Server;
  /** Every request the app saw, in order. */
  readonly seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
  readonly upgrades: string[];
  /** Resolves the app's current "next step" wait in /stream and /sse. */
  step(): void;
  close(): Promise<void>;
}

async function startApp(): Promise<TestApp> {
  const seen: TestApp['seen'] = [];
  const upgrades: string[] = [];
  let waiting: Array<() => void> = [];
  const nextStep = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
  const held = new Set<ServerResponse>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0];
      if (path === '/echo') {
        const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(201, {
          'Content-Type': 'application/json',
          'Keep-Alive': 'timeout=5',
          'Connection': 'X-App-Hop',
          'X-App-Hop': 'private to the app connection',
          'X-App-Header': 'kept',
        });
        res.end(text);
      } else if (path === '/stream') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first part|');
        void nextStep().then(() => res.end('second part'));
      } else if (path === '/sse') {
        held.add(res);
        res.on('close', () => held.delete(res));
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        let n = 0;
        const send = (): void => {
          n += 1;
          res.write(`id: app-${n}\ndata: event ${n}\n\n`);
          if (n < 3) void nextStep().then(send);
        };
        send();
      } else if (path === '/slow') {
        // Never answers: the gateway must give up, not the client.
        held.add(res);
        res.on('close', () => held.delete(res));
      } else if (path === '/die') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('partial');
        setImmediate(() => res.socket?.destroy());
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end(`app has no ${path}`);
      }
    });
  });

  // A hand-written websocket echo (RFC 6455): handshake, then each client frame is unmasked and sent back.
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upgrades.push(req.url ?? '');
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('end', () => socket.end());
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Forwarded-For-Seen: ${String(req.headers['x-forwarded-for'])}\r\n\r\n`,
    );
    socket.on('data', (frame: Buffer) => {
      const text = decodeClientFrame(frame);
      socket.write(encodeServerFrame(`echo: ${text}`));
    });
    socket.on('error', () => socket.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    seen,
    upgrades,
    step() {
      const current = waiting;
      waiting = [];
      for (const resolve of current) resolve();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function decodeClientFrame(frame: Buffer): string {
  const length = (frame[1] ?? 0) & 0x7f;
  const mask = frame.subarray(2, 6);
  const payload = Buffer.from(frame.subarray(6, 6 + length));
  for (let i = 0; i < payload.length; i += 1) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return payload.toString('utf8');
}

function encodeServerFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

function encodeClientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** Opens a raw socket, sends a websocket upgrade request, resolves with the response head and the socket. */
function upgrade(base: string, path: string): Promise<{ head: string; socket: Socket; rest: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      resolve({ head: received.subarray(0, end).toString('latin1'), socket, rest: received.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

function readBytes(socket: Socket, initial: Buffer, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let buffer = initial;
    const check = (): void => {
      if (buffer.length >= count) {
        socket.off('data', onData);
        resolve(buffer);
      }
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      check();
    };
    socket.on('data', onData);
    check();
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('reverse proxy to the app', () => {
  let app: TestApp;
  let gateway: TestGateway;

  beforeAll(async () => {
    app = await startApp();
    gateway = await startGateway({ upstream: { url: app.url, responseTimeout: '400ms' } });
  });
  afterAll(async () => {
    await gateway.close();
    await app.close();
  });

  it('relays a GET with its query, status and headers', async () => {
    const answer = await call(`${gateway.url}/echo?a=1&b=two`);
    expect(answer.status).toBe(201);
    expect(answer.headers['x-app-header']).toBe('kept');
    const echoed = JSON.parse(answer.body) as { method: string; url: string };
    expect(echoed).toMatchObject({ method: 'GET', url: '/echo?a=1&b=two' });
  });

  it('relays POST, PUT and DELETE bodies byte for byte', async () => {
    const body = JSON.stringify({ text: 'héllo ✓', list: Array.from({ length: 2000 }, (_, i) => i) });
    for (const method of ['POST', 'PUT', 'PATCH']) {
      const answer = await call(`${gateway.url}/echo`, { method, headers: { 'Content-Type': 'application/json' }, body });
      expect(answer.status).toBe(201);
      expect(JSON.parse(answer.body)).toMatchObject({ method, body });
    }
    const deleted = await call(`${gateway.url}/echo`, { method: 'DELETE' });
    expect(JSON.parse(deleted.body)).toMatchObject({ method: 'DELETE', body: '' });
  });

  it('tells the app who the client is with X-Forwarded-For, -Proto and -Host', async () => {
    const answer = await call(`${gateway.url}/echo`, { headers: { Host: 'shop.example.com' } });
    const { headers } = JSON.parse(answer.body) as { headers: IncomingHttpHeaders };
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe('shop.example.com');
    expect(headers.host).toBe('shop.example.com');
  });

  it('appends to X-Forwarded-For and -Proto set by a proxy in front, and keeps its X-Forwarded-Host', async () => {
    const answer = await call(`${gateway.url}/echo`, {
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'www.example.com' },
    });
    const { headers } = JSON.parse(answer.body) as { headers: IncomingHttpHeaders };
    expect(headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('https,http');
    expect(headers['x-forwarded-host']).toBe('www.example.com');
  });

  it('removes hop-by-hop headers in both directions', async () => {
    const answer = await call(`${gateway.url}/echo`, {
      headers: {
        'Connection': 'keep-alive, X-Client-Hop',
        'X-Client-Hop': 'private to the client connection',
        'Keep-Alive': 'timeout=1',
        'Proxy-Authorization': 'Basic c2VjcmV0OnNlY3JldA==',
        'TE': 'trailers',
        'X-Normal': 'passes',
      },
    });
    const { headers } = JSON.parse(answer.body) as { headers: IncomingHttpHeaders };
    expect(headers['x-normal']).toBe('passes');
    expect(headers['x-client-hop']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['te']).toBeUndefined();
    // What the app sees is the gateway's own pooled connection, not the client's.
    expect(headers.connection).toBe('keep-alive');

    expect(answer.headers['x-app-header']).toBe('kept');
    expect(answer.headers['x-app-hop']).toBeUndefined();
    expect(answer.headers['keep-alive']).toBeUndefined();
  });

  it('survives a Trailer header on a GET, the one-request crash of the original http-proxy (node-http-proxy#1647)', async () => {
    // Written by hand: Node's own client refuses to send this header, an attacker's does not.
    const { hostname, port } = new URL(gateway.url);
    const socket = connect(Number(port), hostname);
    const raw = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write(`GET /echo HTTP/1.1\r\nHost: ${hostname}\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n`);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 201 Created');
    const { headers } = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { headers: IncomingHttpHeaders };
    expect(headers.trailer).toBeUndefined();
    expect((await call(`${gateway.url}/healthz`)).status).toBe(200);
  });

  it("keeps the client's own Connection: close for the client's connection", async () => {
    const answer = await call(`${gateway.url}/echo`, { headers: { Connection: 'close' } });
    expect(answer.headers.connection).toBe('close');
    const { headers } = JSON.parse(answer.body) as { headers: IncomingHttpHeaders };
    expect(headers.connection).toBe('keep-alive');
  });

  it('streams a response as the app writes it, not once it ends', async () => {
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(`${gateway.url}/stream`, { agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          received.push(chunk);
          // The app sends its second part only after the client has the first: a buffering proxy deadlocks here.
          if (received.length === 1) app.step();
        });
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    expect(received.join('')).toBe('first part|second part');
    expect(received[0]).toBe('first part|');
  });

  it("passes the app's own SSE through unbuffered: each event arrives before the next is sent", async () => {
    const stream = await openStream(`${gateway.url}/sse`);
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toBe('text/event-stream');
      for (let n = 1; n <= 3; n += 1) {
        await stream.waitForEvents(n, 3_000);
        expect(stream.events[n - 1]).toMatchObject({ id: `app-${n}`, data: `event ${n}` });
        app.step();
      }
    } finally {
      stream.close();
    }
  });

  it('upgrades websockets and relays frames both ways', async () => {
    const { head, socket, rest } = await upgrade(gateway.url, '/ws/chat');
    try {
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      expect(head).toMatch(/^sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=$/im);
      expect(head).toMatch(/^x-forwarded-for-seen: 127\.0\.0\.1$/im);
      socket.write(encodeClientFrame('ping'));
      const frame = await readBytes(socket, rest, 2 + 'echo: ping'.length);
      expect(frame.subarray(2).toString('utf8')).toBe('echo: ping');
      expect(app.upgrades).toContain('/ws/chat');
    } finally {
      socket.destroy();
    }
  });

  it('answers 504 with a JSON body when the app does not answer in time', async () => {
    const answer = await call(`${gateway.url}/slow`);
    expect(answer.status).toBe(504);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body)).toEqual({ error: 'SSEG_UPSTREAM_TIMEOUT', message: expect.any(String) as string });
  });

  it('cuts the client off when the app dies mid-response, and keeps serving', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = request(`${gateway.url}/die`, { agent: false }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve('ended cleanly'));
        res.on('error', () => resolve('aborted'));
        res.on('aborted', () => resolve('aborted'));
      });
      req.on('error', () => resolve('aborted'));
      req.end();
    });
    expect(outcome).toBe('aborted');
    expect((await call(`${gateway.url}/echo`)).status).toBe(201);
  });

  it("never proxies the gateway's own routes", async () => {
    const before = app.seen.length;
    expect((await call(`${gateway.url}/healthz`)).body).toBe('{"status":"ok"}');
    const wrongMethod = await call(`${gateway.url}/events/x`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(JSON.parse(wrongMethod.body)).toMatchObject({ error: 'SSEG_METHOD_NOT_ALLOWED' });
    const metrics = await call(`${gateway.url}/metrics`);
    expect(metrics.body).toContain('sseg_proxy_requests_total');
    expect(app.seen.length).toBe(before);

    const upgrades = app.upgrades.length;
    const { head, socket } = await upgrade(gateway.url, '/events/x');
    socket.destroy();
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(app.upgrades.length).toBe(upgrades);
  });

  it('does not serve the demo page when an app is configured: / is the app', async () => {
    const answer = await call(`${gateway.url}/`);
    expect(answer.status).toBe(404);
    expect(answer.body).toBe('app has no /');
  });
});

describe('reverse proxy failures', () => {
  let gateway: TestGateway | undefined;
  let app: TestApp | undefined;
  afterEach(async () => {
    await gateway?.close();
    await app?.close();
    gateway = undefined;
    app = undefined;
  });

  it('answers 502 with a JSON body when the app is down, and 502 to a websocket too', async () => {
    gateway = await startGateway({ upstream: { url: `http://127.0.0.1:${await freePort()}` } });
    const answer = await call(`${gateway.url}/anything`);
    expect(answer.status).toBe(502);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body) as { error: string; message: string };
    expect(body.error).toBe('SSEG_UPSTREAM_UNAVAILABLE');
    // No address, port or library message leaks to the client.
    expect(body.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|\d{4,5}/);

    const { head, socket } = await upgrade(gateway.url, '/ws');
    socket.destroy();
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
  });

  it('times out a request queued behind a full pool, and the pool recovers', async () => {
    app = await startApp();
    const small = await startGateway({ upstream: { url: app.url, maxSockets: 1, responseTimeout: '300ms' } });
    gateway = small;
    // The app's SSE holds the only pooled socket.
    const stream = await openStream(`${small.url}/sse`);
    await stream.waitForEvents(1);
    const queued = await call(`${small.url}/echo`);
    expect(queued.status).toBe(504);
    expect(JSON.parse(queued.body)).toMatchObject({ error: 'SSEG_UPSTREAM_TIMEOUT' });
    stream.close();
    await expect.poll(async () => (await call(`${small.url}/echo`)).status, { timeout: 5_000 }).toBe(201);
  });

  it('closes open websockets when it shuts down, instead of waiting for them', async () => {
    app = await startApp();
    gateway = await startGateway({ upstream: { url: app.url } });
    const { head, socket } = await upgrade(gateway.url, '/ws');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    await gateway.close();
    await closed;
  });

  it('keeps unknown paths 404 when no app is configured', async () => {
    gateway = await startGateway({ demo: { enabled: false } });
    const answer = await call(`${gateway.url}/some/page`);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'SSEG_NOT_FOUND' });
    expect((await call(`${gateway.url}/`)).status).toBe(404);
  });
});
