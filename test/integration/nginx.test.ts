import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect as connectHttp2, constants as http2, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createGunzip } from 'node:zlib';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent, encodePreamble } from '../../src/sse/encode.ts';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { NGINX_TEMPLATE, renderTemplate, startNginx, TEMPLATE_VARIABLES, type NginxOptions, type TestNginx } from '../support/nginx.ts';
import { startRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';
import { until } from '../support/poll.ts';

/**
 * Debian's nginx, configured by nginx/sse-gateway.conf.template exactly as shipped, in front of
 * a real gateway. The streaming checks are written so that a buffering proxy fails them: each
 * event must arrive, byte for byte and with nothing after it, before the next one is published,
 * and the negative controls at the end show the same checks catching an nginx that buffers.
 */

const PREAMBLE = encodePreamble(3_000).toString();

interface Stack {
  gateway: TestGateway;
  nginx: TestNginx;
  close(): Promise<void>;
}

let app: Server;
let appAddr: string;
const stacks: Stack[] = [];

async function startStack(gatewayConfig: Record<string, unknown>, edit?: NginxOptions['edit']): Promise<Stack> {
  const gateway = await startGateway({ log: { level: 'warn' }, ...gatewayConfig });
  let nginx: TestNginx;
  try {
    nginx = await startNginx({ gatewayAddr: new URL(gateway.url).host, appAddr, ...(edit ? { edit } : {}) });
  } catch (error) {
    await gateway.close();
    throw error;
  }
  const stack = {
    gateway,
    nginx,
    close: async () => {
      await nginx.stop();
      await gateway.close();
    },
  };
  stacks.push(stack);
  return stack;
}

beforeAll(async () => {
  // Stands in for the application that receives every path that is not the gateway's.
  app = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`app saw ${req.method ?? '?'} ${req.url ?? '?'}`);
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appAddr = `127.0.0.1:${(app.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(stacks.map((stack) => stack.close()));
  await new Promise((resolve) => app.close(resolve));
});

/** The bytes the gateway writes for one plain event: what must come out of nginx unchanged. */
const frame = (id: string, data: string): string => encodeEvent(id, undefined, data).toString();

/**
 * Publishes `count` events one at a time; each must have arrived through nginx, and be the last
 * thing on the stream, before the next is published. A buffering proxy holds the first event
 * back until more data pushes it out, so it times out here on the first one.
 */
async function publishOneByOne(stack: Stack, client: StreamClient, channel: string, count: number, timeoutMs = 5_000): Promise<string> {
  let expected = client.raw();
  for (let index = 0; index < count; index += 1) {
    const data = `event ${index}`;
    const id = await stack.gateway.publish(channel, data);
    expected += frame(id, data);
    await client.waitFor((c) => c.raw().length >= expected.length, timeoutMs, `event ${index} (${id}) to arrive alone`);
    expect(client.raw()).toBe(expected);
  }
  return expected;
}

describe('the template and its documentation', () => {
  it('declares exactly the placeholders the renderer, compose and docs/deployment.md use', () => {
    const template = readFileSync(NGINX_TEMPLATE, 'utf8');
    const placeholders = new Set([...template.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => match[1]));
    expect([...placeholders].sort()).toEqual([...TEMPLATE_VARIABLES].sort());
    const docs = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
    const envsubst = /envsubst '([^']+)'/.exec(docs)?.[1] ?? '';
    expect(envsubst.split(/\s+/).sort()).toEqual(TEMPLATE_VARIABLES.map((name) => `\${${name}}`).sort());
    // nginx's own variables are written without braces, so no renderer can mistake them for placeholders.
    expect(template).toContain('$proxy_add_x_forwarded_for');
  });

  it('refuses to render with a placeholder missing or a value it does not use', () => {
    expect(() => renderTemplate('server ${GATEWAY_ADDR};', {})).toThrow(/no value for \$\{GATEWAY_ADDR\}/);
    expect(() => renderTemplate('server ${GATEWAY_ADDR};', { GATEWAY_ADDR: 'a:1', APP_ADDR: 'b:2' })).toThrow(/no placeholder for APP_ADDR/);
    expect(renderTemplate('server ${GATEWAY_ADDR}; $host', { GATEWAY_ADDR: 'a:1' })).toBe('server a:1; $host');
  });
});

describe('nginx in front of the gateway (nginx/sse-gateway.conf.template)', () => {
  let stack: Stack;

  beforeAll(async () => {
    // No heartbeat during these checks, so every byte on the wire is one the test expects.
    stack = await startStack({ streams: { heartbeat: '1h' } });
  });

  it('sends the :ok preamble before any event is published (the proxy does not hold the response back)', async () => {
    const client = await openStream(`${stack.nginx.httpUrl}/events/preamble`, { 'Accept-Encoding': 'gzip' });
    try {
      expect(client.status).toBe(200);
      expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      // gzip is on for text/event-stream in the surrounding http { }; the streams location turns it off.
      expect(client.headers['content-encoding']).toBeUndefined();
      // nginx consumes the gateway's X-Accel-Buffering rather than passing it on.
      expect(client.headers['x-accel-buffering']).toBeUndefined();
      await client.waitFor((c) => c.raw().length >= PREAMBLE.length, 5_000, 'the preamble');
      expect(client.raw()).toBe(PREAMBLE);
    } finally {
      client.close();
    }
  });

  it('delivers a single small event with nothing behind it to push it out', async () => {
    const client = await openStream(`${stack.nginx.httpUrl}/events/single`);
    try {
      await client.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
      const id = await stack.gateway.publish('single', 'x');
      await client.waitFor((c) => c.raw().length >= PREAMBLE.length + frame(id, 'x').length, 5_000, 'the one event');
      expect(client.raw()).toBe(PREAMBLE + frame(id, 'x'));
      expect(client.events.map((event) => event.data)).toEqual(['x']);
    } finally {
      client.close();
    }
  });

  it('delivers events one by one: each arrives before the next is published', async () => {
    const client = await openStream(`${stack.nginx.httpUrl}/events/one-by-one`);
    try {
      await client.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
      await publishOneByOne(stack, client, 'one-by-one', 25);
      expect(client.events.map((event) => event.data)).toEqual(Array.from({ length: 25 }, (_, index) => `event ${index}`));
    } finally {
      client.close();
    }
  });

  it('passes Last-Event-ID through, so a reconnect replays exactly what was missed', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) ids.push(await stack.gateway.publish('resume', `missed ${index}`));
    const client = await openStream(`${stack.nginx.httpUrl}/events/resume`, { 'Last-Event-ID': ids[1] ?? '' });
    try {
      const replay = [2, 3, 4].map((index) => frame(ids[index] ?? '', `missed ${index}`)).join('');
      await client.waitFor((c) => c.raw().length >= PREAMBLE.length + replay.length, 5_000, 'the replay');
      expect(client.raw()).toBe(PREAMBLE + replay);
      // And the stream is live after the replay, still through nginx.
      await publishOneByOne(stack, client, 'resume', 2);
      expect(client.events.map((event) => event.id)).toEqual([...ids.slice(2), ...client.events.slice(3).map((event) => event.id)]);
    } finally {
      client.close();
    }
  });

  it('streams over HTTP/2 with TLS, event by event, several streams on one connection', async () => {
    const session = connectHttp2(stack.nginx.httpsUrl, { rejectUnauthorized: false });
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      expect(session.alpnProtocol).toBe('h2');
      // Two EventSources of one page: over HTTP/2 they share the connection instead of taking two of six.
      const first = await openHttp2Stream(session, '/events/over-h2-a');
      const second = await openHttp2Stream(session, '/events/over-h2-b');
      for (const stream of [first, second]) {
        expect(stream.headers[http2.HTTP2_HEADER_STATUS]).toBe(200);
        expect(stream.headers[http2.HTTP2_HEADER_CONTENT_TYPE]).toBe('text/event-stream; charset=utf-8');
        await stream.received(PREAMBLE.length);
        expect(stream.raw()).toBe(PREAMBLE);
      }
      let expectedFirst = PREAMBLE;
      let expectedSecond = PREAMBLE;
      for (let index = 0; index < 5; index += 1) {
        const idA = await stack.gateway.publish('over-h2-a', `a ${index}`);
        expectedFirst += frame(idA, `a ${index}`);
        await first.received(expectedFirst.length);
        expect(first.raw()).toBe(expectedFirst);
        const idB = await stack.gateway.publish('over-h2-b', `b ${index}`);
        expectedSecond += frame(idB, `b ${index}`);
        await second.received(expectedSecond.length);
        expect(second.raw()).toBe(expectedSecond);
      }
      first.close();
      second.close();
    } finally {
      session.destroy();
    }
  });

  it('proxies publish, health and readiness to the gateway and everything else to the app', async () => {
    const published = await fetch(`${stack.nginx.httpUrl}/publish`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'via-nginx', data: 'hello' }),
    });
    expect(published.status).toBe(200);
    expect(((await published.json()) as { id?: string }).id).toMatch(/./);

    const refused = await fetch(`${stack.nginx.httpUrl}/publish`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error?: string }).error).toBe('SSEG_UNAUTHORIZED');

    const health = await fetch(`${stack.nginx.httpUrl}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${stack.nginx.httpUrl}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready' });

    const page = await fetch(`${stack.nginx.httpUrl}/dashboard?x=1`);
    expect(await page.text()).toBe('app saw GET /dashboard?x=1');
  });

  it('serves /metrics only to the allowed scraper address', async () => {
    const allowed = await get(`${stack.nginx.httpUrl}/metrics`, '127.0.0.1');
    expect(allowed.status).toBe(200);
    expect(allowed.body).toContain('# HELP');
    const denied = await get(`${stack.nginx.httpUrl}/metrics`, '127.0.0.2');
    expect(denied.status).toBe(403);
    expect(denied.body).not.toContain('# HELP');
  });

  it('the /metrics allowlist and the /publish block cannot be bypassed with a path the gateway would normalise', async () => {
    // nginx matches `location /events` on these; the gateway must not resolve them to /metrics or /publish.
    for (const target of ['/events\\..\\metrics', '/events/..%2fmetrics', '/events\\..\\publish']) {
      const answer = await rawRequest(stack.nginx.httpUrl, `GET ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`, '127.0.0.2');
      expect(answer, target).not.toContain('# HELP');
      expect(answer, target).toMatch(/^HTTP\/1\.1 (400|403|404) /);
    }
  });
});

