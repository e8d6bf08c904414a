import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HANG_UP_LINGER_MS } from '../../src/http/hang-up.ts';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { until } from '../support/poll.ts';

/**
 * The front door and the router, each test named after the threat it blocks (an adversarial
 * review found each against an earlier version).
 */

const held: Socket[] = [];
afterEach(() => {
  for (const socket of held.splice(0)) socket.destroy();
});

/** Sends raw bytes and resolves with everything the server writes until it closes its side. */
function exchange(origin: string, bytes: string | Buffer, options: { keepOpen?: boolean } = {}): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    held.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(error)));
    if (options.keepOpen) socket.write(bytes);
    else socket.end(bytes);
  });
}

/** Open file descriptors of this process (the gateway runs in it). */
const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('hardening: the front door', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { jwt: { secret: 'front-door-hardening-secret-0123456789', cookie: 'session' } }, log: { level: 'silent' } });
  });
  afterAll(() => gw.close());

  it("clients that read their 401 and keep the connection open cannot hold the gateway's sockets", async () => {
    const before = openFds();
    const clients = 40;
    const answers = await Promise.all(
      Array.from({ length: clients }, () => exchange(gw.url, 'GET /events/secret HTTP/1.1\r\nHost: gw\r\n\r\n', { keepOpen: true })),
    );
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    // Each client keeps its own socket (one fd here); the gateway's side of each must be gone.
    await until(() => openFds() <= before + clients + 4, 'the gateway to close the refused sockets', HANG_UP_LINGER_MS * 4);
  });

  it('the nginx rules cannot be bypassed with backslashes and dot segments that the router would resolve', async () => {
    for (const target of [
      '/events\\..\\metrics',
      '/events/../metrics',
      '/events/%2e%2e/metrics',
      '/events/%2E%2E/healthz',
      '/events/./fz',
      '/metrics/.',
      '/events%2f..%2fmetrics',
    ]) {
      for (const method of ['GET', 'POST']) {
        const answer = await exchange(gw.url, `${method} ${target} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        expect(answer, `${method} ${target}`).toMatch(/^HTTP\/1\.1 400 /);
        expect(answer).toContain('"error":"SSEG_BAD_QUERY"');
        expect(answer).not.toContain('sseg_');
      }
    }
    const publish = await exchange(
      gw.url,
      `POST /events\\..\\publish HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n{"channel":"fz","data":"x-1"}`,
    );
    expect(publish).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('an encoded slash inside a channel still reaches the stream it names', async () => {
    const answer = await exchange(gw.url, 'GET /events/secret%2Fa HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    // Routed as a stream (the channel needs a credential), not refused as a bad target.
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('a head ending in LF LF is answered at once as node:http answers it, not after the head timeout', async () => {
    const answer = await exchange(gw.url, 'GET /events/fz HTTP/1.1\nHost: gw\n\n', { keepOpen: true });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('a client that sends half a head and closes its side is answered at once, not held until the head timeout', async () => {
    expect(await exchange(gw.url, 'GET /events/fz HTTP/1.1\r\nHost: g')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('encoded dot segments and slashes that nginx would resolve cannot route around it', async () => {
    for (const target of ['/events/..%2fmetrics', '/events/%2e%2e%2fmetrics', '/events/.%2E/healthz']) {
      expect(await exchange(gw.url, `GET ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`), target).toMatch(/^HTTP\/1\.1 400 /);
    }
  });

  it('a NUL, ESC or DEL in a header value is refused as node:http refuses it, never served', async () => {
    for (const byte of ['\u0000', '\u001b', '\u007f']) {
      const answer = await exchange(gw.url, `GET /events/fz HTTP/1.1\r\nHost: gw\r\nLast-Event-ID: a${byte}b\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
  });

  it('an HTTP/1.1 stream request without Host, or with two Content-Lengths, is refused as node:http refuses it', async () => {
    expect(await exchange(gw.url, 'GET /events/fz HTTP/1.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await exchange(gw.url, 'GET /events/fz HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('a request pipelined behind a refused stream head is answered, not dropped', async () => {
    const answer = await exchange(gw.url, 'GET /events/secret HTTP/1.1\r\nHost: gw\r\n\r\nGET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    expect([...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1])).toEqual(['401', '200']);
  });

  it('a stream request with Expect: 100-continue gets the interim 100 node:http sends', async () => {
    const answer = await exchange(gw.url, 'GET /events/secret HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 401 /);
  });
});
