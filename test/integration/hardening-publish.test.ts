import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DATA_DEPTH } from '../../src/ingress/webhook.ts';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

/**
 * The publish pipeline, each test named after the threat it blocks. Every refusal is a clear
 * 4xx with a JSON code, never a 500 with a stack, and never an event published twice.
 */

const HMAC_SECRET = 'hardening-signing-secret-0123456789abcdef';
const opened: StreamClient[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

function signed(body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const hex = createHmac('sha256', HMAC_SECRET).update(`${timestamp}.${body}`).digest('hex');
  return { 'Content-Type': 'application/json', 'X-SSEG-Timestamp': String(timestamp), 'X-SSEG-Signature': `sha256=${hex}` };
}

async function post(
  origin: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { error?: string; message?: string; id?: string } }> {
  const response = await fetch(`${origin}/publish`, { method: 'POST', headers, body });
  const text = await response.text();
  expect(text).not.toMatch(/\bat \S+ \(|node_modules|\/work\/|\.ts:\d+|RangeError/);
  return { status: response.status, body: JSON.parse(text) as { error?: string; id?: string } };
}

describe('hardening: publishing', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ publish: { hmacSecrets: [HMAC_SECRET] } });
  });
  afterAll(() => gw.close());

  it('data nested 400,000 levels deep is a 400 with a code, not a 500 with a stack in the log', async () => {
    const body = `{"channel":"orders","data":${'['.repeat(400_000)}${']'.repeat(400_000)}}`;
    const answer = await post(gw.url, body, { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('SSEG_BAD_EVENT');
    expect(answer.body.message).toContain(`deeper than ${MAX_DATA_DEPTH} levels`);
    expect(gw.logs.join('')).not.toContain('RangeError');
  });

  it('data nested as deep as the bound still publishes', async () => {
    const body = `{"channel":"orders","data":${'['.repeat(MAX_DATA_DEPTH)}${']'.repeat(MAX_DATA_DEPTH)}}`;
    const answer = await post(gw.url, body, { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' });
    expect(answer.status).toBe(200);
  });

  it('a publisher writing the scheme as `bearer` (case-insensitive, RFC 9110) is not refused', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const answer = await post(gw.url, JSON.stringify({ channel: 'orders', data: scheme }), {
        'Authorization': `${scheme} ${TEST_TOKEN}`,
        'Content-Type': 'application/json',
      });
      expect(answer.status).toBe(200);
    }
  });

  it('a signed publish captured and replayed within hmacTolerance is refused, and published once', async () => {
    const client = await openStream(`${gw.url}/events/replayed`);
    opened.push(client);
    const body = JSON.stringify({ channel: 'replayed', data: 'once' });
    const headers = signed(body);
    expect((await post(gw.url, body, headers)).status).toBe(200);
    const replay = await post(gw.url, body, headers);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe('SSEG_SIGNATURE_REUSED');
    // A marker published after the replay: once it arrives, anything the replay appended would have too.
    await gw.publish('replayed', 'marker');
    const events = await client.waitForEvents(2);
    expect(events.map((event) => event.data)).toEqual(['once', 'marker']);
  });

  it('a signed request for a ticket cannot be replayed for a second ticket either', async () => {
    const ticketing = await startGateway({ publish: { hmacSecrets: [HMAC_SECRET] }, auth: { ticket: { enabled: true } } });
    try {
      const body = JSON.stringify({ subject: 'alice', channels: ['orders'] });
      const headers = signed(body);
      const first = await fetch(`${ticketing.url}/tickets`, { method: 'POST', headers, body });
      expect(first.status).toBe(200);
      const second = await fetch(`${ticketing.url}/tickets`, { method: 'POST', headers, body });
      expect(second.status).toBe(401);
      expect(((await second.json()) as { error: string }).error).toBe('SSEG_SIGNATURE_REUSED');
    } finally {
      await ticketing.close();
    }
  });
});

describe('hardening: publishing on a shared log', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    const shared = { history: { backend: 'redis' }, redis: { url: redis.url }, publish: { hmacSecrets: [HMAC_SECRET] }, log: { level: 'silent' } };
    a = await startGateway(shared);
    b = await startGateway(shared);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  it('a signed publish replayed on another instance is refused: the signatures seen are shared through Redis', async () => {
    const body = JSON.stringify({ channel: 'orders', data: 'once' });
    const headers = signed(body);
    expect((await post(a.url, body, headers)).status).toBe(200);
    const replay = await post(b.url, body, headers);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe('SSEG_SIGNATURE_REUSED');
  });
});