describe('nginx in front of a gateway with tickets and a JWT query parameter', () => {
  const auth = { ticket: { enabled: true }, jwt: { secret: 'a-jwt-secret-of-at-least-32-characters', queryParam: 'access_token' } };

  async function issueTicket(stack: Stack, channels: string[], token = TEST_TOKEN): Promise<Response> {
    return fetch(`${stack.nginx.httpUrl}/tickets`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ subject: 'u1', channels }),
    });
  }

  it('routes POST /tickets to the gateway, and the ticket it issues opens a stream through nginx', async () => {
    const stack = await startStack({ auth, streams: { heartbeat: '1h' } });
    const refused = await issueTicket(stack, ['room/*'], 'not-the-publish-token-0123456789');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error?: string }).error).toBe('SSEG_UNAUTHORIZED');
    const issued = await issueTicket(stack, ['room/*']);
    expect(issued.status).toBe(200);
    const { ticket } = (await issued.json()) as { ticket?: string };
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const client = await openStream(`${stack.nginx.httpUrl}/events/room/1?ticket=${ticket ?? ''}`);
    try {
      expect(client.status).toBe(200);
      await client.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
    } finally {
      client.close();
    }
  });

  /** Opens streams whose URLs carry credentials, then reads the access log once both are in it. */
  async function logCredentials(stack: Stack): Promise<{ log: string; ticket: string; token: string }> {
    const { ticket = '' } = (await (await issueTicket(stack, ['room/*'])).json()) as { ticket?: string };
    const token = 'eyJhbGciOiJIUzI1NiJ9.SECRETJWTPAYLOAD.SECRETJWTSIGNATURE';
    const redeemed = await openStream(`${stack.nginx.httpUrl}/events/room/1?ticket=${ticket}`, { Referer: 'https://app.example/page?session=SECRETREFERER' });
    await redeemed.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
    redeemed.close();
    const refused = await openStream(`${stack.nginx.httpUrl}/events/room/2?x=1&access_token=${token}`);
    expect(refused.status).toBe(401);
    refused.close();
    let log = '';
    // nginx writes a stream's line when the stream ends, which is after the client has let go.
    await until(async () => {
      log = await stack.nginx.accessLog();
      return log.includes('/events/room/1') && log.includes('/events/room/2');
    }, 'both requests in the access log');
    return { log, ticket, token };
  }

  it('keeps credentials in query strings (tickets, JWTs) out of its access log, and still logs every request', async () => {
    const stack = await startStack({ auth, streams: { heartbeat: '1h' } });
    const { log, ticket, token } = await logCredentials(stack);
    const lines = log.split('\n').filter((line) => line.includes('"GET /events/room/'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/"GET \/events\/room\/1 HTTP\/1\.1" 200 \d+ "https:\/\/app\.example\/page" "[^"]*" \d+\.\d{3}$/);
    expect(lines[1]).toMatch(/"GET \/events\/room\/2 HTTP\/1\.1" 401 \d+ "-" /);
    for (const secret of [ticket, token, 'SECRETJWT', 'SECRETREFERER', 'access_token', '?']) expect(log).not.toContain(secret);
  });

  it("logs them with the stock combined format if the template's access_log goes (the check above can fail)", async () => {
    const withoutAccessLog = (rendered: string): string => {
      expect(rendered).toMatch(/^\s*access_log \S+ sse_gateway;$/m);
      return rendered.replace(/^\s*access_log \S+ sse_gateway;$/m, '');
    };
    const stack = await startStack({ auth, streams: { heartbeat: '1h' } }, withoutAccessLog);
    const { log, ticket, token } = await logCredentials(stack);
    expect(log).toContain(`?ticket=${ticket}`);
    expect(log).toContain(`access_token=${token}`);
  });
});

