import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { GatewayError } from '../errors.ts';
import { bearerToken, cookieValue, type AuthRequest, type Authenticator, type Principal } from './authenticator.ts';
import { ChannelGrants } from './channels.ts';

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
  private readonly agent: Agent | undefined;

  constructor(options: JwtOptions) {
    this.options = options;
    if (options.secret !== '') {
      this.key = new TextEncoder().encode(options.secret);
      this.algorithms = ['HS256', 'HS384', 'HS512'];
    } else if (options.publicKey !== '') {
      const key = createPublicKey(options.publicKey);
      this.key = key;
      this.algorithms = algorithmsFor(key);
    } else {
      // Our own undici Agent, so close() ends its sockets with the gateway.
      const agent = new Agent({ connectTimeout: options.fetchTimeout });
      this.agent = agent;
      this.key = createRemoteJWKSet(new URL(options.jwksUrl), {
        cooldownDuration: options.jwksCooldown,
        timeoutDuration: options.fetchTimeout,
        // undici's own fetch over our Agent; its Response is the same WHATWG shape jose reads (status, json()).
        [customFetch]: (url, init) =>
          undiciFetch(url, { method: init.method, redirect: init.redirect, signal: init.signal, headers: Object.fromEntries(init.headers), dispatcher: agent }),
      });
      this.algorithms = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];
    }
  }

  async authenticate(request: AuthRequest): Promise<Principal | undefined> {
    const token = this.find(request);
    if (token === undefined) return undefined;
    let payload: JWTPayload;
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        clockTolerance: Math.round(this.options.clockTolerance / 1000),
        ...(this.options.audience === '' ? {} : { audience: this.options.audience }),
        ...(this.options.issuer === '' ? {} : { issuer: this.options.issuer }),
      };
      // Two calls rather than one over a union: jose types the key and the key-getter apart.
      payload =
        typeof this.key === 'function'
          ? (await jwtVerify(token, this.key, verifyOptions)).payload
          : (await jwtVerify(token, this.key, verifyOptions)).payload;
    } catch (error) {
      throw classify(error);
    }
    return {
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      grants: new ChannelGrants(claimList(payload[this.options.channelsClaim])),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
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

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256'];
    case 'ec':
      return ['ES256'];
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      throw new Error(`auth.jwt.publicKey: unsupported key type ${String(key.asymmetricKeyType)}; use RSA, EC P-256 or Ed25519`);
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
  const code = error instanceof errors.JOSEError ? error.code : undefined;
  if (code === 'ERR_JWKS_TIMEOUT') return new GatewayError('SSEG_AUTH_TIMEOUT', 'the key set that verifies tokens did not arrive in time; retry');
  if (code === 'ERR_JWT_EXPIRED') return unauthorized('the token has expired', 'invalid_token');
  if (code !== undefined && CREDENTIAL_ERRORS.has(code)) return unauthorized('the token is not valid', 'invalid_token');
  // jose throws TypeError for a key that does not fit the algorithm (wrong key type): a bad credential too.
  if (error instanceof TypeError && /key/i.test(error.message) && !/fetch/i.test(error.message)) return unauthorized('the token is not valid', 'invalid_token');
  return new GatewayError('SSEG_AUTH_UNAVAILABLE', 'the key set that verifies tokens cannot be fetched; retry later', { 'Retry-After': '5' });
}

export function unauthorized(message: string, error?: 'invalid_token'): GatewayError {
  return new GatewayError('SSEG_UNAUTHORIZED', message, { 'WWW-Authenticate': error === undefined ? 'Bearer' : `Bearer error="${error}"` });
}
