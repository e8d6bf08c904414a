import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream } from '../support/sse-client.ts';

/**
 * Forward auth against a client that tries to make its own bad credential look like the app
 * being down (503 SSEG_AUTH_UNAVAILABLE, counted as an outage). Each test is named after the
 * threat it blocks; every one talks to a real gateway and a real app over real sockets.
 */

interface AuthApp {
  readonly url: string;
  readonly seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** The app's auth endpoint: a real node:http server, deciding by the session cookie. */
async function startApp(): Promise<AuthApp> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(request.headers);
    const cookie = request.headers.cookie ?? '';
    // Like an app behind nginx's 8 KB header buffers: a huge cookie is too large for it.
    if (cookie.length > 8 * 1024) {
      response.writeHead(431).end();
      return;
    }
    const session = /sid=([a-z-]+)/.exec(cookie)?.[1];
    switch (session) {
      case 'alice':
        response.writeHead(200, { 'X-SSEG-Channels': 'a/*' }).end();
        return;
      case 'garbled':
        response.writeHead(400).end('cannot parse that session');
        return;
      case 'to-login':
        response.writeHead(302, { Location: '/login' }).end();
        return;
      case 'broken':
        response.writeHead(500).end('stack trace with secrets');
        return;
      case 'slow':
        return; // never answers: the gateway's timeout fires
      default:
        response.writeHead(401).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/sse`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * A stream request written byte for byte: fetch and node:http's client refuse control bytes in
 * a header, a hostile client does not. What matters is what node:http's parser lets through to
 * the gateway, so the bytes go over a plain TCP socket.
 */
function rawStream(base: string, header: Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end === -1 ? text : text.slice(0, end);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: end === -1 ? '' : text.slice(end + 4) });
    });
    socket.write(
      Buffer.concat([
        Buffer.from(`GET /events/a/b HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\nConnection: close\r\n`),
        header,
        Buffer.from('\r\n\r\n'),
      ]),
    );
  });
}

async function decisions(gw: TestGateway, outcome: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const match = new RegExp(`^sseg_auth_decisions_total\\{mode="forward",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

const errorCode = (body: string): string | undefined => (JSON.parse(body) as { error?: string }).error;

describe('forward-auth hardening: a bad credential is the client’s problem, not an outage', () => {
  let app: AuthApp;
  let gw: TestGateway;
  beforeAll(async () => {
    app = await startApp();
    gw = await startGateway({ auth: { forward: { url: app.url, timeout: '300ms', cacheTtl: '0s' } } });
  });
  afterAll(async () => {
    await gw.close();
    await app.close();
  });

  // Each byte here once got through the front door to forward auth. node:http refuses them all, and the
  // front door now hands such a head to node:http, so it is a 400 from the parser: the app is never
  // asked and no auth decision is counted at all. forward.ts still refuses such bytes itself.
  for (const [name, byte] of [
    ['NUL', 0x00],
    ['ESC', 0x1b],
    ['DEL', 0x7f],
    ['a bare CR', 0x0d],
    ['BS', 0x08],
  ] as const) {
    it(`a cookie holding ${name} cannot fake an auth outage: refused as HTTP node:http cannot parse, the app never asked`, async () => {
      const asked = app.seen.length;
      const unavailable = await decisions(gw, 'unavailable');
      const refused = await decisions(gw, 'unauthorized');
      const cookie = Buffer.concat([Buffer.from('Cookie: sid=alice; marker=leak-me-'), Buffer.from([byte]), Buffer.from('-please')]);
      const answer = await rawStream(gw.url, cookie);
      expect(answer.status).toBe(400);
      expect(errorCode(answer.body)).toBe('SSEG_BAD_QUERY');
      expect(answer.head).not.toMatch(/^retry-after:/im);
      expect(app.seen.length).toBe(asked);
      expect(await decisions(gw, 'unavailable')).toBe(unavailable);
      expect(await decisions(gw, 'unauthorized')).toBe(refused);
    });
  }

  it('an Authorization header holding ESC cannot fake an auth outage either', async () => {
    const answer = await rawStream(gw.url, Buffer.from('Authorization: Session leak-me-\x1b-please', 'latin1'));
    expect(answer.status).toBe(400);
    expect(errorCode(answer.body)).toBe('SSEG_BAD_QUERY');
  });

  it('a malformed credential never reaches the response or the logs, nor does the HTTP library’s complaint about it', async () => {
    const answer = await rawStream(gw.url, Buffer.from('Cookie: sid=leak-me-\x1b-please', 'latin1'));
    expect(answer.status).toBe(400);
    const logs = gw.logs.join('\n');
    for (const text of [answer.head, answer.body, logs]) {
      expect(text).not.toContain('leak-me');
      expect(text).not.toMatch(/UND_ERR|invalid (cookie|authorization) header/i);
    }
  });

  it('a 16 KB cookie the app refuses with 431 is a refusal (401), not an outage', async () => {
    const unavailable = await decisions(gw, 'unavailable');
    const asked = app.seen.length;
    // Under the gateway's own header limit (16 KiB: beyond it the gateway answers 431 itself), past the app's.
    const client = await openStream(`${gw.url}/events/a/b`, { Cookie: `sid=alice; pad=${'x'.repeat(16_000)}` });
    client.close();
    expect(app.seen.length).toBe(asked + 1);
    expect(client.status).toBe(401);
    expect(errorCode(client.raw())).toBe('SSEG_UNAUTHORIZED');
    expect(client.headers['retry-after']).toBeUndefined();
    expect(await decisions(gw, 'unavailable')).toBe(unavailable);
  });

  it('any other 4xx or a redirect from the app refuses the credential (401) instead of reporting an outage', async () => {
    const unavailable = await decisions(gw, 'unavailable');
    for (const session of ['garbled', 'to-login']) {
      const client = await openStream(`${gw.url}/events/a/b`, { Cookie: `sid=${session}` });
      client.close();
      expect(client.status).toBe(401);
      expect(client.raw()).not.toContain('cannot parse');
    }
    expect(await decisions(gw, 'unavailable')).toBe(unavailable);
  });

  it('a real outage is still one: the app failing answers 503 and counts as unavailable', async () => {
    const unavailable = await decisions(gw, 'unavailable');
    const client = await openStream(`${gw.url}/events/a/b`, { Cookie: 'sid=broken' });
    client.close();
    expect(client.status).toBe(503);
    expect(errorCode(client.raw())).toBe('SSEG_AUTH_UNAVAILABLE');
    expect(client.raw()).not.toContain('stack trace');
    expect(await decisions(gw, 'unavailable')).toBe(unavailable + 1);
  });

  it('a real outage is still one: the app too slow answers 504 and counts as a timeout', async () => {
    const timeouts = await decisions(gw, 'timeout');
    const client = await openStream(`${gw.url}/events/a/b`, { Cookie: 'sid=slow' });
    client.close();
    expect(client.status).toBe(504);
    expect(errorCode(client.raw())).toBe('SSEG_AUTH_TIMEOUT');
    expect(await decisions(gw, 'timeout')).toBe(timeouts + 1);
  });
});

describe('forward-auth hardening: the app down', () => {
  it('a real outage is still one: nothing listening answers 503 and counts as unavailable', async () => {
    const app = await startApp();
    const url = app.url;
    await app.close();
    const gw = await startGateway({ auth: { forward: { url, timeout: '300ms' } } });
    try {
      const client = await openStream(`${gw.url}/events/a/b`, { Cookie: 'sid=alice' });
      client.close();
      expect(client.status).toBe(503);
      expect(errorCode(client.raw())).toBe('SSEG_AUTH_UNAVAILABLE');
      expect(client.raw()).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
      expect(await decisions(gw, 'unavailable')).toBe(1);
    } finally {
      await gw.close();
    }
  });
});