describe("nginx and the app's WebSockets", () => {
  let wsApp: Server;
  let appConnections: () => number;
  let nginx: TestNginx;
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  const upgraded = new Set<Socket>();

  beforeAll(async () => {
    const gateway = await startGateway({ log: { level: 'warn' } });
    wsApp = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('plain');
    });
    // A websocket handshake answered by hand, then an echo: the framing is not what nginx must get right.
    wsApp.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      seen.push(req.headers);
      // closeAllConnections() does not see upgraded sockets.
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => wsApp.listen(0, '127.0.0.1', resolve));
    const counted = await countConnections((wsApp.address() as AddressInfo).port);
    appConnections = counted.connections;
    nginx = await startNginx({ gatewayAddr: new URL(gateway.url).host, appAddr: counted.addr });
    stacks.push({
      gateway,
      nginx,
      close: async () => {
        await nginx.stop();
        await counted.close();
        for (const socket of upgraded) socket.destroy();
        wsApp.closeAllConnections();
        await new Promise((resolve) => wsApp.close(resolve));
        await gateway.close();
      },
    });
  });

  it('passes a websocket upgrade through to the app and relays bytes both ways', async () => {
    const req = request(`${nginx.httpUrl}/chat`, {
      headers: { 'Connection': 'Upgrade', 'Upgrade': 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' },
    });
    const handshake = new Promise<{ status: number | undefined; socket: Socket }>((resolve, reject) => {
      req.once('upgrade', (response, socket) => resolve({ status: response.statusCode, socket }));
      req.once('response', (response) => reject(new Error(`no upgrade: the app answered ${response.statusCode ?? '?'}`)));
      req.once('error', reject);
    });
    req.end();
    const { status, socket } = await handshake;
    try {
      expect(status).toBe(101);
      expect(seen.at(-1)?.['upgrade']).toBe('websocket');
      const echoed = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      socket.write('x');
      expect(await echoed).toBe('x');
    } finally {
      socket.destroy();
    }
  });

  it('still sends plain requests to the app over one pooled connection, with the forwarding headers', async () => {
    const before = appConnections();
    seen.length = 0;
    for (let index = 0; index < 10; index += 1) {
      const response = await fetch(`${nginx.httpUrl}/page`, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
      expect(await response.text()).toBe('plain');
    }
    expect(appConnections() - before).toBe(1);
    expect(seen).toHaveLength(10);
    for (const headers of seen) {
      expect(headers['connection']).toBeUndefined();
      expect(headers['upgrade']).toBeUndefined();
      expect(headers['host']).toBe(new URL(nginx.httpUrl).hostname);
      expect(headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(headers['x-forwarded-proto']).toBe('http');
    }
  });
});

describe('nginx when the gateway cannot take a stream', () => {
  const RETRY_STREAM = /^:unavailable\nretry: (2000|4000|6000|8000)\n\n$/;

  it("answers a full gateway's 503 with a 200 retry stream, since EventSource never retries a 503", async () => {
    const stack = await startStack({ streams: { maxConnections: 1, heartbeat: '1h' } });
    const holder = await openStream(`${stack.nginx.httpUrl}/events/full`);
    try {
      await holder.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
      const direct = await fetch(`${stack.gateway.url}/events/full`);
      expect(direct.status).toBe(503);
      await direct.body?.cancel();
      const refused = await openStream(`${stack.nginx.httpUrl}/events/full`);
      expect(refused.status).toBe(200);
      expect(refused.headers['content-type']).toBe('text/event-stream');
      expect(refused.headers['cache-control']).toBe('no-cache, no-transform');
      await refused.waitForEnd();
      expect(refused.raw()).toMatch(RETRY_STREAM);
      expect(refused.events).toEqual([]);
    } finally {
      holder.close();
    }
  });

  it('spreads the retry hint over 2-8 s when the gateway is down, so clients do not return in one wave', async () => {
    const stack = await startStack({ streams: { heartbeat: '1h' } });
    await stack.gateway.close();
    const delays = new Set<string>();
    for (let index = 0; index < 40; index += 1) {
      const client = await openStream(`${stack.nginx.httpUrl}/events/down`);
      await client.waitForEnd();
      expect(client.status).toBe(200);
      expect(client.raw()).toMatch(RETRY_STREAM);
      delays.add(RETRY_STREAM.exec(client.raw())?.[1] ?? '');
    }
    expect(delays.size).toBeGreaterThan(1);
  });

  it("passes the gateway's other refusals through as they are", async () => {
    const stack = await startStack({ streams: { heartbeat: '1h' } });
    const response = await fetch(`${stack.nginx.httpUrl}/events?channel=`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error?: string }).error).toBe('SSEG_BAD_CHANNEL');
  });

  /** An EventSource through nginx across a gateway restart; Redis history makes the resume exact. */
  async function acrossRestart(
    edit?: NginxOptions['edit'],
  ): Promise<{ source: EventSource; received: MessageEvent[]; errors: () => number; restart: () => Promise<TestGateway> }> {
    const redis = await startRedis();
    const config = { history: { backend: 'redis' }, redis: { url: redis.url }, streams: { retry: '200ms', heartbeat: '1h' } };
    const first = await startStack(config, edit);
    const port = Number(new URL(first.gateway.url).port);
    const received: MessageEvent[] = [];
    let errors = 0;
    const source = new EventSource(`${first.nginx.httpUrl}/events/restart`);
    source.onmessage = (event) => received.push(event);
    source.onerror = () => (errors += 1);
    let second: TestGateway | undefined;
    stacks.push({
      gateway: first.gateway,
      nginx: first.nginx,
      close: async () => {
        source.close();
        await second?.close();
        await redis.stop();
      },
    });
    return {
      source,
      received,
      errors: () => errors,
      restart: async () => {
        second = await startGateway({ ...config, server: { port }, log: { level: 'warn' } });
        return second;
      },
    };
  }

  it("keeps a browser's EventSource reconnecting across a gateway restart, and it resumes exactly", async () => {
    const stack = stacks.length;
    const run = await acrossRestart();
    const gateway = stacks[stack]?.gateway;
    await until(() => run.source.readyState === EventSource.OPEN, 'the EventSource to open');
    const firstId = await gateway?.publish('restart', 'before');
    await until(() => run.received.length === 1, 'the first event');
    await gateway?.close();
    // The drain's retry, then at least one answer from nginx while no gateway listens.
    await until(() => run.errors() >= 2, 'two reconnect attempts');
    expect(run.source.readyState).toBe(EventSource.CONNECTING);
    const restarted = await run.restart();
    const secondId = await restarted.publish('restart', 'after');
    await until(() => run.received.length === 2, 'the event published while it was away', 20_000);
    expect(run.received.map((event) => [event.lastEventId, String(event.data)])).toEqual([
      [firstId, 'before'],
      [secondId, 'after'],
    ]);
  }, 40_000);

  it('without the retry stream, the same EventSource gives up for good on the 502 (the check above can fail)', async () => {
    const withoutFallback = (rendered: string): string => {
      expect(rendered).toContain('error_page 502 503 504 = @sse_gateway_retry;');
      return rendered.replace('error_page 502 503 504 = @sse_gateway_retry;', '');
    };
    const stack = stacks.length;
    const run = await acrossRestart(withoutFallback);
    const gateway = stacks[stack]?.gateway;
    await until(() => run.source.readyState === EventSource.OPEN, 'the EventSource to open');
    await gateway?.close();
    await until(() => run.source.readyState === EventSource.CLOSED, 'the EventSource to give up');
  }, 40_000);
});

