import type { KeyObject } from 'node:crypto';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { GatewayError } from '../errors.ts';
import { bearerToken, cookieValue, type AuthRequest, type Authenticator, type Principal } from './authenticator.ts';
import { ChannelGrants } from './channels.ts';
import { readPublicKey } from './jwt-key.ts';

export interface JwtOptions {
  readonly secret: string;
  readonly publicKey: string;
  readonly jwksUrl: string;
  readonly jwksCooldown: number;
  readonly cookie: string;
  readonly queryParam: string;
  readonly channelsClaim: string;
  readonly audience: string;
  readonly issuer: string;
  readonly clockTolerance: number;
  /** How long one JWKS fetch may take. */
  readonly fetchTimeout: number;
}

/** Three base64url parts: anything else in a Bearer header is not ours (an opaque token for forward auth). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Verification failures: the credential is bad (401). Anything else means the key source failed (503/504). */
const CREDENTIAL_ERRORS = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
]);

/**
 * JWTs verified locally with jose: from `Authorization: Bearer` first (an explicit credential
 * beats an ambient one), then the opt-in query parameter, then the named cookie. The algorithm
 * list is fixed by the configured key, never taken from the token, so `alg: none` and
 * HMAC-with-a-public-key confusion are refused before any signature is checked.
 */
export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt';
  private readonly options: JwtOptions;
  private readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];
  /** jose counts exp, nbf and the tolerance in whole seconds; so do we, to agree with it to the second. */
  private readonly toleranceSeconds: number;
  private readonly agent: Agent | undefined;

  constructor(options: JwtOptions) {
    this.options = options;
    this.toleranceSeconds = Math.round(options.clockTolerance / 1000);
    if (options.secret !== '') {
      this.key = new TextEncoder().encode(options.secret);
      this.algorithms = ['HS256', 'HS384', 'HS512'];
    } else if (options.publicKey !== '') {
      // The config schema has refused an unusable key already; this only guards a direct construction.
      const reading = readPublicKey(options.publicKey);
      if ('problem' in reading) throw new Error(`auth.jwt.publicKey: ${reading.problem}`);
      this.key = reading.key;
      this.algorithms = reading.algorithms;
    } else {
      // Our own undici Agent, so close() ends its sockets with the gateway.
      const agent = new Agent({ connectTimeout: options.fetchTimeout });
      this.agent = agent;
      this.key = createRemoteJWKSet(new URL(options.jwksUrl), {
        cooldownDuration: options.jwksCooldown,
        timeoutDuration: options.fetchTimeout,
        // undici's own fetch over our Agent; its Response is the same WHATWG shape jose reads (status, json()).
        [customFetch]: (url, init) =>
          undiciFetch(url, {
            method: init.method,
            redirect: init.redirect,
            signal: init.signal,
            headers: Object.fromEntries(init.headers),
            dispatcher: agent,
          }).catch((error: unknown) => {
            // jose turns a TimeoutError into ERR_JWKS_TIMEOUT itself. Any other failure is named here, at
            // its source: undici's is a bare TypeError("fetch failed"), which classify() could not tell
            // from jose's key-check TypeErrors except by its message.
            if (error instanceof Error && error.name === 'TimeoutError') throw error;
            throw keySourceUnavailable();
          }),
      });
      // Every curve a static key may have: a key set holding P-384 or P-521 keys would otherwise
      // refuse all their tokens. Allowing more algorithms lets no key verify a foreign one: jose
      // picks a set's key by kid, kty and crv, and each curve has exactly one ES algorithm.
      this.algorithms = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
    }
  }

  async authenticate(request: AuthRequest): Promise<Principal | undefined> {
    const token = this.find(request);
    if (token === undefined) return undefined;
    let payload: JWTPayload;
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        clockTolerance: this.toleranceSeconds,
        ...(this.options.audience === '' ? {} : { audience: this.options.audience }),
        ...(this.options.issuer === '' ? {} : { issuer: this.options.issuer }),
      };
      // Two calls rather than one over a union: jose types the key and the key-getter apart.
      payload =
        typeof this.key === 'function' ? (await jwtVerify(token, this.key, verifyOptions)).payload : (await jwtVerify(token, this.key, verifyOptions)).payload;
    } catch (error) {
      throw classify(error);
    }
    return {
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      grants: new ChannelGrants(claimList(payload[this.options.channelsClaim])),
      // jose accepts a token until exp + clockTolerance (our clock may run ahead of the issuer's), so
      // that is when it stops being good here too, and when its stream ends. Ending it at once instead
      // would open a stream only to close it: the browser would reconnect with the same cookie, in a loop.
      expiresAt: typeof payload.exp === 'number' ? (payload.exp + this.toleranceSeconds) * 1000 : undefined,
    };
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  private find(request: AuthRequest): string | undefined {
    const bearer = bearerToken(request.headers);
    if (bearer !== undefined && COMPACT_JWS.test(bearer)) return bearer;
    if (this.options.queryParam !== '') {
      const fromQuery = request.url.searchParams.get(this.options.queryParam);
      if (fromQuery !== null && fromQuery !== '') return fromQuery;
    }
    if (this.options.cookie !== '') return cookieValue(request.headers, this.options.cookie);
    return undefined;
  }
}

/** Claim value as a list of patterns: an array of strings, or one space-separated string (as OAuth scopes are). */
function claimList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

/** Messages are ours: jose's (which may quote claims) never reach the client. */
function classify(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = error instanceof errors.JOSEError ? error.code : undefined;
  if (code === 'ERR_JWKS_TIMEOUT') return new GatewayError('SSEG_AUTH_TIMEOUT', 'the key set that verifies tokens did not arrive in time; retry');
  if (code === 'ERR_JWT_EXPIRED') return unauthorized('the token has expired', 'invalid_token');
  if (code !== undefined && CREDENTIAL_ERRORS.has(code)) return unauthorized('the token is not valid', 'invalid_token');
  // jose's key checks throw a plain TypeError, with no code, when the key a token selects cannot verify
  // its algorithm (an RSA key under 2048 bits in the JWKS): the token is what cannot be verified.
  // Network failures are TypeErrors too, but the JWKS fetch has named them already (above).
  if (error instanceof TypeError) return unauthorized('the token is not valid', 'invalid_token');
  return keySourceUnavailable();
}

function keySourceUnavailable(): GatewayError {
  return new GatewayError('SSEG_AUTH_UNAVAILABLE', 'the key set that verifies tokens cannot be fetched; retry later', { 'Retry-After': '5' });
}

export function unauthorized(message: string, error?: 'invalid_token'): GatewayError {
  return new GatewayError('SSEG_UNAUTHORIZED', message, { 'WWW-Authenticate': error === undefined ? 'Bearer' : `Bearer error="${error}"` });
}
