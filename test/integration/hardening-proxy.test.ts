import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { call, type HttpAnswer } from '../support/http-call.ts';

/**
 * The proxy against a client (or an app) that names end-to-end fields in its Connection header
 * (RFC 9110 §7.6.1 forbids it; an intermediary that obeys lets the sender rewrite what the other
 * side is told). Each test is named after the threat it blocks.
 */

interface EchoApp {
  readonly url: string;
  close(): Promise<void>;
}

/** A real app on port 0: /echo answers with the headers it got; /named-hop names its own framing in Connection; websockets echo their handshake headers. */
async function startEchoApp(): Promise<EchoApp> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const text = JSON.stringify({ headers: req.headers, body });
      if (req.url === '/named-hop') {
        // An app (or a proxy in front of it) that names its own framing and content fields as hop-by-hop.
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': String(Buffer.byteLength(text)),
          'Set-Cookie': 'app-session=kept; Path=/',
          'Connection': 'content-length, content-type, set-cookie, x-app-hop',
          'X-App-Hop': 'private to the app connection',
        });
        res.end(text);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(text);
    });
  });
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // The handshake answer carries what the app was told, base64url so any value fits a header.
    const seen = Buffer.from(JSON.stringify(req.headers)).toString('base64url');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\nX-Seen: ${seen}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const seenBy = (answer: HttpAnswer): IncomingHttpHeaders => (JSON.parse(answer.body) as { headers: IncomingHttpHeaders }).headers;

/** A websocket upgrade written by hand, with `extra` header lines; resolves with the response head. */
function upgrade(base: string, extra: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.destroy();
      resolve(received.slice(0, end));
    });
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
  });
}

describe('proxy hardening: the Connection header', () => {
  let app: EchoApp;
  let gw: TestGateway;
  beforeAll(async () => {
    app = await startEchoApp();
    gw = await startGateway({ upstream: { url: app.url } });
  });
  afterAll(async () => {
    await gw.close();
    await app.close();
  });

  it('a client cannot strip Host towards the app with Connection: close, host', async () => {
    const answer = await call(`${gw.url}/echo`, { headers: { Host: 'shop.example.com', Connection: 'close, host' } });
    expect(answer.status).toBe(200);
    const headers = seenBy(answer);
    expect(headers.host).toBe('shop.example.com');
    expect(headers['x-forwarded-host']).toBe('shop.example.com');
    // Its own Connection: close still holds for its own connection.
    expect(answer.headers.connection).toBe('close');
  });

  it('a client cannot erase the forwarding headers a proxy in front vouched for', async () => {
    const answer = await call(`${gw.url}/echo`, {
      headers: {
        'X-Forwarded-For': '203.0.113.7',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'www.example.com',
        'X-Forwarded-Port': '443',
        'Forwarded': 'for=203.0.113.7;proto=https',
        'X-Real-IP': '203.0.113.7',
        'Connection': 'x-forwarded-for, X-Forwarded-Proto, x-forwarded-host, x-forwarded-port, forwarded, x-real-ip',
      },
    });
    const headers = seenBy(answer);
    // Appended to, never replaced: the app still sees the real client first.
    expect(headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('https,http');
    expect(headers['x-forwarded-host']).toBe('www.example.com');
    expect(headers['x-forwarded-port']).toMatch(/^443,\d+$/);
    expect(headers.forwarded).toBe('for=203.0.113.7;proto=https');
    expect(headers['x-real-ip']).toBe('203.0.113.7');
  });

  it('a client cannot strip the body framing and type of what it sends', async () => {
    const body = JSON.stringify({ order: 7 });
    const answer = await call(`${gw.url}/echo`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(body)),
        'Connection': 'content-length, content-type, transfer-encoding',
      },
      body,
    });
    const echoed = JSON.parse(answer.body) as { headers: IncomingHttpHeaders; body: string };
    expect(echoed.body).toBe(body);
    expect(echoed.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(echoed.headers['content-type']).toBe('application/json');
    expect(echoed.headers['transfer-encoding']).toBeUndefined();
  });

  it('a client cannot make the app see other credentials than the gateway saw (Connection: authorization, cookie)', async () => {
    const headers = seenBy(await call(`${gw.url}/echo`, { headers: { Authorization: 'Bearer abc', Cookie: 'sid=1', Connection: 'authorization, cookie' } }));
    expect(headers.authorization).toBe('Bearer abc');
    expect(headers.cookie).toBe('sid=1');
  });

  it('a connection option that is really hop-by-hop still never reaches the app', async () => {
    const headers = seenBy(await call(`${gw.url}/echo`, { headers: { 'Connection': 'x-client-hop, host', 'X-Client-Hop': 'private', 'X-Normal': 'passes' } }));
    expect(headers['x-client-hop']).toBeUndefined();
    expect(headers['x-normal']).toBe('passes');
    expect(headers.host).toBeDefined();
  });

  it('an app cannot strip the framing, type or cookies of its own response on the way to the client', async () => {
    const answer = await call(`${gw.url}/named-hop`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(answer.body)));
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['set-cookie']).toEqual(['app-session=kept; Path=/']);
    expect(answer.headers['x-app-hop']).toBeUndefined();
  });

  it('a websocket upgrade cannot strip Host or the forwarding headers either', async () => {
    const head = await upgrade(gw.url, 'X-Forwarded-For: 203.0.113.7\r\nConnection: Upgrade, Host, X-Forwarded-For, Sec-WebSocket-Key\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    const seen = /^x-seen: (.+)$/im.exec(head)?.[1] ?? '';
    const headers = JSON.parse(Buffer.from(seen, 'base64url').toString('utf8')) as IncomingHttpHeaders;
    expect(headers.host).toBe('shop.example.com');
    expect(headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
    expect(headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(headers.upgrade).toBe('websocket');
  });
});