describe('nginx upstream keep-alive', () => {
  /** Gateway behind a TCP forwarder that counts the connections nginx opens to it. */
  async function countedStack(edit?: NginxOptions['edit']): Promise<{ nginx: TestNginx; connections: () => number }> {
    const gateway = await startGateway({ log: { level: 'warn' } });
    const counted = await countConnections(Number(new URL(gateway.url).port));
    const nginx = await startNginx({ gatewayAddr: counted.addr, appAddr, ...(edit ? { edit } : {}) });
    stacks.push({
      gateway,
      nginx,
      close: async () => {
        await nginx.stop();
        await counted.close();
        await gateway.close();
      },
    });
    return { nginx, connections: counted.connections };
  }

  async function healthChecks(nginx: TestNginx, count: number): Promise<void> {
    for (let index = 0; index < count; index += 1) {
      const response = await fetch(`${nginx.httpUrl}/healthz`);
      expect(response.status).toBe(200);
      await response.text();
    }
  }

  it('sends consecutive short requests over one pooled upstream connection', async () => {
    const { nginx, connections } = await countedStack();
    await healthChecks(nginx, 10);
    expect(connections()).toBe(1);
  });

  it('opens a connection per request without the keepalive pool (the check above can fail)', async () => {
    const withoutPool = (rendered: string): string => {
      expect(rendered).toContain('keepalive 32;');
      return rendered.replace('keepalive 32;', '');
    };
    const { nginx, connections } = await countedStack(withoutPool);
    await healthChecks(nginx, 10);
    expect(connections()).toBe(10);
  });
});

