import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const opened: StreamClient[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

async function issue(gw: TestGateway, body: unknown): Promise<{ status: number; body: { ticket?: string; error?: string } }> {
  const response = await fetch(`${gw.url}/tickets`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { ticket?: string } };
}

async function redeem(gw: TestGateway, ticket: string): Promise<number> {
  const client = await openStream(`${gw.url}/events/room/1?ticket=${ticket}`);
  opened.push(client);
  return client.status;
}

describe('tickets shared through Redis by several instances', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    const config = { history: { backend: 'redis' }, redis: { url: redis.url }, auth: { ticket: { enabled: true, maxOutstanding: 5 } } };
    a = await startGateway(config);
    b = await startGateway(config);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a ticket issued by one instance is redeemed once on another, and refused everywhere after', async () => {
    const { status, body } = await issue(a, { subject: 'u1', channels: ['room/*'] });
    expect(status).toBe(200);
    const ticket = body.ticket ?? '';
    expect(await redeem(b, ticket)).toBe(200);
    expect(await redeem(a, ticket)).toBe(401);
    expect(await redeem(b, ticket)).toBe(401);
  });

  it('redeems a ticket once when two instances race for it', async () => {
    const { body } = await issue(a, { subject: 'u1', channels: ['room/*'] });
    const ticket = body.ticket ?? '';
    const statuses = await Promise.all([redeem(a, ticket), redeem(b, ticket), redeem(a, ticket), redeem(b, ticket)]);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 401)).toHaveLength(3);
  });

  it('keeps the stored ticket hashed: the raw ticket is no key in Redis', async () => {
    const { body } = await issue(a, { subject: 'u1', channels: ['room/*'] });
    const keys = await redis.cli('--scan', '--pattern', '*');
    expect(keys).toContain('{tickets}');
    expect(keys).not.toContain(body.ticket ?? 'missing');
  });

  it('answers 503, never a second use, while Redis is away', async () => {
    const { body } = await issue(a, { subject: 'u1', channels: ['room/*'] });
    await redis.kill();
    try {
      const client = await openStream(`${b.url}/events/room/1?ticket=${body.ticket ?? ''}`);
      opened.push(client);
      expect(client.status).toBe(503);
      expect((JSON.parse(client.raw()) as { error: string }).error).toBe('SSEG_AUTH_UNAVAILABLE');
      expect((await issue(a, { subject: 'u1', channels: ['x'] })).status).toBe(503);
    } finally {
      await redis.restart();
    }
  });

  it('bounds outstanding tickets across instances', async () => {
    // After the restart above, the gateways reconnect on their own.
    await vi.waitFor(async () => expect((await issue(a, { subject: 'first', channels: ['x'] })).status).toBe(200), { timeout: 10_000, interval: 200 });
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await issue(i % 2 === 0 ? a : b, { subject: `u${i}`, channels: ['x'] }));
    expect(answers.filter((answer) => answer.status === 503 && answer.body.error === 'SSEG_TICKETS_FULL').length).toBeGreaterThanOrEqual(1);
  });
});
