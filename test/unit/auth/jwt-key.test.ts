import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readPublicKey } from '../../../src/auth/jwt-key.ts';

const pem = (pair: { publicKey: { export(options: { type: 'spki'; format: 'pem' }): string | Buffer } }): string =>
  String(pair.publicKey.export({ type: 'spki', format: 'pem' }));

describe('readPublicKey: the algorithms follow from the key alone', () => {
  it.each([
    ['P-256', 'ES256'],
    ['P-384', 'ES384'],
    ['P-521', 'ES512'],
  ])('maps EC %s to %s only', (namedCurve, algorithm) => {
    expect(readPublicKey(pem(generateKeyPairSync('ec', { namedCurve })))).toMatchObject({ algorithms: [algorithm] });
  });

  it('maps RSA of 2048 bits to RS256 and Ed25519 to EdDSA', () => {
    expect(readPublicKey(pem(generateKeyPairSync('rsa', { modulusLength: 2048 })))).toMatchObject({ algorithms: ['RS256'] });
    expect(readPublicKey(pem(generateKeyPairSync('ed25519')))).toMatchObject({ algorithms: ['EdDSA', 'Ed25519'] });
  });

  it('refuses keys that could verify no token: an EC curve with no JWS algorithm, short RSA, other types, no PEM', () => {
    expect(readPublicKey(pem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' })))).toEqual({ problem: expect.stringContaining('secp256k1') as unknown });
    expect(readPublicKey(pem(generateKeyPairSync('rsa', { modulusLength: 1024 })))).toEqual({ problem: expect.stringContaining('1024 bits') as unknown });
    expect(readPublicKey(pem(generateKeyPairSync('ed448')))).toEqual({ problem: expect.stringContaining('ed448') as unknown });
    expect(readPublicKey('not a key')).toEqual({ problem: 'is not a PEM public key' });
  });
});
