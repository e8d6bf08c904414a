import { describe, expect, it } from 'vitest';
import { HmacVerifier, sign } from '../../../src/auth/hmac.ts';

const SECRET = 'x'.repeat(32);
const NOW = 1_700_000_000_000;
const body = Buffer.from('{"channel":"a","data":1}');

function headers(timestamp: number, secret = SECRET, payload: Buffer = body) {
  const ts = String(timestamp);
  return { 'x-sseg-timestamp': ts, 'x-sseg-signature': `sha256=${sign(secret, ts, payload).toString('hex')}` };
}

describe('HmacVerifier', () => {
  const verifier = new HmacVerifier(['y'.repeat(32), SECRET], 300_000, () => NOW);

  it('accepts a fresh signature by any configured secret', () => {
    expect(() => verifier.verify(headers(NOW / 1000), body)).not.toThrow();
  });

  it('refuses another secret, another body, and a bad header', () => {
    expect(() => verifier.verify(headers(NOW / 1000, 'z'.repeat(32)), body)).toThrow(expect.objectContaining({ code: 'SSEG_UNAUTHORIZED' }));
    expect(() => verifier.verify(headers(NOW / 1000), Buffer.from('{}'))).toThrow(expect.objectContaining({ code: 'SSEG_UNAUTHORIZED' }));
    expect(() => verifier.verify({ ...headers(NOW / 1000), 'x-sseg-signature': 'sha256=zz' }, body)).toThrow(
      expect.objectContaining({ code: 'SSEG_UNAUTHORIZED' }),
    );
  });

  it('refuses a timestamp outside the tolerance, in the past or the future', () => {
    expect(() => verifier.verify(headers(NOW / 1000 - 301), body)).toThrow(expect.objectContaining({ code: 'SSEG_SIGNATURE_EXPIRED' }));
    expect(() => verifier.verify(headers(NOW / 1000 + 301), body)).toThrow(expect.objectContaining({ code: 'SSEG_SIGNATURE_EXPIRED' }));
    expect(() => verifier.verify(headers(NOW / 1000 - 299), body)).not.toThrow();
  });

  it('refuses a timestamp that is not unix seconds', () => {
    expect(() => verifier.checkTimestamp({ 'x-sseg-timestamp': '2024-01-01' })).toThrow(expect.objectContaining({ code: 'SSEG_UNAUTHORIZED' }));
  });

  it('applies only when a signature is sent and secrets are configured', () => {
    expect(verifier.applies({})).toBe(false);
    expect(verifier.applies({ 'x-sseg-signature': 'sha256=00' })).toBe(true);
    expect(new HmacVerifier([], 1000).applies({ 'x-sseg-signature': 'sha256=00' })).toBe(false);
  });
});
