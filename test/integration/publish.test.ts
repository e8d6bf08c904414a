import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { testScope } from '../support/scope.ts';
import { TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { openStream } from '../support/sse-client.ts';

const scope = testScope();

const gateway = scope.gateway;

/** Everything the log holds on `channel`, read back through a resuming stream from the very start. */
async function logged(gw: TestGateway, channel: string, expected: number): Promise<string[]> {
  const epoch = (await gw.publish('probe', 'x')).split('-')[0] ?? '';
  const client = await openStream(`${gw.url}/events/${channel}`, { 'Last-Event-ID': `${epoch}-0` });
  scope.defer(() => client.close());
  if (expected > 0) await client.waitForEvents(expected);
  // Publish a marker and wait for it, so "nothing more" is proven rather than assumed.
  await gw.publish(channel, 'marker');
  await client.waitFor((c) => c.events.some((e) => e.data === 'marker'));
  return client.events.filter((e) => e.data !== 'marker').map((e) => e.data);
}

describe('POST /publish', () => {
  it('publishes one event and answers with its id', async () => {
    const gw = await gateway();
    const { status, body, headers } = await gw.publishRaw(JSON.stringify({ channel: 'news', event: 'update', data: 'hello' }));
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(body.id).toMatch(/^[a-z0-9]+-1$/);
  });

  it('publishes a batch atomically with strictly increasing ids', async () => {
    const gw = await gateway();
    const { status, body } = await gw.publishRaw(
      JSON.stringify({
        events: [
          { channel: 'a', data: '1' },
          { channel: 'b', data: { two: 2 } },
          { channel: 'a', event: 'x', data: '3' },
        ],
      }),
    );
    expect(status).toBe(200);
    const seqs = (body.ids ?? []).map((id) => Number(id.split('-')[1]));
    expect(seqs).toEqual([1, 2, 3]);
    expect(await logged(gw, 'a', 2)).toEqual(['1', '3']);
  });

  it('serializes non-string data once as JSON, and keeps strings as they are', async () => {
    const gw = await gateway();
    const client = await openStream(`${gw.url}/events/j`);
    scope.defer(() => client.close());
    for (const data of [{ a: [1, 'two'] }, 42, null, true, '"quoted"', '']) await gw.publish('j', data);
    await client.waitForEvents(6);
    // The empty string is one empty `data:` line: the data buffer is then "\n", not empty, so a
    // parser following the spec (as browsers do) dispatches an event whose data is ''.
    expect(client.events.map((e) => e.data)).toEqual(['{"a":[1,"two"]}', '42', 'null', 'true', '"quoted"', '']);
  });

  it('refuses a missing token and a wrong one with 401 and WWW-Authenticate', async () => {
    const gw = await gateway();
    const body = JSON.stringify({ channel: 'a', data: 'x' });
    const missing = await gw.publishRaw(body, { Authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.body.error).toBe('SSEG_UNAUTHORIZED');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await gw.publishRaw(body, { Authorization: `Bearer ${TEST_TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/invalid_token/);
    const basic = await gw.publishRaw(body, { Authorization: `Basic ${Buffer.from(`u:${TEST_TOKEN}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(await logged(gw, 'a', 0)).toEqual([]);
  });

  it('answers GET with 405 and Allow: POST', async () => {
    const gw = await gateway();
    const response = await fetch(`${gw.url}/publish`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it.each([
    ['malformed JSON', '{"channel": "a", "data": ', 'SSEG_BAD_JSON', /not valid JSON/],
    ['a JSON array', '[1,2]', 'SSEG_BAD_EVENT', /must be an event/],
    ['a missing channel', '{"data":"x"}', 'SSEG_BAD_EVENT', /^body\.channel is missing$/],
    ['a channel that is not a string', '{"channel":7,"data":"x"}', 'SSEG_BAD_CHANNEL', /body\.channel number is not a valid channel name/],
    ['a bad channel', '{"channel":"a b","data":"x"}', 'SSEG_BAD_CHANNEL', /body\.channel "a b" is not a valid channel name/],
    ['missing data', '{"channel":"a"}', 'SSEG_BAD_EVENT', /body\.data is missing/],
    ['an unknown field', '{"channel":"a","data":"x","id":"5"}', 'SSEG_BAD_EVENT', /unknown field "id"/],
    ['an event name with a newline (field injection)', '{"channel":"a","event":"x\\nid: 9","data":"x"}', 'SSEG_BAD_EVENT_NAME', /control/],
    ['an event name with a zero-width space', '{"channel":"a","event":"x\\u200b","data":"x"}', 'SSEG_BAD_EVENT_NAME', /invisible/],
    ['an event name that is not a string', '{"channel":"a","event":5,"data":"x"}', 'SSEG_BAD_EVENT_NAME', /must be a string/],
    ['a forged gap event', '{"channel":"a","event":"gap","data":"x"}', 'SSEG_BAD_EVENT_NAME', /reserved/],
    ['data with a lone surrogate', '{"channel":"a","data":"\\ud800"}', 'SSEG_BAD_ENCODING', /lone surrogate/],
    ['an empty batch', '{"events":[]}', 'SSEG_BAD_EVENT', /non-empty array/],
    ['a batch with extra fields', '{"events":[{"channel":"a","data":"x"}],"channel":"b"}', 'SSEG_BAD_EVENT', /only "events"/],
  ])('refuses %s with a 400 naming the problem', async (_case, body, code, message) => {
    const gw = await gateway();
    const answer = await gw.publishRaw(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe(code);
    expect(answer.body.message).toMatch(message);
    expect(Object.keys(answer.body).sort()).toEqual(['error', 'message']);
  });

  it('refuses invalid UTF-8 instead of replacing it', async () => {
    const gw = await gateway();
    const body = Buffer.concat([Buffer.from('{"channel":"a","data":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const answer = await gw.publishRaw(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('SSEG_BAD_ENCODING');
  });

  it('publishes nothing from a batch with one bad event', async () => {
    const gw = await gateway();
    const answer = await gw.publishRaw(
      JSON.stringify({
        events: [
          { channel: 'a', data: 'good' },
          { channel: 'a', data: 'good too' },
          { channel: 'a', event: 'bad\r', data: 'x' },
        ],
      }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/^events\[2\]\.event/);
    expect(await logged(gw, 'a', 0)).toEqual([]);
  });

  it('refuses a batch longer than publish.maxBatchEvents', async () => {
    const gw = await gateway({ publish: { maxBatchEvents: 3 } });
    const answer = await gw.publishRaw(JSON.stringify({ events: Array.from({ length: 4 }, () => ({ channel: 'a', data: 'x' })) }));
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/at most 3 events/);
  });

  it('refuses an oversize body with 413, by Content-Length or while streaming it', async () => {
    const gw = await gateway({ publish: { maxBodyBytes: '1kb' } });
    const big = JSON.stringify({ channel: 'a', data: 'x'.repeat(2000) });
    const declared = await gw.publishRaw(big);
    expect(declared.status).toBe(413);
    expect(declared.body).toEqual({ error: 'SSEG_PAYLOAD_TOO_LARGE', message: 'request body is larger than 1024 bytes' });

    // Chunked: no Content-Length, so the limit must hold while reading.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${gw.url}/publish`,
        { method: 'POST', headers: { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Transfer-Encoding': 'chunked' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 4; i += 1) req.write(big.slice(i * 600, (i + 1) * 600));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: 'SSEG_PAYLOAD_TOO_LARGE' });
    expect(await logged(gw, 'a', 0)).toEqual([]);
  });

  it('accepts any of several configured tokens', async () => {
    const other = 'another-publish-token-abcdef';
    const gw = await gateway({ publish: { tokens: [TEST_TOKEN, other] } });
    const answer = await gw.publishRaw(JSON.stringify({ channel: 'a', data: 'x' }), { Authorization: `Bearer ${other}` });
    expect(answer.status).toBe(200);
  });
});
