import { createPublicKey, type KeyObject } from 'node:crypto';

/** Node's (OpenSSL's) curve names, as KeyObject reports them, to the one algorithm RFC 7518 pairs with each. */
const EC_ALGORITHMS: Readonly<Record<string, string>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

export type PublicKeyReading = { readonly key: KeyObject; readonly algorithms: string[] } | { readonly problem: string };

/**
 * The algorithms a configured PEM key verifies, decided by the key alone (never by a token's
 * header). Each EC curve has exactly one JWS algorithm, so a P-384 key mapped to ES256 would
 * start fine and then refuse every token; a key jose would refuse at verification (an RSA
 * modulus under 2048 bits, a curve JWS has no algorithm for) is refused here, at start-up, by
 * the config schema. Apart from the JWT authenticator so the schema can use it without jose.
 */
export function readPublicKey(pem: string): PublicKeyReading {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return { problem: 'is not a PEM public key' };
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (details.modulusLength ?? 0) >= 2048
        ? { key, algorithms: ['RS256'] }
        : { problem: `an RSA key of ${String(details.modulusLength)} bits is too short; RS256 needs 2048 or more` };
    case 'ec': {
      const algorithm = details.namedCurve === undefined ? undefined : EC_ALGORITHMS[details.namedCurve];
      return algorithm === undefined
        ? { problem: `the EC curve ${String(details.namedCurve)} has no JWS algorithm; use P-256, P-384 or P-521` }
        : { key, algorithms: [algorithm] };
    }
    case 'ed25519':
      return { key, algorithms: ['EdDSA', 'Ed25519'] };
    default:
      return { problem: `unsupported key type ${String(key.asymmetricKeyType)}; use RSA, EC (P-256, P-384, P-521) or Ed25519` };
  }
}
