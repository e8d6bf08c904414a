import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { testScope } from '../support/scope.ts';
import { TEST_TOKEN, type TestGateway } from '../support/gateway.ts';

const scope = testScope();

const gateway = scope.gateway;

/** A raw connection that records everything it receives. */
function raw(gw: TestGateway): { socket: Socket; received: () => string; closed: () => boolean } {
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  scope.defer(() => socket.destroy());
  let text = '';
  let closed = false;
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.on('close', () => (closed = true)).on('error', () => undefined);
  return { socket, received: () => text, closed: () => closed };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the front door', () => {
  it('assembles a stream request that arrives a few bytes at a time', async () => {
    const gw = await gateway();
    const client = raw(gw);
    const request = 'GET /events/slow HTTP/1.1\r\nHost: x\r\nLast-Event-ID: nope\r\n\r\n';
    for (let i = 0; i < request.length; i += 7) {
      client.socket.write(request.slice(i, i + 7));
      await pause(2);
    }
    await expect.poll(() => client.received()).toContain('event: gap');
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.received()).toContain('Transfer-Encoding: chunked\r\n');
  });

  it('hands everything else to node:http with the bytes it read, bodies and keep-alive intact', async () => {
    const gw = await gateway();
    const client = raw(gw);
    const body = JSON.stringify({ channel: 'c', data: 'x'.repeat(5000) });
    // Split inside the request line, so the decision is made on a partial first chunk.
    client.socket.write('POST /pub');
    await pause(5);
    client.socket.write(
      `lish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`,
    );
    await pause(5);
    client.socket.write(body.slice(100));
    await expect.poll(() => client.received()).toMatch(/\{"id":"[a-z0-9]+-1"\}$/);
    // Same connection, second request: node:http's keep-alive still works after the hand-over.
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.received()).toMatch(/\{"status":"ok"\}$/);
    expect(client.received().match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });

  it('leaves look-alike paths to node:http', async () => {
    const gw = await gateway();
    const response = await fetch(`${gw.url}/eventsource-polyfill.js`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe('SSEG_NOT_FOUND');
  });

  it('answers a stream request with an oversize head with 431 and closes', async () => {
    const gw = await gateway();
    const client = raw(gw);
    client.socket.write(`GET /events/a HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20_000)}`);
    await expect.poll(() => client.closed()).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 431 /);
    expect(client.received()).toContain('"error":"SSEG_HEADERS_TOO_LARGE"');
  });

  it('answers errors on the stream path as JSON and closes the connection', async () => {
    const gw = await gateway();
    const client = raw(gw);
    client.socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.closed()).toBe(true);
    const [head = '', body = ''] = client.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toContain('Connection: close');
    expect(JSON.parse(body)).toMatchObject({ error: 'SSEG_BAD_CHANNEL' });
  });

  it("keeps the connection after a stream ends cleanly, for the client's next request", async () => {
    const gw = await gateway({ streams: { retry: '1s' } });
    const client = raw(gw);
    client.socket.write('GET /events/a HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.received()).toContain(':ok');
    const closing = gw.close();
    // The stream ends with a retry hint and the terminating chunk; the connection stays open.
    await expect.poll(() => client.received()).toMatch(/retry: \d+\n\n\r\n0\r\n\r\n$/);
    expect(client.received()).toContain('Connection: keep-alive');
    await closing;
    expect(client.closed()).toBe(true);
  });

  it('sees a client leave at once, without waiting for a heartbeat', async () => {
    const gw = await gateway({ streams: { heartbeat: '1h' } });
    const client = raw(gw);
    client.socket.write('GET /events/a HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.received()).toContain(':ok');
    const open = async (): Promise<number> => (await gw.gateway.metrics.connectionsOpen.get()).values[0]?.value ?? -1;
    expect(await open()).toBe(1);
    client.socket.end();
    await expect.poll(open).toBe(0);
  });
});
