import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

/**
 * Each test is named after the threat it blocks. Every answer must be a clear 4xx or 429 with a
 * JSON code, never a crash, never a stack, a file path or a library's message.
 */

const SECRET = 'hardening-secret-at-least-32-characters';
const opened: StreamClient[] = [];
async function get(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const client = await openStream(url, headers);
  opened.push(client);
  return client;
}
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

/** Writes raw bytes and collects the whole answer (the gateway closes these connections). */
function raw(origin: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(error)));
    socket.end(bytes);
  });
}

function expectCleanError(text: string, code: string): void {
  const body = JSON.parse(text) as { error?: string; message?: string };
  expect(body.error).toBe(code);
  expect(text).not.toMatch(/\bat \S+ \(|node_modules|\/work\/|\.ts:\d+|Error:/);
}

describe('hardening', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { jwt: { secret: SECRET, cookie: 'session' }, public: ['open/**'] }, streams: { maxChannelsPerStream: 16 } });
  });
  afterAll(() => gw.close());

  it('a NUL byte in a channel name is refused, not used as a key', async () => {
    const client = await get(`${gw.url}/events/open/a%00b`);
    expect(client.status).toBe(400);
    expectCleanError(client.raw(), 'SSEG_BAD_CHANNEL');
  });

  it('control characters in a channel name (CR, LF, ESC) are refused', async () => {
    for (const bad of ['%0D', '%0A', '%1B']) {
      const client = await get(`${gw.url}/events?channel=open/a${bad}b`);
      expect(client.status).toBe(400);
      expectCleanError(client.raw(), 'SSEG_BAD_CHANNEL');
    }
  });

  it('invisible format characters in a channel name (zero-width space, bidi override) are refused', async () => {
    for (const bad of ['%E2%80%8B', '%E2%80%AE']) {
      expect((await get(`${gw.url}/events/open/a${bad}b`)).status).toBe(400);
    }
  });

  it('invalid UTF-8 in a channel name, in the path or the query, is refused', async () => {
    const inPath = await get(`${gw.url}/events/open/%C3%28`);
    expect(inPath.status).toBe(400);
    expectCleanError(inPath.raw(), 'SSEG_BAD_CHANNEL');
    expect((await get(`${gw.url}/events?channel=open/%FF%FE`)).status).toBe(400);
  });

  it('an overlong channel name is refused', async () => {
    expect((await get(`${gw.url}/events/open/${'x'.repeat(300)}`)).status).toBe(400);
  });

  it('event names with NUL, newline (field injection) or invisible characters are refused on publish', async () => {
    for (const event of ['a\u0000b', 'a\nid: 999', 'a\u200bb', 'a\u202eb', '\ud800']) {
      const { status, body } = await gw.publishRaw(JSON.stringify({ channel: 'open/x', event, data: 'x' }));
      expect(status).toBe(400);
      expect(body.error).toBe('SSEG_BAD_EVENT_NAME');
    }
  });

  it('a publish body of invalid UTF-8 is refused, not silently replaced', async () => {
    const { status, body } = await gw.publishRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expect(status).toBe(400);
    expect(body.error).toBe('SSEG_BAD_ENCODING');
  });

  it('overlong cookies get a clean 431 with a JSON code, and the gateway keeps serving', async () => {
    const cookie = `session=${'x'.repeat(64 * 1024)}`;
    const answer = await raw(gw.url, `GET /events/open/a HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expectCleanError(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'SSEG_HEADERS_TOO_LARGE');
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('a Last-Event-ID of 100 KB gets a clean 431, not a parse of 100 KB', async () => {
    const answer = await raw(gw.url, `GET /events/open/a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: ${'9'.repeat(100 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('SSEG_HEADERS_TOO_LARGE');
  });

  it('a long garbage Last-Event-ID that fits the headers streams from now, echoing only a bounded part of it', async () => {
    const client = await get(`${gw.url}/events/open/a`, { 'Last-Event-ID': 'z'.repeat(8_000) });
    expect(client.status).toBe(200);
    await client.waitFor((c) => c.events.some((event) => event.event === 'gap'), 5_000, 'a gap');
    expect(client.raw().length).toBeLessThan(2_000);
  });

  it('thousands of channels in one request are refused by the configured cap', async () => {
    // A thousand fit in Node's 16 KB header limit; more get the 431 above.
    const query = Array.from({ length: 1_000 }, (_, i) => `channel=${i}`).join('&');
    const client = await get(`${gw.url}/events?${query}`);
    expect(client.status).toBe(400);
    expectCleanError(client.raw(), 'SSEG_TOO_MANY_CHANNELS');
  });

  it('a garbage or oversized bearer token is a 401, never a 500', async () => {
    for (const token of ['not-a-jwt', 'a.b.c', `${'x'.repeat(4_000)}.${'y'.repeat(4_000)}.z`, 'e30.e30.']) {
      const client = await get(`${gw.url}/events/private`, { Authorization: `Bearer ${token}` });
      expect(client.status).toBe(401);
      expectCleanError(client.raw(), 'SSEG_UNAUTHORIZED');
    }
  });

  it('a token whose claims are the wrong shape grants nothing, and does not crash', async () => {
    for (const channels of [42, { a: 1 }, [null, 7, ['x']], 'x'.repeat(10_000)]) {
      const token = await new SignJWT({ channels }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode(SECRET));
      expect((await get(`${gw.url}/events/private`, { Authorization: `Bearer ${token}` })).status).toBe(403);
    }
  });

  it('a malformed request line gets a clean 400 JSON answer', async () => {
    const answer = await raw(gw.url, 'GARBAGE\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"error"');
  });

  it('error bodies for bad JSON leak no parser message', async () => {
    const { status, body } = await gw.publishRaw('{"channel": "open/x", "data": ');
    expect(status).toBe(400);
    expect(body.error).toBe('SSEG_BAD_JSON');
    expect(body.message).not.toMatch(/Unexpected|position|JSON\.parse/);
  });

  it('tokens and cookies never become metric labels', async () => {
    const token = await new SignJWT({ channels: ['x'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode(SECRET));
    await get(`${gw.url}/events/private`, { Authorization: `Bearer ${token}` });
    await get(`${gw.url}/events/private`, { Cookie: `session=${token}` });
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toContain('sseg_connections_rejected_total{code="SSEG_FORBIDDEN"}');
    expect(text).not.toContain(token.split('.')[2] ?? token);
  });
});

describe('hardening: one address', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ streams: { maxConnectionsPerIp: 3 } });
  });
  afterAll(() => gw.close());

  it('a flood of streams from one address is capped with 429 and Retry-After, and the cap frees as streams close', async () => {
    const held = await Promise.all(Array.from({ length: 3 }, () => get(`${gw.url}/events/a`)));
    expect(held.map((client) => client.status)).toEqual([200, 200, 200]);
    const flood = await Promise.all(Array.from({ length: 20 }, () => get(`${gw.url}/events/a`)));
    for (const client of flood) {
      expect(client.status).toBe(429);
      expect(client.headers['retry-after']).toMatch(/^\d+$/);
      expectCleanError(client.raw(), 'SSEG_TOO_MANY_FROM_ADDRESS');
    }
    held[0]?.close();
    await vi.waitFor(async () => {
      const next = await get(`${gw.url}/events/a`);
      expect(next.status).toBe(200);
    });
  });
});