describe('nginx and heartbeats', () => {
  it('passes heartbeat comments through while a stream is idle', async () => {
    const stack = await startStack({ streams: { heartbeat: '200ms' } });
    const client = await openStream(`${stack.nginx.httpUrl}/events/idle`);
    try {
      await client.waitFor((c) => c.comments.filter((comment) => comment === '').length >= 3, 10_000, 'three heartbeats');
      expect(client.events).toEqual([]);
      expect(client.raw()).toBe(PREAMBLE + ':\n\n'.repeat(client.comments.length - 1));
    } finally {
      client.close();
    }
  });
});

describe('negative controls: the same checks catch an nginx that holds the stream back', () => {
  // Measured with Debian's nginx 1.22: `proxy_buffering on` alone still writes to a client that
  // keeps up, and gzip alone (buffering off) flushes per chunk; together, the response stalls.
  // Each of the two directives in the streams location is enough to prevent that on its own.
  const ignoreGatewayHeader = (rendered: string): string => {
    expect(rendered.match(/proxy_buffering off;/g)).toHaveLength(1);
    return rendered.replace('proxy_buffering off;', 'proxy_buffering off; proxy_ignore_headers X-Accel-Buffering;');
  };
  const bufferingOn = (rendered: string): string => ignoreGatewayHeader(rendered).replace('proxy_buffering off;', 'proxy_buffering on;');
  const gzipLeftOn = (rendered: string): string => {
    expect(rendered.match(/gzip off;/g)).toHaveLength(1);
    return rendered.replace('gzip off;', '');
  };

  it('buffering and gzip together hold even the response headers back until more data comes', async () => {
    const stack = await startStack({ streams: { heartbeat: '1h' } }, (rendered) => gzipLeftOn(bufferingOn(rendered)));
    const opening = openStream(`${stack.nginx.httpUrl}/events/held`, { 'Accept-Encoding': 'gzip' });
    const outcome = await Promise.race([opening.then(() => 'opened'), new Promise((resolve) => setTimeout(resolve, 1_500, 'held back'))]);
    expect(outcome).toBe('held back');
    await stack.gateway.publish('held', 'event 0');
    // Not a broken stream: enough data behind the first event pushes everything out at once.
    await stack.gateway.publish('held', randomText(256 * 1024));
    const client = await Promise.race([
      opening,
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('the stream never came out of nginx')), 10_000)),
    ]);
    try {
      expect(client.headers['content-encoding']).toBe('gzip');
    } finally {
      client.close();
    }
  });

  it('gzip off alone keeps the stream flowing when buffering is on', async () => {
    const stack = await startStack({ streams: { heartbeat: '1h' } }, bufferingOn);
    expect(stack.nginx.config).toContain('proxy_buffering on;');
    const client = await openStream(`${stack.nginx.httpUrl}/events/buffered-uncompressed`, { 'Accept-Encoding': 'gzip' });
    try {
      expect(client.headers['content-encoding']).toBeUndefined();
      await client.waitFor((c) => c.raw() === PREAMBLE, 5_000, 'the preamble');
      await publishOneByOne(stack, client, 'buffered-uncompressed', 5);
    } finally {
      client.close();
    }
  });

  it('proxy_buffering off alone keeps the stream flowing when gzip is left on', async () => {
    const stack = await startStack({ streams: { heartbeat: '1h' } }, (rendered) => gzipLeftOn(ignoreGatewayHeader(rendered)));
    const client = await openGzipStream(`${stack.nginx.httpUrl}/events/compressed`);
    try {
      expect(client.encoding).toBe('gzip');
      await client.waitForText(PREAMBLE);
      let expected = PREAMBLE;
      for (let index = 0; index < 5; index += 1) {
        const id = await stack.gateway.publish('compressed', `event ${index}`);
        expected += frame(id, `event ${index}`);
        await client.waitForText(expected);
      }
    } finally {
      client.close();
    }
  });
});

