import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const APP = 'http://app.localhost:3000';
const FOREIGN = 'https://evil.example';

const opened: StreamClient[] = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

describe('CORS for credentialed EventSource', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { cors: { origins: [APP] } } });
  });
  afterAll(() => gw.close());

  const preflight = (path: string, origin: string, method = 'GET') =>
    fetch(`${gw.url}${path}`, {
      method: 'OPTIONS',
      headers: { 'Origin': origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'last-event-id' },
    });

  it('answers a preflight from an allowed origin with that origin and credentials, never a wildcard', async () => {
    const response = await preflight('/events/a', APP);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toBe('GET');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/Last-Event-ID/i);
    expect(response.headers.get('vary')).toMatch(/Origin/);
  });

  it('answers a preflight on the publish path with POST', async () => {
    const response = await preflight('/publish', APP, 'POST');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-methods')).toBe('POST');
  });

  it('refuses a preflight from a foreign origin with 403 and no CORS grant', async () => {
    const response = await preflight('/events/a', FOREIGN);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toBe('SSEG_ORIGIN_NOT_ALLOWED');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('opens a credentialed stream from an allowed origin with Allow-Origin, Allow-Credentials and Vary', async () => {
    const client = await openStream(`${gw.url}/events/a`, { Origin: APP, Cookie: 'session=x' });
    opened.push(client);
    expect(client.status).toBe(200);
    expect(client.headers['access-control-allow-origin']).toBe(APP);
    expect(client.headers['access-control-allow-credentials']).toBe('true');
    expect(client.headers['vary']).toMatch(/Origin/);
    expect(client.headers['content-type']).toMatch(/text\/event-stream/);
  });

  it('refuses a stream from a foreign origin with 403 and no stream', async () => {
    const client = await openStream(`${gw.url}/events/a`, { Origin: FOREIGN, Cookie: 'session=x' });
    opened.push(client);
    expect(client.status).toBe(403);
    expect(client.headers['access-control-allow-origin']).toBeUndefined();
    expect(client.headers['vary']).toMatch(/Origin/);
  });

  it('serves same-origin and origin-less requests as before', async () => {
    const client = await openStream(`${gw.url}/events/a`);
    opened.push(client);
    expect(client.status).toBe(200);
    expect(client.headers['access-control-allow-origin']).toBeUndefined();
    const publish = await fetch(`${gw.url}/publish`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json', 'Origin': gw.url },
      body: JSON.stringify({ channel: 'a', data: 'x' }),
    });
    expect(publish.status).toBe(200);
  });

  it('refuses a config with a wildcard origin', async () => {
    await expect(startGateway({ auth: { cors: { origins: ['*'] } } })).rejects.toThrow(/origin/);
  });
});
