import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PublisherAuth } from '../../../src/auth/publisher.ts';
import { MemorySignatureReplayGuard } from '../../../src/auth/signature-replay.ts';
import { GatewayError } from '../../../src/errors.ts';

const SECRET = 'publisher-unit-secret-0123456789abcdef';
const TOKEN = 'publisher-unit-token-0123456789';

/** A request as far as publisher auth reads one: its headers and its body bytes. */
function request(headers: Record<string, string>, body: string): IncomingMessage {
  return Object.assign(Readable.from([Buffer.from(body)]), { headers }) as unknown as IncomingMessage;
}

function signedHeaders(body: string): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const hex = createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex');
  return { 'x-sseg-timestamp': timestamp, 'x-sseg-signature': `sha256=${hex}` };
}

async function refusal(pending: Promise<unknown>): Promise<string> {
  const error = await pending.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return (error as GatewayError).code;
}

describe('PublisherAuth', () => {
  const auth = new PublisherAuth({ tokens: [TOKEN], hmacSecrets: [SECRET], hmacTolerance: 300_000 }, new MemorySignatureReplayGuard({ toleranceMs: 300_000 }));

  it('takes the bearer scheme in any case, as the stream side does', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BeArEr']) {
      const { body, signature } = await auth.readAuthorized(request({ authorization: `${scheme} ${TOKEN}` }, '{}'), 1024);
      expect(body.toString()).toBe('{}');
      expect(signature).toBeUndefined();
    }
    expect(await refusal(auth.readAuthorized(request({ authorization: `Basic ${TOKEN}` }, '{}'), 1024))).toBe('SSEG_UNAUTHORIZED');
  });

  it('refuses a signature used before, and takes it again once released after a refusal that stored nothing', async () => {
    const body = '{"channel":"a","data":1}';
    const headers = signedHeaders(body);
    const first = await auth.readAuthorized(request(headers, body), 1024);
    expect(await refusal(auth.readAuthorized(request(headers, body), 1024))).toBe('SSEG_SIGNATURE_REUSED');
    await auth.release(first);
    const retried = await auth.readAuthorized(request(headers, body), 1024);
    expect(retried.signature).toBe(first.signature);
  });
});
