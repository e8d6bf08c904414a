import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const HMAC_SECRET = 'webhook-signing-secret-0123456789abcdef';
const opened: StreamClient[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

function signed(body: string, options: { secret?: string; timestamp?: number } = {}): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const hex = createHmac('sha256', options.secret ?? HMAC_SECRET)
    .update(`${timestamp}.${body}`)
    .digest('hex');
  return { 'Content-Type': 'application/json', 'X-SSEG-Timestamp': timestamp, 'X-SSEG-Signature': `sha256=${hex}` };
}

describe('HMAC-signed publishing', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ publish: { hmacSecrets: ['an-old-secret-still-accepted-during-rotation', HMAC_SECRET] } });
  });
  afterAll(() => gw.close());

  const post = (body: string, headers: Record<string, string>) => fetch(`${gw.url}/publish`, { method: 'POST', headers, body });

  it('accepts a body signed with a configured secret, without a bearer token', async () => {
    const client = await openStream(`${gw.url}/events/orders`);
    opened.push(client);
    const body = JSON.stringify({ channel: 'orders', data: { id: 7 } });
    const response = await post(body, signed(body));
    expect(response.status).toBe(200);
    const [event] = await client.waitForEvents(1);
    expect(event?.data).toBe('{"id":7}');
  });

  it('refuses a signature made with another secret', async () => {
    const body = JSON.stringify({ channel: 'orders', data: 1 });
    const response = await post(body, signed(body, { secret: 'not-the-secret-but-just-as-long-0123456789' }));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('SSEG_UNAUTHORIZED');
  });

  it('refuses a body changed after signing', async () => {
    const body = JSON.stringify({ channel: 'orders', data: 1 });
    const response = await post(body.replace('1', '2'), signed(body));
    expect(response.status).toBe(401);
  });

  it('refuses a stale timestamp (a replayed request) with SSEG_SIGNATURE_EXPIRED', async () => {
    const body = JSON.stringify({ channel: 'orders', data: 1 });
    const response = await post(body, signed(body, { timestamp: Math.floor(Date.now() / 1000) - 600 }));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('SSEG_SIGNATURE_EXPIRED');
  });

  it('refuses a malformed signature header', async () => {
    const body = JSON.stringify({ channel: 'orders', data: 1 });
    const response = await post(body, { ...signed(body), 'X-SSEG-Signature': 'md5=abc' });
    expect(response.status).toBe(401);
  });

  it('still accepts the bearer token', async () => {
    expect((await gw.publishRaw(JSON.stringify({ channel: 'orders', data: 1 }))).status).toBe(200);
  });
});

describe('tickets', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { ticket: { enabled: true, ttl: '30s', maxOutstanding: 3 } } });
  });
  afterAll(() => gw.close());

  async function issue(body: unknown, token = TEST_TOKEN): Promise<{ status: number; body: { ticket?: string; error?: string; expiresAt?: string } }> {
    const response = await fetch(`${gw.url}/tickets`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { ticket?: string } };
  }

  it('issues a ticket only to a publish credential', async () => {
    expect((await issue({ subject: 'u1', channels: ['a'] }, 'wrong-token-wrong-token')).status).toBe(401);
  });

  it('opens a stream once with a ticket, and refuses the same ticket the second time', async () => {
    const { status, body } = await issue({ subject: 'u1', channels: ['room/*'] });
    expect(status).toBe(200);
    expect(body.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const first = await openStream(`${gw.url}/events/room/1?ticket=${body.ticket}`);
    opened.push(first);
    expect(first.status).toBe(200);
    const second = await openStream(`${gw.url}/events/room/1?ticket=${body.ticket}`);
    opened.push(second);
    expect(second.status).toBe(401);
  });

  it('grants only the channels it was issued for', async () => {
    const { body } = await issue({ subject: 'u1', channels: ['room/*'] });
    const client = await openStream(`${gw.url}/events/other?ticket=${body.ticket}`);
    opened.push(client);
    expect(client.status).toBe(403);
  });

  it('refuses a ticket used after its ttl', async () => {
    const { body } = await issue({ subject: 'u1', channels: ['a'], ttl: 0.05 });
    await sleep(200);
    const client = await openStream(`${gw.url}/events/a?ticket=${body.ticket}`);
    opened.push(client);
    expect(client.status).toBe(401);
  });

  it('refuses malformed ticket requests with SSEG_BAD_TICKET_REQUEST', async () => {
    expect((await issue({ subject: '', channels: ['a'] })).body.error).toBe('SSEG_BAD_TICKET_REQUEST');
    expect((await issue({ subject: 'u\u202e1', channels: ['a'] })).body.error).toBe('SSEG_BAD_TICKET_REQUEST');
    expect((await issue({ subject: 'u1', channels: [] })).body.error).toBe('SSEG_BAD_TICKET_REQUEST');
    expect((await issue({ subject: 'u1', channels: ['a'], admin: true })).body.error).toBe('SSEG_BAD_TICKET_REQUEST');
    expect((await issue({ subject: 'u1', channels: ['bad channel'] })).status).toBe(400);
  });

  it('never writes a ticket into the logs', async () => {
    const tickets: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const { body } = await issue({ subject: 'u', channels: ['a'], ttl: 0.01 });
      if (body.ticket !== undefined) tickets.push(body.ticket);
    }
    expect(tickets).toHaveLength(2);
    await sleep(50);
    for (const ticket of tickets) {
      const client = await openStream(`${gw.url}/events/a?ticket=${ticket}`);
      opened.push(client);
      expect(client.status).toBe(401);
    }
    const logs = gw.logs.join('\n');
    expect(logs).toContain('ticket=%5Bredacted%5D');
    for (const ticket of tickets) expect(logs).not.toContain(ticket);
  });

  it('holds a bounded number of outstanding tickets: beyond it, 503 SSEG_TICKETS_FULL', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await issue({ subject: `u${i}`, channels: ['a'] }));
    expect(answers.some((answer) => answer.status === 503 && answer.body.error === 'SSEG_TICKETS_FULL')).toBe(true);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/sseg_auth_tickets_total\{result="full"\} [1-9]/);
    expect(text).toMatch(/sseg_auth_tickets_total\{result="redeemed"\} [1-9]/);
  });
});