/** A TCP forwarder to 127.0.0.1:`port` that counts the connections made through it (by nginx, here). */
async function countConnections(port: number): Promise<{ addr: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const forwarder = createNetServer((inbound) => {
    connections += 1;
    const outbound = netConnect(port, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  return {
    addr: `127.0.0.1:${(forwarder.address() as AddressInfo).port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => forwarder.close(resolve));
    },
  };
}

/** Incompressible filler, so gzip's output really grows past nginx's buffers. */
function randomText(length: number): string {
  return randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

/** A stream read through gunzip; gzip output is only readable once nginx has flushed it. */
function openGzipStream(url: string): Promise<{ encoding: string | undefined; waitForText(text: string): Promise<void>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'Accept': 'text/event-stream', 'Accept-Encoding': 'gzip' } }, (response) => {
      const gunzip = createGunzip();
      let text = '';
      const checks = new Set<() => void>();
      gunzip.setEncoding('utf8');
      gunzip.on('data', (chunk: string) => {
        text += chunk;
        for (const check of checks) check();
      });
      gunzip.on('error', () => undefined);
      response.pipe(gunzip);
      resolve({
        encoding: response.headers['content-encoding'],
        waitForText: (wanted) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => {
              checks.delete(check);
              fail(new Error(`timed out waiting for ${JSON.stringify(wanted)}; got ${JSON.stringify(text)}`));
            }, 5_000);
            const check = (): void => {
              if (text.length < wanted.length) return;
              clearTimeout(timer);
              checks.delete(check);
              if (text === wanted) done();
              else fail(new Error(`expected ${JSON.stringify(wanted)}, got ${JSON.stringify(text)}`));
            };
            checks.add(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Http2Stream {
  readonly headers: Record<string, unknown>;
  raw(): string;
  /** Resolves once `length` characters have arrived; rejects after 5 s. */
  received(length: number): Promise<void>;
  close(): void;
}

/** One GET on an open HTTP/2 session, its body kept as text; resolves with the response headers. */
function openHttp2Stream(session: ClientHttp2Session, path: string): Promise<Http2Stream> {
  const request = session.request({ [http2.HTTP2_HEADER_PATH]: path, accept: 'text/event-stream' });
  let raw = '';
  const arrivals = new Set<() => void>();
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => {
    raw += chunk;
    for (const check of arrivals) check();
  });
  return new Promise((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (headers) =>
      resolve({
        headers,
        raw: () => raw,
        received: (length) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => {
              arrivals.delete(check);
              fail(new Error(`timed out over HTTP/2 on ${path}; received ${JSON.stringify(raw)}`));
            }, 5_000);
            const check = (): void => {
              if (raw.length < length) return;
              clearTimeout(timer);
              arrivals.delete(check);
              done();
            };
            arrivals.add(check);
            check();
          }),
        close: () => request.close(http2.NGHTTP2_CANCEL),
      }),
    );
  });
}

function get(url: string, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One raw request from `localAddress` (a target fetch would normalise is sent as is); resolves with the whole answer. */
function rawRequest(origin: string, bytes: string, localAddress: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: hostname, port: Number(port), localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    // Written, not ended: nginx takes a client's FIN on a proxied request as an abort and answers nothing.
    socket.write(bytes);
  });
}
